"""AVWAP from a custom anchor: a per-symbol timestamp such as an earnings date.

Why a separate module: calendar anchors share one block layout across symbols,
while a custom anchor starts at a different minute per symbol, so its batch
form is a plain prefix over time from a per-symbol start. Both forms keep the
moments of ``engine.avwap.core`` (hence the same accuracy) and the same output
keys ``level, up1, dn1, …, z``.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import numpy as np

from engine.avwap.core import (
    MULTS,
    comp_sum,
    ffill_close,
    finish,
    price_ticks,
    shift_right,
    ticks_price,
    welford_increment,
)
from engine.avwap.state import shifted_init, shifted_outputs, shifted_update
from engine.indicator_types import BatchInputs, Outputs, State, StepInputs


def anchor_minutes(ts: np.ndarray | np.datetime64 | Sequence[np.datetime64]) -> np.ndarray:
    """UTC minutes since 1970 (int32) of anchor timestamps, as ``ts_minutes`` uses."""
    return np.asarray(ts, dtype="datetime64[m]").astype(np.int64).astype(np.int32)


def anchored_batch(
    inp: BatchInputs,
    anchor: np.ndarray | int,
    source: str = "hlc3",
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
) -> dict[str, mx.array]:
    """AVWAP from a custom anchor (UTC minute, scalar or per symbol ``[S]``) onward.

    The anchor bar is the first minute at or after the timestamp; cells before
    it are NaN. Keys: ``level, up1, dn1, …, z``.
    """
    s, t = inp.close.shape
    a = np.broadcast_to(np.asarray(anchor, dtype=np.int64), (s,))
    start = np.searchsorted(np.asarray(inp.ts_minutes).astype(np.int64), a, side="left")
    pos = mx.arange(t, dtype=mx.int32)[None, :]
    on = (pos >= mx.array(start.astype(np.int32))[:, None]) & inp.valid
    pt, den = price_ticks(inp, source)
    nxt = mx.cummin(mx.where(on, pos, t), axis=1, reverse=True)[:, :1]
    reft = mx.where(nxt < t, mx.take_along_axis(pt, mx.minimum(nxt, t - 1), axis=1), 0)
    ref = ticks_price(reft, den)
    d = mx.where(on, ticks_price(pt - reft, den), 0.0)  # exact offsets from the anchor bar
    v = mx.where(on, inp.volume, 0.0)
    s0, s1 = comp_sum(v), comp_sum(v * d)
    m2 = comp_sum(welford_increment(v, d, shift_right(s0), shift_right(s1), s0))
    return finish(ref, s0, s1, m2, ffill_close(inp.close, inp.valid), mode, mults, with_sd)


def anchored_init(anchor: np.ndarray | int, s: int) -> State:
    """State for a custom anchor (UTC minute, scalar or ``[S]``)."""
    st = shifted_init(1, s)
    a = np.broadcast_to(np.asarray(anchor, dtype=np.int64), (s,)).astype(np.int32)
    st["anchor"] = mx.array(a)[None, :]
    return st


def anchored_step(
    st: State,
    inp: StepInputs,
    source: str = "hlc3",
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
) -> tuple[State, Outputs]:
    """One minute of a custom-anchored AVWAP for all symbols; keys as ``anchored_batch``."""
    bar = inp.valid[None, :] & (inp.ts_minutes[None, :] >= st["anchor"])
    pt, den = price_ticks(inp, source)
    new = shifted_update(st, mx.array(False), bar, pt[None, :], den, inp.volume[None, :], inp)
    new["anchor"] = st["anchor"]
    return new, {n: a[0] for n, a in shifted_outputs(new, mode, mults).items()}
