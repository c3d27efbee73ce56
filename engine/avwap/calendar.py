"""Calendar-anchored VWAP in MLX: batch segmented scans and the one-minute step.

Why this module exists: AVWAP levels and bands are the console's main product,
and they must be both fast (every symbol, every anchor, every minute) and right
in float32 at real price levels. Every form keeps the moments of
``engine.avwap.core`` per anchor segment: the first real price ``ref``, the
compensated ``Σv`` and ``Σv·(p − ref)`` (so the level is exact to the rounding
of its offset from ``ref``) and ``m2 = Σv·(p − level)²`` grown by Welford's
non-negative increments (so σ never comes from a subtraction of near-equal
sums; TradingView's σ² = Σv·p²/Σv − VWAP² without the cancellation).

Batch (``calendar_batch``): the time axis is cut into blocks of ``B`` minutes
chosen so that every anchor boundary falls on a block edge (minute grids make
B = 30 or 39 typical), so ``[S, T]`` reshapes to ``[S, nB, B]`` for free.
In-block cumsums of ``v`` and ``v·(p − q)`` (block-local reference ``q``) are
shared by all anchors; a compensated segmented scan over the small
``[K, S, nB]`` block totals, re-shifted to each anchor's reference, carries
them across blocks. That gives every cell's weight ``W`` and mean offset ``m``;
the previous cell's ``W`` and ``m`` give each bar's Welford increment
elementwise, and a second segmented scan of those increments gives ``m2``.
Everything is O(S·T) with no Python loop over symbols or time (the loop over
the six anchors is over graph-building, not data).

Incremental (``calendar_step``): the Kahan-compensated moments of
``engine.avwap.state`` per ``[anchor, symbol]``; a segment id different from
the stored one resets the anchor; an invalid bar contributes nothing.

Custom anchors live in ``engine.avwap.custom``, auto anchors (highest high /
lowest low / highest volume of the prior N sessions) in ``engine.avwap.auto``.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import numpy as np

from engine.avwap.core import (
    BAND_MODES,
    DEN,
    MULTS,
    NAN,
    SOURCES,
    TickMoments,
    band_kernels,
    band_suffixes,
    block_plan,
    check_mode,
    ffill_close,
    finish,
    level_kernel,
    price,
    price_ticks,
    seg_exclusive,
    welford_increment,
    zscore_kernel,
)
from engine.avwap.state import shifted_init, shifted_outputs, shifted_update
from engine.indicator_types import BatchInputs, Outputs, State, StepInputs
from engine.kernels import TICKS
from storage.types import SEGMENT_KINDS, Panel

__all__ = [
    "BAND_MODES", "MULTS", "SOURCES", "band_suffixes", "calendar_batch", "calendar_init",
    "calendar_state_from_panel", "calendar_step", "distinct_partitions", "finish",
    "output_names", "price", "segmented_batch",
]  # fmt: skip

# --------------------------------------------------------------------------- batch


# Per-anchor kernels, each one fused single-output elementwise pass over
# [S, nB, B] (on MLX's CPU backend a multi-output fused kernel is several times
# slower than one kernel per output, and ``where`` costs ~4× an arithmetic op).
# Outside segments the block carry ``x0`` is NaN, so weight, level and σ are
# NaN there by arithmetic; before a segment's first volume they are 0/0.
# (``level_kernel`` and ``zscore_kernel`` come from ``engine.avwap.core``.)


@mx.compile
def _increment(
    x0: mx.array, x1: mx.array, dq: mx.array, r: mx.array, v: mx.array, pz: mx.array,
    p0: mx.array, e0: mx.array, e1: mx.array, unit: mx.array,
) -> mx.array:  # fmt: skip
    """Each bar's ``welford_increment``, fused with the block pieces it comes from.

    ``e0, e1`` are the in-block *exclusive* prefix sums, so the weight and mean
    before the bar come without a shift; at a segment's first cell both the
    carry and the exclusive prefix are 0, so the increment is 0 there. ``pz`` and
    ``r`` are tick numerators (int32): the bar's offset is exact, then divided
    by ``unit`` (ticks per price unit times the source's denominator).
    """
    d = (pz - r).astype(mx.float32) / unit
    return welford_increment(v, d, x0 + e0, x1 + e1 + dq * e0, x0 + p0)


@mx.compile
def _weighted_offset(
    v: mx.array, ok: mx.array, pz: mx.array, q: mx.array, unit: mx.array
) -> mx.array:
    """``v·(p − q)`` per bar from tick numerators (exact offset, then one division)."""
    return v * mx.where(ok, (pz - q).astype(mx.float32) / unit, 0.0)


@mx.compile
def _mean(
    x0: mx.array, x1: mx.array, dq: mx.array, p0: mx.array, p1: mx.array
) -> mx.array:
    """The level's offset from the segment's ref (NaN outside a segment or before
    its first volume). z is taken from it, not from the level, so that z keeps
    the offset's precision where σ is tiny next to the price (``zscore``)."""
    return (x1 + p1 + dq * p0) / (x0 + p0)


@mx.compile
def _sd(x0: mx.array, xu: mx.array, u: mx.array, p0: mx.array) -> mx.array:
    """σ = √(m2/Σv) (NaN where Σv is 0 or outside a segment)."""
    return mx.sqrt((xu + u) / (x0 + p0))


def segmented_batch(
    pt: mx.array,
    den: int,
    volume: mx.array,
    valid: mx.array,
    close: mx.array,
    seg: np.ndarray,
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
    dedupe: bool = True,
) -> list[dict[str, mx.array]]:
    """AVWAP outputs for K segmentations ``seg[K, T]`` (id -1 = outside, NaN).

    ``pt`` is the price as an int32 tick numerator over ``den`` (``core.price_ticks``),
    ``volume``/``close`` are float32 ``[S, T]``; returns, per row of
    ``seg``, a dict of ``[S, T]`` arrays keyed ``level, up1, dn1, …, z``.

    Rows that cut the panel into the same segments (on a regular-hours grid the
    session and the day always do; month, quarter and year often do over a
    few weeks) have the same outputs: each distinct partition is computed once
    and its arrays are shared, unless ``dedupe`` is False.
    """
    check_mode(mode)
    seg = np.asarray(seg)
    rows = distinct_partitions(seg) if dedupe else list(range(seg.shape[0]))
    uniq = sorted(set(rows))
    outs = _segmented(pt, den, volume, valid, close, seg[uniq], mode, mults, with_sd)
    return [outs[uniq.index(r)] for r in rows]


def distinct_partitions(seg: np.ndarray) -> list[int]:
    """For each row, the first row that partitions the time axis identically."""
    first: dict[bytes, int] = {}
    rows = []
    for i, row in enumerate(seg):
        key = np.r_[row[1:] != row[:-1], row == -1].tobytes()
        rows.append(first.setdefault(key, i))
    return rows


def _segmented(
    pt: mx.array,
    den: int,
    volume: mx.array,
    valid: mx.array,
    close: mx.array,
    seg: np.ndarray,
    mode: str,
    mults: Sequence[float],
    with_sd: bool,
) -> list[dict[str, mx.array]]:
    """``segmented_batch`` for rows that are all distinct partitions."""
    s, t = pt.shape
    k = seg.shape[0]
    unit = mx.array(float(den * TICKS))
    plan = block_plan(seg)
    b, nb = plan.block, plan.n_blocks
    ok = valid
    v = mx.where(ok, volume, 0.0)
    pz = mx.where(ok, pt, 0)  # tick numerators; a missing bar has v = 0
    lc = ffill_close(close, ok)
    if plan.pad:
        padw = [(0, 0), (0, plan.pad)]
        pz, v, lc = (mx.pad(a, padw) for a in (pz, v, lc))
        ok = mx.pad(ok, padw, constant_values=False)
    pb, vb, okb = (a.reshape(s, nb, b) for a in (pz, v, ok))
    has = mx.any(okb, axis=-1)
    first = mx.argmax(okb.astype(mx.int32), axis=-1).astype(mx.int32)
    q = mx.where(has, mx.take_along_axis(pb, first[..., None], axis=-1)[..., 0], 0)
    x1 = _weighted_offset(vb, okb, pb, q[..., None], unit)
    p0, p1 = mx.cumsum(vb, axis=-1), mx.cumsum(x1, axis=-1)
    e0, e1 = (mx.cumsum(x, axis=-1, inclusive=False) for x in (vb, x1))
    a0, a1 = p0[..., -1][None], p1[..., -1][None]
    # each segment's reference: the first real bar's price in the segment
    blocks = mx.arange(nb, dtype=mx.int32)
    nxt = mx.cummin(mx.where(has, blocks, nb), axis=-1, reverse=True)
    start = mx.array(plan.start_block)[:, None, :]
    fb = mx.take_along_axis(mx.broadcast_to(nxt[None], (k, s, nb)), start, axis=-1)
    r = mx.take_along_axis(mx.broadcast_to(q[None], (k, s, nb)), mx.minimum(fb, nb - 1), -1)
    r = mx.where(fb < nb, r, 0)
    act = mx.array(plan.active)[:, None, :]
    dq = (q[None] - r).astype(mx.float32) / unit  # exact block-to-segment offsets
    x0 = seg_exclusive(mx.where(act, a0, 0.0), start)[..., None]
    x1 = seg_exclusive(mx.where(act, a1 + dq * a0, 0.0), start)[..., None]
    dq, r = dq[..., None], r[..., None]
    x0n = mx.where(act[..., None], x0, NAN)  # NaN weight outside segments
    lc = lc.reshape(s, nb, b)
    names = ("level", *band_suffixes(len(mults)), *(("sd",) if with_sd else ()))
    res: list[dict[str, mx.array]] = []
    for i in range(k):
        u = mx.cumsum(_increment(x0[i], x1[i], dq[i], r[i], vb, pb, p0, e0, e1, unit), axis=-1)
        ref = r[i].astype(mx.float32) / unit
        xu = seg_exclusive(mx.where(act[i], u[..., -1], 0.0)[None], start[i : i + 1])
        m = _mean(x0n[i], x1[i], dq[i], p0, p1)
        level = level_kernel(ref, m)
        sd = _sd(x0n[i], xu[0][..., None], u, p0)
        outs = [level, *band_kernels(level, sd, mode, mults), zscore_kernel(lc, ref, m, sd)]
        if with_sd:
            outs.append(sd)
        row = {n: o.reshape(s, nb * b) for n, o in zip(names, outs, strict=True)}
        res.append({n: a[:, :t] for n, a in row.items()} if plan.pad else row)
    return res


def calendar_batch(
    inp: BatchInputs,
    kinds: Sequence[str] = SEGMENT_KINDS,
    source: str = "hlc3",
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
    dedupe: bool = True,
) -> dict[str, mx.array]:
    """Calendar-anchored AVWAPs over a panel, named ``avwap_<kind>[_<suffix>]``."""
    seg = np.stack([np.asarray(inp.segments[kd]) for kd in kinds])
    pt, den = price_ticks(inp, source)
    rows = segmented_batch(
        pt, den, inp.volume, inp.valid, inp.close, seg, mode, mults, with_sd, dedupe
    )
    return {_name(kd, n): a for kd, row in zip(kinds, rows, strict=True) for n, a in row.items()}


def _name(kind: str, suffix: str) -> str:
    return f"avwap_{kind}" if suffix == "level" else f"avwap_{kind}_{suffix}"


def output_names(kinds: Sequence[str] = SEGMENT_KINDS, n_mults: int = 3) -> tuple[str, ...]:
    return tuple(_name(kd, n) for kd in kinds for n in ("level", *band_suffixes(n_mults)))


# --------------------------------------------------------------------- incremental


def calendar_init(s: int, kinds: Sequence[str] = SEGMENT_KINDS) -> State:
    st = shifted_init(len(kinds), s)
    st["seg"] = mx.full((len(kinds), 1), -(2**31), dtype=mx.int32)
    return st


def calendar_step(
    st: State,
    inp: StepInputs,
    kinds: Sequence[str] = SEGMENT_KINDS,
    source: str = "hlc3",
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
) -> tuple[State, Outputs]:
    """Advance every calendar anchor of every symbol by one minute (pure MLX)."""
    seg = mx.stack([inp.segments[kd] for kd in kinds])  # [K, 1]
    reset = seg != st["seg"]
    bar = inp.valid[None, :] & (seg != -1)
    pt, den = price_ticks(inp, source)
    new = shifted_update(st, reset, bar, pt[None, :], den, inp.volume[None, :], inp)
    new["seg"] = seg
    out = shifted_outputs(new, mode, mults, with_sd)
    return new, {_name(kd, n): a[i] for n, a in out.items() for i, kd in enumerate(kinds)}


# ------------------------------------------------------------------ warm-up state


def _price_ticks_np(panel: Panel, lo: int, hi: int, source: str) -> np.ndarray:
    """``core.price_ticks`` in NumPy int64 for minutes ``lo:hi`` (0 where invalid),
    without MLX buffers for a whole history."""
    if source not in DEN:
        raise ValueError(f"price source must be one of {SOURCES}, not {source!r}")
    fields = {"hlc3": ("high", "low", "close"), "close": ("close",), "hl2": ("high", "low"),
              "ohlc4": ("open", "high", "low", "close")}[source]
    ok = panel.valid[:, lo:hi]
    return sum((np.rint(np.where(ok, getattr(panel, f)[:, lo:hi], 0.0) * TICKS).astype(np.int64)
                for f in fields), np.zeros(ok.shape, dtype=np.int64))


def _segment_moments(
    panel: Panel, start: int, source: str, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference price (float32 and tick numerator) and float64 (Σv, Σv·d, m2) of
    minutes ``start:`` per symbol; offsets ``d`` are exact, from ticks.

    Each time chunk's moments are exact two-pass sums around the chunk's own
    mean, merged into the running total with Chan's update, so memory stays
    bounded for a long history and nothing cancels.
    """
    s, t = panel.shape
    acc = TickMoments(s, float(DEN[source] * TICKS) if source in DEN else 1.0)
    for lo in range(start, t, chunk):
        hi = min(lo + chunk, t)
        acc.add(_price_ticks_np(panel, lo, hi, source), panel.valid[:, lo:hi],
                panel.volume[:, lo:hi])
    return acc.result()


def calendar_state_from_panel(
    panel: Panel, kinds: Sequence[str] = SEGMENT_KINDS, source: str = "hlc3"
) -> State:
    """The ``calendar_step`` state after the panel's last minute, without stepping.

    Why: warming a live console by stepping every minute of a month of history
    costs thousands of compiled calls, yet the AVWAP state is only each anchor's
    sums over its current segment. Those are computed here in float64 in one
    vectorized pass per anchor (offsets from the segment's first price, exactly
    as the step takes them), so month, quarter and year levels are exact from the first
    live minute. Continuing with ``calendar_step`` from this state equals having
    stepped every minute (``tests/engine/test_avwap_warm.py``).
    """
    s, t = panel.shape
    st = calendar_init(s, kinds)
    if t == 0:
        return st
    ref = np.full((len(kinds), s), np.nan, dtype=np.float32)
    reft = np.zeros((len(kinds), s), dtype=np.int32)
    sums = np.zeros((3, len(kinds), s), dtype=np.float64)
    seg_now = np.empty((len(kinds), 1), dtype=np.int32)
    done: dict[int, int] = {}  # segment start -> the anchor already summed from there
    for i, kind in enumerate(kinds):
        seg = panel.segments[kind]
        last_id = int(seg[-1])
        seg_now[i, 0] = last_id
        if last_id == -1:
            continue  # outside any such segment: the step keeps zero sums
        change = np.flatnonzero(seg != last_id)
        start = int(change[-1]) + 1 if len(change) else 0
        if start in done:  # month, quarter and year often start together
            ref[i], reft[i], sums[:, i] = ref[done[start]], reft[done[start]], sums[:, done[start]]
            continue
        done[start] = i
        ref[i], reft[i], sums[:, i] = _segment_moments(panel, start, source)
    any_bar = panel.valid.any(axis=1)
    last_t = t - 1 - np.argmax(panel.valid[:, ::-1], axis=1)
    last = np.where(any_bar, panel.close[np.arange(s), last_t], np.nan)
    st.update(
        ref=mx.array(ref),
        reft=mx.array(reft),
        s0=mx.array(sums[0], dtype=mx.float32),
        s1=mx.array(sums[1], dtype=mx.float32),
        m2=mx.array(sums[2], dtype=mx.float32),
        last=mx.array(last, dtype=mx.float32),
        seg=mx.array(seg_now),
    )
    return st
