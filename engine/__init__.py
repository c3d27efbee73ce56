"""The compute engine: AVWAP, the indicator registry, regime, feeds (MLX).

Re-exports the shared data shapes so higher rooms import them from here, and
the two ways to evaluate the registry: ``compute`` (batch over a Panel, gives
``Features``) and ``IncrementalEngine`` (one compiled step per live minute,
gives a ``Snapshot``).

``engine.blas`` runs first, before anything here imports ``mlx``: it gives
MLX an optimized BLAS on Linux, which only works before MLX is loaded. The
re-exports are resolved on first use (PEP 562), so ``import engine.blas`` (what
``models`` and ``tui`` do first) costs the BLAS load alone, not the engine's
imports: a CLI command that never computes stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine import blas as _blas  # noqa: F401  (first: before any mlx import)

if TYPE_CHECKING:
    from engine.compute import Features, compute
    from engine.incremental import IncrementalEngine
    from engine.snapshot import REGIMES, Snapshot
    from storage.types import SEGMENT_KINDS, BarBatch, Panel

_HOME = {
    "Features": "engine.compute", "compute": "engine.compute",
    "IncrementalEngine": "engine.incremental",
    "REGIMES": "engine.snapshot", "Snapshot": "engine.snapshot",
    "SEGMENT_KINDS": "storage.types", "BarBatch": "storage.types", "Panel": "storage.types",
}

__all__ = [
    "REGIMES", "SEGMENT_KINDS", "BarBatch", "Features", "IncrementalEngine", "Panel",
    "Snapshot", "compute",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
