"""The compute engine: AVWAP, the indicator registry, regime, feeds (MLX).

Re-exports the shared data shapes so higher rooms import them from here, and
the two ways to evaluate the registry: ``compute`` (batch over a Panel, gives
``Features``) and ``IncrementalEngine`` (one compiled step per live minute,
gives a ``Snapshot``).
"""

from __future__ import annotations

from engine.compute import Features, compute
from engine.incremental import IncrementalEngine
from engine.snapshot import REGIMES, Snapshot
from storage.types import SEGMENT_KINDS, BarBatch, Panel

__all__ = [
    "REGIMES", "SEGMENT_KINDS", "BarBatch", "Features", "IncrementalEngine", "Panel",
    "Snapshot", "compute",
]
