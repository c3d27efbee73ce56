"""The compute engine: AVWAP, the indicator registry, regime and the backtester (MLX).

It computes over the shared data shapes (``Panel``, ``BarBatch`` from
``storage.types``, re-exported here so higher rooms import them from here) and
does no I/O: bars come in from the caller. The two ways to evaluate the
registry are ``engine.compute.compute`` (batch over a Panel, gives
``Features``) and ``IncrementalEngine`` (one compiled step per live minute,
gives a ``Snapshot``).

Why nothing heavy loads here: the indicator families import ``engine.kernels``
and ``engine.indicator_types``, which run this file first; loading
``compute`` and ``incremental`` here would load the whole engine for every
family import. ``IncrementalEngine`` loads on first use of the name; the
batch function is imported from its module (``engine.compute`` is the module:
a package attribute of the same name would be the module once it is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.snapshot import REGIMES, Snapshot
from storage.types import SEGMENT_KINDS, BarBatch, Panel

if TYPE_CHECKING:
    from engine.incremental import IncrementalEngine

__all__ = ["REGIMES", "SEGMENT_KINDS", "BarBatch", "IncrementalEngine", "Panel", "Snapshot"]

_LAZY = {"IncrementalEngine": "engine.incremental"}


def __getattr__(name: str) -> Any:
    """``IncrementalEngine`` on first use (see the module docstring)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
