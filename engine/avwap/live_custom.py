"""Live custom anchors: many (symbol, anchor minute) rows stepped in one call.

Why this module exists: ``engine.avwap.custom`` has one anchor per symbol,
while a trader keeps any number of "anchor here" AVWAPs, several on one symbol
and none on most. Here each *row* is one anchor: its symbol's index into the
batch (``sym``) and its UTC minute. Each minute the batch's ``[S]`` inputs are
gathered by ``sym`` into ``[R]`` rows and ``custom.anchored_step`` advances every
row at once (one compiled call, no loop over anchors).

A new anchor five sessions back must not step thousands of minutes (the
console's goal is an anchor on screen within 100 ms of the key), so its state
comes from the history in closed form: ``rows_state_from_panel`` sums the
moments of ``engine.avwap.core`` (first price ``ref``, Σv, Σv·d and Welford's
m2, offsets exact from int32 ticks) in float64 from the anchor bar on, exactly
as the step takes them. Continuing with ``rows_step`` from that state equals
having stepped every minute (``tests/engine/test_custom_live.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import numpy as np

from engine.avwap.core import DEN, MULTS, SOURCES, TickMoments, band_suffixes
from engine.avwap.custom import anchored_init, anchored_step
from engine.avwap.state import shifted_outputs
from engine.indicator_types import Outputs, State, StepInputs
from engine.inputs import ts_minutes
from engine.kernels import TICKS
from storage.types import Panel

__all__ = ["OUTPUTS", "concat_rows", "rows_init", "rows_outputs", "rows_state_from_panel",
           "rows_step", "take_rows"]

#: Output keys per row: ``level, up1, dn1, up2, dn2, up3, dn3, z``.
OUTPUTS: tuple[str, ...] = ("level", *band_suffixes(len(MULTS)))
_FIELDS = {"hlc3": ("high", "low", "close"), "close": ("close",), "hl2": ("high", "low"),
           "ohlc4": ("open", "high", "low", "close")}
#: Per-row state keys laid out ``[1, R]`` (``last``, ``sym`` and ``on`` are ``[R]``).
_ROW2D = ("ref", "reft", "s0", "s1", "m2", "c0", "c1", "c2", "anchor")


def rows_init(sym: np.ndarray, minutes: np.ndarray) -> State:
    """Empty state for rows anchored at UTC ``minutes`` on batch symbols ``sym``."""
    r = len(minutes)
    st = anchored_init(np.asarray(minutes, dtype=np.int64), r)
    st["sym"] = mx.array(np.asarray(sym, dtype=np.int32).reshape(r))
    st["on"] = mx.ones((r,), dtype=mx.bool_)
    return st


def _row_moments(
    panel: Panel, sym: np.ndarray, start: np.ndarray, source: str, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference price (float32 and tick numerator) and float64 (Σv, Σv·d, m2) of each
    row's bars from ``start[r]`` on; time in chunks merged with Chan's update."""
    r, t = len(sym), panel.shape[1]
    acc = TickMoments(r, float(DEN[source] * TICKS))
    lo0 = int(start.min()) if r else t
    for lo in range(lo0, t, chunk):
        hi = min(lo + chunk, t)
        bars = panel.valid[sym, lo:hi] & (np.arange(lo, hi)[None, :] >= start[:, None])
        pt = np.zeros(bars.shape, dtype=np.int64)
        for f in _FIELDS[source]:
            pt += np.rint(np.where(bars, getattr(panel, f)[sym, lo:hi], 0.0) * TICKS).astype(
                np.int64)
        acc.add(pt, bars, panel.volume[sym, lo:hi])
    return acc.result()


def rows_state_from_panel(
    panel: Panel, sym: np.ndarray, minutes: np.ndarray, source: str = "hlc3"
) -> State:
    """The ``rows_step`` state after ``panel``'s last minute, without stepping.

    ``sym[r]`` indexes ``panel.symbols`` for the moments and is kept as the row's
    batch index (``with_symbols`` re-points it when the batch's symbols differ).
    """
    if source not in SOURCES:
        raise ValueError(f"price source must be one of {SOURCES}, not {source!r}")
    sym = np.asarray(sym, dtype=np.int64).reshape(-1)
    minutes = np.asarray(minutes, dtype=np.int64).reshape(-1)
    st = rows_init(sym, minutes)
    s, t = panel.shape
    if not len(sym) or t == 0:
        return st
    start = np.searchsorted(ts_minutes(panel.ts).astype(np.int64), minutes, side="left")
    ref, reft, sums = _row_moments(panel, sym, start, source)
    any_bar = panel.valid.any(axis=1)
    last_t = t - 1 - np.argmax(panel.valid[:, ::-1], axis=1)
    last = np.where(any_bar, panel.close[np.arange(s), last_t], np.nan)[sym]
    st.update(
        ref=mx.array(ref[None]),
        reft=mx.array(reft[None]),
        s0=mx.array(sums[0][None], dtype=mx.float32),
        s1=mx.array(sums[1][None], dtype=mx.float32),
        m2=mx.array(sums[2][None], dtype=mx.float32),
        last=mx.array(last, dtype=mx.float32),
    )
    return st


def _gather(inp: StepInputs, sym: mx.array, on: mx.array) -> StepInputs:
    """The batch's ``[S]`` inputs as ``[R]`` rows (a row whose symbol is absent: no bar)."""

    def take(a: mx.array) -> mx.array:
        return mx.take(a, sym, axis=0)

    return StepInputs(
        open=take(inp.open), high=take(inp.high), low=take(inp.low), close=take(inp.close),
        volume=take(inp.volume), valid=take(inp.valid) & on,
        segments=inp.segments, minute_of_session=inp.minute_of_session,
        session_minutes=inp.session_minutes, ts_minutes=inp.ts_minutes,
        open_t=take(inp.open_t), high_t=take(inp.high_t), low_t=take(inp.low_t),
        close_t=take(inp.close_t),
    )


def rows_step(
    st: State, inp: StepInputs, source: str = "hlc3", mode: str = "stdev",
    mults: Sequence[float] = MULTS,
) -> tuple[State, Outputs]:
    """One minute for every anchor row (pure MLX; compile it with ``stepping.compile_step``).

    Outputs are ``[R]`` arrays keyed ``level, up1, dn1, …, z``.
    """
    new, out = anchored_step(st, _gather(inp, st["sym"], st["on"]), source, mode, mults)
    new["sym"], new["on"] = st["sym"], st["on"]
    return new, out


def rows_outputs(st: State, mode: str = "stdev", mults: Sequence[float] = MULTS) -> Outputs:
    """The rows' outputs from the state alone (a new anchor's values before any step)."""
    return {n: a[0] for n, a in shifted_outputs(st, mode, mults).items()}


def with_symbols(st: State, sym: np.ndarray, on: np.ndarray) -> State:
    """The same rows gathering from other batch indices (the batch's symbols changed)."""
    out = dict(st)
    out["sym"] = mx.array(np.asarray(sym, dtype=np.int32))
    out["on"] = mx.array(np.asarray(on, dtype=bool))
    return out


def concat_rows(a: State, b: State) -> State:
    """Rows of ``a`` then rows of ``b`` (an anchor added)."""
    return {k: mx.concatenate([a[k], b[k]], axis=1 if k in _ROW2D else 0) for k in a}


def take_rows(st: State, keep: np.ndarray) -> State:
    """Only rows ``keep`` (int indices, in that order): an anchor deleted."""
    idx = mx.array(np.asarray(keep, dtype=np.int32))
    return {k: mx.take(v, idx, axis=1 if k in _ROW2D else 0) for k, v in st.items()}
