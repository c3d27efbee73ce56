"""The compute engine: AVWAP, the indicator registry, regime, feeds (MLX).

Re-exports the shared data shapes so higher rooms import them from here.
"""

from __future__ import annotations

from storage.types import SEGMENT_KINDS, BarBatch, Panel

__all__ = ["SEGMENT_KINDS", "BarBatch", "Panel"]
