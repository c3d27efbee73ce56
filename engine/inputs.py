"""Turn storage's NumPy Panel / BarBatch into the MLX inputs indicators consume.

Prices arrive twice: float32 (levels, the engine's working precision, as on
Apple GPUs) and int32 ticks of 1/10,000 (``TICKS``). Differences of absolute
float32 prices are not exact (a cent at $130 is 1,311 float32 steps of an
inexact size), so exact ties of typical price or of up/down moves would be
decided by rounding; the indicators take differences, ranges and comparisons of
prices from the ticks, in integers, and convert only the result to float32.
Ticks are rounded from the stored float64 prices, which hold decimal prices to
well under a tick, so they are the bars' own decimal prices.

Limit: int32 holds prices up to $214,748.36; a higher price is refused with a
clear error (it would wrap). Prices with more than four decimals are differenced
at a tick's resolution.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from engine.indicator_types import BatchInputs, StepInputs
from engine.kernels import TICKS
from storage.types import SEGMENT_KINDS, BarBatch, Panel

DTYPE = mx.float32
NAN = float("nan")
MAX_PRICE = float(np.iinfo(np.int32).max) / TICKS


def ts_minutes(ts: np.ndarray | np.datetime64) -> np.ndarray:
    """UTC minutes since 1970 as int32 (bar start)."""
    return np.asarray(ts, dtype="datetime64[m]").astype(np.int64).astype(np.int32)


def to_ticks(price: np.ndarray, valid: np.ndarray, symbols: tuple[str, ...] = ()) -> np.ndarray:
    """Prices as int32 ticks of 1/10,000 (0 where not ``valid`` or not finite).

    A few in-place passes over the panel (this runs for every batch): the range
    check reads two reductions, not a mask, unless something is out of range.
    """
    p = np.where(valid, price, 0.0)
    np.multiply(p, TICKS, out=p)
    np.rint(p, out=p)
    if p.size:
        hi, lo = float(p.max()), float(p.min())
        if not (np.isfinite(hi) and np.isfinite(lo)):  # NaN/inf on a valid bar: no price
            np.copyto(p, 0.0, where=~np.isfinite(p))
            hi, lo = float(p.max()), float(p.min())
        if max(hi, -lo) > np.iinfo(np.int32).max:
            too_big = np.abs(p) > np.iinfo(np.int32).max
            row = int(np.argwhere(too_big)[0][0]) if p.ndim > 1 else int(np.argmax(too_big))
            who = f" ({symbols[row]})" if row < len(symbols) else ""
            raise ValueError(f"price {p[too_big].flat[0] / TICKS:.2f}{who} is above "
                             f"${MAX_PRICE:,.2f}, the largest the engine's int32 ticks of "
                             "1/10,000 hold")
    return p.astype(np.int32)


def _ticks(obj: Panel | BarBatch) -> list[mx.array]:
    """Open, high, low, close as int32 tick arrays."""
    return [mx.array(to_ticks(np.asarray(getattr(obj, f), dtype=np.float64),
                              np.asarray(obj.valid), tuple(obj.symbols)))
            for f in ("open", "high", "low", "close")]


def batch_inputs(panel: Panel, dtype: mx.Dtype = DTYPE) -> BatchInputs:
    """MLX arrays for a whole panel; invalid cells keep NaN prices and 0 volume."""
    vol = np.where(panel.valid, panel.volume, 0.0)
    ot, ht, lt, ct = _ticks(panel)
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
        open_t=ot, high_t=ht, low_t=lt, close_t=ct,
    )


def pad_time(inp: BatchInputs, t: int) -> BatchInputs:
    """``inp`` lengthened to ``t`` minutes by minutes without a bar (NaN prices, 0 volume,
    0 ticks, not valid) that repeat the last minute's calendar fields.

    Why: ``engine.compute`` pads every batch to a few lengths (``padded_length``) so
    the compiled batch kernels see few shapes. The padded minutes come after every
    real one and the batch is causal, so the first minutes' values are unchanged
    (``tests/engine/test_compute_padding.py`` holds it bit for bit); repeating the
    calendar (no new segment, no minute of session past the close) keeps them
    minutes the kernels already know how to skip.
    """
    s, n = inp.valid.shape
    if t <= n or n == 0:
        return inp

    def more(x: mx.array, fill: float | bool) -> mx.array:
        return mx.concatenate([x, mx.full((s, t - n), fill, dtype=x.dtype)], axis=1)

    def repeat(x: mx.array) -> mx.array:
        return mx.concatenate([x, mx.repeat(x[-1:], t - n)])

    return BatchInputs(
        open=more(inp.open, NAN), high=more(inp.high, NAN), low=more(inp.low, NAN),
        close=more(inp.close, NAN), volume=more(inp.volume, 0.0), valid=more(inp.valid, False),
        segments={k: repeat(v) for k, v in inp.segments.items()},
        minute_of_session=repeat(inp.minute_of_session),
        session_minutes=repeat(inp.session_minutes), ts_minutes=repeat(inp.ts_minutes),
        open_t=more(inp.open_t, 0), high_t=more(inp.high_t, 0), low_t=more(inp.low_t, 0),
        close_t=more(inp.close_t, 0),
    )


def step_inputs(batch: BarBatch, dtype: mx.Dtype = DTYPE) -> StepInputs:
    """MLX arrays for one minute of all symbols."""
    vol = np.where(batch.valid, batch.volume, 0.0)
    ot, ht, lt, ct = _ticks(batch)
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
        open_t=ot, high_t=ht, low_t=lt, close_t=ct,
    )


def day_starts(panel: Panel) -> np.ndarray:
    """Index of the first minute of each ``day`` segment of ``panel``."""
    day = panel.segments["day"]
    return np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if len(day) else np.zeros(0, int)


def last_days(panel: Panel, days: int) -> Panel:
    """The panel's last ``days`` trading days (all of it when it has fewer)."""
    starts = day_starts(panel)
    if len(starts) <= days:
        return panel
    return panel.slice_time(int(starts[-days]), len(panel.ts))
