"""Turn storage's NumPy Panel / BarBatch into the MLX inputs indicators consume."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from engine.registry import BatchInputs, StepInputs
from storage.types import SEGMENT_KINDS, BarBatch, Panel

DTYPE = mx.float32


def ts_minutes(ts: np.ndarray | np.datetime64) -> np.ndarray:
    """UTC minutes since 1970 as int32 (bar start)."""
    return np.asarray(ts, dtype="datetime64[m]").astype(np.int64).astype(np.int32)


def batch_inputs(panel: Panel, dtype: mx.Dtype = DTYPE) -> BatchInputs:
    """MLX arrays for a whole panel; invalid cells keep NaN prices and 0 volume."""
    vol = np.where(panel.valid, panel.volume, 0.0)
    return BatchInputs(
        open=mx.array(panel.open, dtype=dtype),
        high=mx.array(panel.high, dtype=dtype),
        low=mx.array(panel.low, dtype=dtype),
        close=mx.array(panel.close, dtype=dtype),
        volume=mx.array(vol, dtype=dtype),
        valid=mx.array(panel.valid),
        segments={k: mx.array(panel.segments[k].astype(np.int32)) for k in SEGMENT_KINDS},
        minute_of_session=mx.array(panel.minute_of_session.astype(np.int32)),
        session_minutes=mx.array(panel.session_minutes.astype(np.int32)),
        ts_minutes=mx.array(ts_minutes(panel.ts)),
    )


def step_inputs(batch: BarBatch, dtype: mx.Dtype = DTYPE) -> StepInputs:
    """MLX arrays for one minute of all symbols."""
    vol = np.where(batch.valid, batch.volume, 0.0)
    return StepInputs(
        open=mx.array(batch.open, dtype=dtype),
        high=mx.array(batch.high, dtype=dtype),
        low=mx.array(batch.low, dtype=dtype),
        close=mx.array(batch.close, dtype=dtype),
        volume=mx.array(vol, dtype=dtype),
        valid=mx.array(batch.valid),
        segments={k: mx.array([batch.segments[k]], dtype=mx.int32) for k in SEGMENT_KINDS},
        minute_of_session=mx.array([batch.minute_of_session], dtype=mx.int32),
        session_minutes=mx.array([batch.session_minutes], dtype=mx.int32),
        ts_minutes=mx.array(ts_minutes(np.array([batch.ts]))),
    )
