"""Anchored VWAP kernels in MLX: batch segmented scans and the one-minute step.

Why this module exists: AVWAP levels and bands are the console's main product,
and they must be both fast (every symbol, every anchor, every minute) and right
in float32 at real price levels. A naive running ``Σv·p²`` in float32 loses the
variance entirely at $4,000, so every sum here is *shifted*: each anchor segment
keeps a reference price ``ref`` (its first real bar's price) and accumulates
``Σv``, ``Σv·(p−ref)`` and ``Σv·(p−ref)²``. Then

    level = ref + Σv(p−ref)/Σv,   σ² = Σv(p−ref)²/Σv − (Σv(p−ref)/Σv)²

which is TradingView's formula (σ² = Σv·p²/Σv − VWAP²) without the cancellation.

Batch (``calendar_batch``): the time axis is cut into blocks of ``B`` minutes
chosen so that every anchor boundary falls on a block edge (minute grids make
B = 30 or 39 typical), so ``[S, T]`` reshapes to ``[S, nB, B]`` for free. One
cumsum per quantity inside blocks (block-local reference) is shared by all
anchors; a compensated segmented scan over the small ``[K, S, nB]`` block
totals, re-shifted to each anchor's reference, gives each block's carry; one
fused elementwise kernel combines carry and in-block prefix into every output.
Everything is O(S·T) with no Python loop over symbols, anchors or time.

Incremental (``calendar_step``): Kahan-compensated shifted sums per
``[anchor, symbol]``; a segment id different from the stored one resets the
anchor; an invalid bar contributes nothing; outputs come from the state.

Custom anchors (``anchored_batch``/``anchored_init``/``anchored_step``) start at
a per-symbol timestamp (e.g. an earnings date). Auto anchors (highest high /
lowest low / highest volume of the prior N sessions) live in ``engine.avwap_auto``.

Known float32 limit: σ's relative error grows like eps·(level − ref)²/σ², so a
segment whose first bar is a thin outlier followed by bars 8 decades heavier
clustered far from it can lose up to ~1e-2 of σ at its start (tested).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from engine.registry import BatchInputs, Outputs, State, StepInputs
from storage.types import SEGMENT_KINDS, Panel

SOURCES: tuple[str, ...] = ("hlc3", "close", "hl2", "ohlc4")
BAND_MODES: tuple[str, ...] = ("stdev", "percent")
MULTS: tuple[float, ...] = (1.0, 2.0, 3.0)
_NAN = float("nan")
#: A variance below this fraction of Σv·d²/Σv (4 float32 ulps) is rounding noise
#: of the shifted sums, not spread: both forms report σ = 0 there, so a segment
#: whose weighted bars share one price has no bands whatever the summation order.
VAR_FLOOR = 4.0 * 2.0**-23


def _sd(mean_sq: mx.array, m: mx.array) -> mx.array:
    """σ from the shifted moments, with variance under the rounding floor as 0."""
    var = mean_sq - m * m
    return mx.sqrt(mx.where(var > VAR_FLOOR * mean_sq, var, 0.0))


_MAX_BLOCK = 64


def band_suffixes(n: int = 3) -> tuple[str, ...]:
    """Output suffixes after the level: ``up1, dn1, …, upN, dnN, z``."""
    return (*(f"{s}{i}" for i in range(1, n + 1) for s in ("up", "dn")), "z")


def price(o: mx.array, h: mx.array, lo: mx.array, c: mx.array, source: str) -> mx.array:
    """The price a bar contributes: hlc3 (TradingView's default), close, hl2 or ohlc4."""
    if source == "hlc3":
        return (h + lo + c) / 3.0
    if source == "close":
        return c
    if source == "hl2":
        return (h + lo) / 2.0
    if source == "ohlc4":
        return (o + h + lo + c) / 4.0
    raise ValueError(f"price source must be one of {SOURCES}, not {source!r}")


def finish(
    ref: mx.array,
    s0: mx.array,
    s1: mx.array,
    s2: mx.array,
    last_close: mx.array,
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
) -> dict[str, mx.array]:
    """Level, bands and z (and σ as ``sd`` if asked) from shifted sums (NaN where Σv is 0).

    ``percent`` mode draws bands at ``level·(1 ± mult/100)`` as TradingView's
    "Percentage" band mode does; z is in σ in both modes (NaN where σ is 0).
    """
    if mode not in BAND_MODES:
        raise ValueError(f"band mode must be one of {BAND_MODES}, not {mode!r}")
    m = s1 / s0
    level = ref + m
    sd = _sd(s2 / s0, m)
    out = {"level": level}
    # the same band arithmetic as the batch form, so both agree to the bit
    out.update(zip(band_suffixes(len(mults))[:-1], _bands(level, sd, mode, mults), strict=True))
    out["z"] = mx.where(sd > 0, ((last_close - ref) - m) / sd, _NAN)
    if with_sd:
        out["sd"] = sd
    return out


# --------------------------------------------------------------------------- batch


@dataclass(frozen=True)
class _Plan:
    """Host-side block layout for a set of segmentations ``[K, T]``."""

    block: int
    n_blocks: int
    pad: int
    start_block: np.ndarray  # int32 [K, nB]: first block of each block's segment
    active: np.ndarray  # bool [K, nB]: block lies in a segment (id != -1)


def _plan(seg: np.ndarray) -> _Plan:
    t = seg.shape[1]
    change = np.zeros(t, dtype=bool)
    change[0] = True
    change[1:] = (seg[:, 1:] != seg[:, :-1]).any(axis=0)
    g = int(np.gcd.reduce(np.flatnonzero(change)))
    block = _MAX_BLOCK if g == 0 else max(d for d in range(1, _MAX_BLOCK + 1) if g % d == 0)
    n_blocks = -(-t // block)
    pad = n_blocks * block - t
    blk = np.pad(seg, ((0, 0), (0, pad)), mode="edge")[:, ::block]
    first = np.ones_like(blk, dtype=bool)
    first[:, 1:] = blk[:, 1:] != blk[:, :-1]
    idx = np.where(first, np.arange(n_blocks), 0)
    start = np.maximum.accumulate(idx, axis=1).astype(np.int32)
    return _Plan(block, n_blocks, pad, start, blk != -1)


def _ffill_close(close: mx.array, valid: mx.array) -> mx.array:
    """Each cell's latest real close at or before it (NaN before the first)."""
    t = mx.arange(close.shape[1], dtype=mx.int32)
    last = mx.cummax(mx.where(valid, t, -1), axis=1)
    got = mx.take_along_axis(close, mx.maximum(last, 0), axis=1)
    return mx.where(last >= 0, got, _NAN)


def _comp_cumsum(x: mx.array) -> tuple[mx.array, mx.array]:
    """Cumsum along the last axis as a (high, low) pair: Σx ≈ hi + lo to ~eps·|Σx|.

    The low part sums what each float32 step of the high cumsum dropped
    (``x − (C[t] − C[t−1])``); the telescoping differences are exact or nearly
    so, so the pair is accurate whatever order the cumsum adds in.
    """
    hi = mx.cumsum(x, axis=-1)
    prev = mx.concatenate([mx.zeros_like(hi[..., :1]), hi[..., :-1]], axis=-1)
    lo = mx.cumsum(x - (hi - prev), axis=-1)
    return hi, lo


def _comp_sum(x: mx.array) -> mx.array:
    """The compensated cumsum folded back into one float32 array."""
    hi, lo = _comp_cumsum(x)
    return hi + lo


def _seg_exclusive(x: mx.array, start: mx.array) -> mx.array:
    """Σ of ``x`` over earlier blocks of the same segment (compensated), ``[K, S, nB]``."""
    hi, lo = _comp_cumsum(x)
    zero = mx.zeros_like(hi[..., :1])
    hz = mx.concatenate([zero, hi], axis=-1)
    lz = mx.concatenate([zero, lo], axis=-1)
    nb = x.shape[-1]
    return (hz[..., :nb] - mx.take_along_axis(hz, start, axis=-1)) + (
        lz[..., :nb] - mx.take_along_axis(lz, start, axis=-1)
    )


# Single-output compiled kernels: on MLX's CPU backend one fused kernel per
# output is several times faster than one kernel with many outputs. Each
# output of each anchor is its own [S, T] array: the allocator reuses buffers of
# that size, while [K, S, T] stacks were fresh pages (page faults) every call.


@mx.compile
def _level(
    x0: mx.array, x1: mx.array, dq: mx.array, r: mx.array, p0: mx.array, p1: mx.array,
    act: mx.array,
) -> mx.array:  # fmt: skip
    """The VWAP (NaN outside a segment or before its first volume)."""
    return mx.where(act, r + (x1 + p1 + dq * p0) / (x0 + p0), _NAN)


@mx.compile
def _sigma(
    x0: mx.array, x1: mx.array, x2: mx.array, dq: mx.array, p0: mx.array, p1: mx.array,
    p2: mx.array, act: mx.array,
) -> mx.array:  # fmt: skip
    s0 = x0 + p0
    m = (x1 + p1 + dq * p0) / s0
    s2 = x2 + p2 + (2.0 * dq) * p1 + (dq * dq) * p0
    return mx.where(act, _sd(s2 / s0, m), _NAN)


@mx.compile
def _zscore(
    x0: mx.array, x1: mx.array, dq: mx.array, r: mx.array, p0: mx.array, p1: mx.array,
    sd: mx.array, lc: mx.array,
) -> mx.array:  # fmt: skip
    m = (x1 + p1 + dq * p0) / (x0 + p0)
    return mx.where(sd > 0, ((lc - r) - m) / sd, _NAN)


def _bands(level: mx.array, sd: mx.array, mode: str, mults: Sequence[float]) -> list[mx.array]:
    if mode not in BAND_MODES:
        raise ValueError(f"band mode must be one of {BAND_MODES}, not {mode!r}")
    out = []
    for k in mults:
        if mode == "stdev":
            out += [level + k * sd, level - k * sd]
        else:
            out += [level * (1.0 + k / 100.0), level * (1.0 - k / 100.0)]
    return out


def _finish_blocks(
    x0: mx.array, x1: mx.array, x2: mx.array, dq: mx.array, r: mx.array, act: mx.array,
    p0: mx.array, p1: mx.array, p2: mx.array, lc: mx.array, mode: str,
    mults: Sequence[float], with_sd: bool,
) -> list[mx.array]:  # fmt: skip
    """One anchor's outputs ``[S, nB, B]`` from block carries and in-block prefixes."""
    level = _level(x0, x1, dq, r, p0, p1, act)
    sd = _sigma(x0, x1, x2, dq, p0, p1, p2, act)
    outs = [level, *_bands(level, sd, mode, mults), _zscore(x0, x1, dq, r, p0, p1, sd, lc)]
    return [*outs, sd] if with_sd else outs


def segmented_batch(
    p: mx.array,
    volume: mx.array,
    valid: mx.array,
    close: mx.array,
    seg: np.ndarray,
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
) -> list[dict[str, mx.array]]:
    """AVWAP outputs for K segmentations ``seg[K, T]`` (id -1 = outside, NaN).

    ``p``/``volume``/``close`` are float32 ``[S, T]``; returns, per row of
    ``seg``, a dict of ``[S, T]`` arrays keyed ``level, up1, dn1, …, z``.
    """
    s, t = p.shape
    k = seg.shape[0]
    plan = _plan(np.asarray(seg))
    b, nb = plan.block, plan.n_blocks
    ok = valid
    v = mx.where(ok, volume, 0.0)
    lc = _ffill_close(close, ok)
    if plan.pad:
        padw = [(0, 0), (0, plan.pad)]
        p, v, lc = (mx.pad(a, padw) for a in (p, v, lc))
        ok = mx.pad(ok, padw, constant_values=False)
    pb, vb, okb = (a.reshape(s, nb, b) for a in (p, v, ok))
    has = mx.any(okb, axis=-1)
    first = mx.argmax(okb.astype(mx.int32), axis=-1).astype(mx.int32)
    q = mx.where(has, mx.take_along_axis(pb, first[..., None], axis=-1)[..., 0], 0.0)
    d = mx.where(okb, pb - q[..., None], 0.0)
    x1 = vb * d
    p0, p1, p2 = (mx.cumsum(x, axis=-1) for x in (vb, x1, x1 * d))
    a0, a1, a2 = (x[..., -1][None] for x in (p0, p1, p2))
    # each segment's reference: the first real bar's price in the segment
    blocks = mx.arange(nb, dtype=mx.int32)
    nxt = mx.cummin(mx.where(has, blocks, nb), axis=-1, reverse=True)
    start = mx.array(plan.start_block)[:, None, :]
    fb = mx.take_along_axis(mx.broadcast_to(nxt[None], (k, s, nb)), start, axis=-1)
    r = mx.take_along_axis(mx.broadcast_to(q[None], (k, s, nb)), mx.minimum(fb, nb - 1), -1)
    r = mx.where(fb < nb, r, 0.0)
    act = mx.array(plan.active)[:, None, :]
    dq = q[None] - r
    t0 = mx.where(act, a0, 0.0)
    t1 = mx.where(act, a1 + dq * a0, 0.0)
    t2 = mx.where(act, a2 + 2.0 * dq * a1 + dq * dq * a0, 0.0)
    x0, x1, x2 = (_seg_exclusive(a, start)[..., None] for a in (t0, t1, t2))
    dq, r = dq[..., None], r[..., None]
    lc = lc.reshape(s, nb, b)
    names = ("level", *band_suffixes(len(mults)), *(("sd",) if with_sd else ()))
    res: list[dict[str, mx.array]] = []
    for i in range(k):
        outs = _finish_blocks(
            x0[i], x1[i], x2[i], dq[i], r[i], act[i, :, :, None], p0, p1, p2, lc, mode, mults,
            with_sd,
        )  # fmt: skip
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
) -> dict[str, mx.array]:
    """Calendar-anchored AVWAPs over a panel, named ``avwap_<kind>[_<suffix>]``."""
    seg = np.stack([np.asarray(inp.segments[kd]) for kd in kinds])
    p = price(inp.open, inp.high, inp.low, inp.close, source)
    rows = segmented_batch(p, inp.volume, inp.valid, inp.close, seg, mode, mults, with_sd)
    return {_name(kd, n): a for kd, row in zip(kinds, rows, strict=True) for n, a in row.items()}


def _name(kind: str, suffix: str) -> str:
    return f"avwap_{kind}" if suffix == "level" else f"avwap_{kind}_{suffix}"


def output_names(kinds: Sequence[str] = SEGMENT_KINDS, n_mults: int = 3) -> tuple[str, ...]:
    return tuple(_name(kd, n) for kd in kinds for n in ("level", *band_suffixes(n_mults)))


# --------------------------------------------------------------------- incremental


def _kahan(s: mx.array, c: mx.array, x: mx.array) -> tuple[mx.array, mx.array]:
    y = x - c
    t = s + y
    return t, (t - s) - y


def shifted_init(k: int, s: int) -> State:
    """Empty shifted sums for ``[k, s]`` anchors × symbols."""
    z = mx.zeros((k, s), dtype=mx.float32)
    return {
        "ref": mx.full((k, s), _NAN, dtype=mx.float32),
        **{n: z for n in ("s0", "s1", "s2", "c0", "c1", "c2")},
        "last": mx.full((s,), _NAN, dtype=mx.float32),
    }


def shifted_update(
    st: State, reset: mx.array, bar: mx.array, p: mx.array, vol: mx.array, inp: StepInputs
) -> State:
    """Reset where ``reset`` ([k,1] or [k,s]); add the bar where ``bar`` ([k,s])."""
    ref = mx.where(reset, _NAN, st["ref"])
    ref = mx.where(bar & mx.isnan(ref), p, ref)
    d = mx.where(bar, p - ref, 0.0)
    v = mx.where(bar, vol, 0.0)
    out = {"ref": ref}
    for j, x in enumerate((v, v * d, v * d * d)):
        s0 = mx.where(reset, 0.0, st[f"s{j}"])
        c0 = mx.where(reset, 0.0, st[f"c{j}"])
        out[f"s{j}"], out[f"c{j}"] = _kahan(s0, c0, x)
    out["last"] = mx.where(inp.valid, inp.close, st["last"])
    return out


def shifted_outputs(
    st: State, mode: str, mults: Sequence[float], with_sd: bool = False
) -> dict[str, mx.array]:
    last = st["last"][None]
    return finish(st["ref"], st["s0"], st["s1"], st["s2"], last, mode, mults, with_sd)


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
) -> tuple[State, Outputs]:
    """Advance every calendar anchor of every symbol by one minute (pure MLX)."""
    seg = mx.stack([inp.segments[kd] for kd in kinds])  # [K, 1]
    reset = seg != st["seg"]
    bar = inp.valid[None, :] & (seg != -1)
    p = price(inp.open, inp.high, inp.low, inp.close, source)[None, :]
    new = shifted_update(st, reset, bar, p, inp.volume[None, :], inp)
    new["seg"] = seg
    out = shifted_outputs(new, mode, mults)
    return new, {_name(kd, n): a[i] for n, a in out.items() for i, kd in enumerate(kinds)}


def _price_f32(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, source: str
) -> np.ndarray:
    """``price`` in NumPy float32: the same IEEE operations, so the same values as
    the step sees, without MLX buffers for a whole history."""
    three, two, four = np.float32(3), np.float32(2), np.float32(4)
    if source == "hlc3":
        return (h + lo + c) / three
    if source == "close":
        return c
    if source == "hl2":
        return (h + lo) / two
    if source == "ohlc4":
        return (o + h + lo + c) / four
    raise ValueError(f"price source must be one of {SOURCES}, not {source!r}")


def _segment_sums(
    panel: Panel, start: int, source: str, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Reference price and float64 (Σv, Σv·d, Σv·d²) of minutes ``start:`` per symbol.

    Summed over time chunks, so memory stays bounded for a long history.
    """
    s, t = panel.shape
    ref = np.full(s, np.nan, dtype=np.float32)
    out = np.zeros((3, s), dtype=np.float64)
    for lo in range(start, t, chunk):
        hi = min(lo + chunk, t)
        o, h, lw, c = (
            a[:, lo:hi].astype(np.float32)
            for a in (panel.open, panel.high, panel.low, panel.close)
        )
        p32 = _price_f32(o, h, lw, c, source)  # the float32 price the step sees
        bars = panel.valid[:, lo:hi]
        need = np.isnan(ref) & bars.any(axis=1)
        if need.any():
            first = np.argmax(bars, axis=1)
            ref = np.where(need, p32[np.arange(s), first], ref)
        d = np.where(bars, p32.astype(np.float64) - ref[:, None].astype(np.float64), 0.0)
        v = np.where(bars, panel.volume[:, lo:hi], 0.0)
        vd = v * d
        out[0] += v.sum(axis=1)
        out[1] += vd.sum(axis=1)
        out[2] += (vd * d).sum(axis=1)
    return ref, out


def calendar_state_from_panel(
    panel: Panel, kinds: Sequence[str] = SEGMENT_KINDS, source: str = "hlc3"
) -> State:
    """The ``calendar_step`` state after the panel's last minute, without stepping.

    Why: warming a live console by stepping every minute of a month of history
    costs thousands of compiled calls, yet the AVWAP state is only each anchor's
    sums over its current segment. Those are computed here in float64 in one
    vectorized pass per anchor (shifted by the segment's first price, exactly as
    the step shifts), so month, quarter and year levels are exact from the first
    live minute. Continuing with ``calendar_step`` from this state equals having
    stepped every minute (``tests/engine/test_avwap_warm.py``).
    """
    s, t = panel.shape
    st = calendar_init(s, kinds)
    if t == 0:
        return st
    ref = np.full((len(kinds), s), np.nan, dtype=np.float32)
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
            ref[i], sums[:, i] = ref[done[start]], sums[:, done[start]]
            continue
        done[start] = i
        ref[i], sums[:, i] = _segment_sums(panel, start, source)
    any_bar = panel.valid.any(axis=1)
    last_t = t - 1 - np.argmax(panel.valid[:, ::-1], axis=1)
    last = np.where(any_bar, panel.close[np.arange(s), last_t], np.nan)
    st.update(
        ref=mx.array(ref),
        s0=mx.array(sums[0], dtype=mx.float32),
        s1=mx.array(sums[1], dtype=mx.float32),
        s2=mx.array(sums[2], dtype=mx.float32),
        last=mx.array(last, dtype=mx.float32),
        seg=mx.array(seg_now),
    )
    return st


# -------------------------------------------------------------------- custom anchors


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
    p = price(inp.open, inp.high, inp.low, inp.close, source)
    nxt = mx.cummin(mx.where(on, pos, t), axis=1, reverse=True)[:, :1]
    ref = mx.where(nxt < t, mx.take_along_axis(p, mx.minimum(nxt, t - 1), axis=1), 0.0)
    d = mx.where(on, p - ref, 0.0)
    v = mx.where(on, inp.volume, 0.0)
    s0, s1, s2 = (_comp_sum(x) for x in (v, v * d, v * d * d))
    lc = _ffill_close(inp.close, inp.valid)
    return finish(ref, s0, s1, s2, lc, mode, mults, with_sd)


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
    p = price(inp.open, inp.high, inp.low, inp.close, source)[None, :]
    new = shifted_update(st, mx.array(False), bar, p, inp.volume[None, :], inp)
    new["anchor"] = st["anchor"]
    return new, {n: a[0] for n, a in shifted_outputs(new, mode, mults).items()}


# ------------------------------------------------------------------- local driver


def step_at(inp: BatchInputs, t: int) -> StepInputs:
    """Minute ``t`` of a panel as StepInputs (what a live feed would deliver)."""
    return StepInputs(
        open=inp.open[:, t],
        high=inp.high[:, t],
        low=inp.low[:, t],
        close=inp.close[:, t],
        volume=inp.volume[:, t],
        valid=inp.valid[:, t],
        segments={k: v[t : t + 1] for k, v in inp.segments.items()},
        minute_of_session=inp.minute_of_session[t : t + 1],
        session_minutes=inp.session_minutes[t : t + 1],
        ts_minutes=inp.ts_minutes[t : t + 1],
    )


Step = Callable[[State, StepInputs], tuple[State, Outputs]]


def compile_step(step: Step) -> Callable[[State, StepInputs], tuple[State, Outputs]]:
    """``step`` as one compiled call (StepInputs flattened to a dict for mx.compile).

    A stand-in for the app's IncrementalEngine, for tests and benchmarks.
    """
    fields = [f.name for f in dataclasses.fields(StepInputs)]
    fn = mx.compile(lambda st, d: step(st, StepInputs(**d)))

    def run(st: State, inp: StepInputs) -> tuple[State, Outputs]:
        return fn(st, {f: getattr(inp, f) for f in fields})

    return run


def replay(step: Step, state: State, inp: BatchInputs) -> dict[str, mx.array]:
    """Step through every minute of a panel; outputs stacked to ``[S, T]``."""
    run = compile_step(step)
    rows: dict[str, list[mx.array]] = {}
    for t in range(inp.close.shape[1]):
        state, out = run(state, step_at(inp, t))
        mx.eval(state, out)
        for k, a in out.items():
            rows.setdefault(k, []).append(a)
    return {k: mx.stack(v, axis=1) for k, v in rows.items()}
