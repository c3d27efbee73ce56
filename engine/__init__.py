"""The compute engine: AVWAP, the indicator registry, regime and the backtester (MLX).

It computes over the shared data shapes (``Panel``, ``BarBatch`` from
``storage.types``, re-exported here so higher rooms import them from here) and
does no I/O: bars come in from the caller. The two ways to evaluate the
registry are ``engine.compute.compute`` (batch over a Panel, gives
``Features``) and ``IncrementalEngine`` (one compiled step per live minute,
gives a ``Snapshot``). The batch function is imported from its module: a
package attribute named ``compute`` would be the module once it is loaded.

``engine.blas`` runs first, before anything here imports ``mlx``: it gives
MLX an optimized BLAS on Linux, which only works before MLX is loaded. The
re-exports are resolved on first use (PEP 562), so ``import engine.blas`` (what
``models`` and ``tui`` do first) costs the BLAS load alone, not the engine's
imports: a CLI command that never computes stays quick, and a family's
``from engine import kernels`` does not load ``compute`` and ``incremental``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine import blas as _blas  # noqa: F401  (first: before any mlx import)

if TYPE_CHECKING:
    from engine.incremental import IncrementalEngine
    from engine.snapshot import REGIMES, Snapshot
    from storage.types import SEGMENT_KINDS, BarBatch, Panel

_HOME = {
    "IncrementalEngine": "engine.incremental",
    "REGIMES": "engine.snapshot", "Snapshot": "engine.snapshot",
    "SEGMENT_KINDS": "storage.types", "BarBatch": "storage.types", "Panel": "storage.types",
}

__all__ = ["REGIMES", "SEGMENT_KINDS", "BarBatch", "IncrementalEngine", "Panel", "Snapshot"]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
