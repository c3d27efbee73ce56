"""The numerics every AVWAP form shares: price sources, stable moments, bands.

Why this module exists: calendar, custom and auto anchors, in batch and step
form, must all agree with a float64 reference in float32 (the dtype Apple GPUs
have). They do so by keeping the same three moments per anchor, computed the
same stable way:

- ``ref``: the segment's first real price; every price enters as ``d = p − ref``,
  taken exactly from the bars' int32 ticks (``price_ticks``: hlc3 is the integer
  ``h + l + c`` over ``3·10,000``) and converted once, so ``d`` carries only its
  own rounding, never the rounding of two absolute float32 prices (a float32
  hlc3 at $130 is off by up to ~4e-6, which is 0.3 % of a σ of 1e-5 of the
  price over a few bars).
- ``s0 = Σv`` and ``s1 = Σv·d`` (compensated), so ``level = ref + s1/s0`` is
  exact to float32 rounding of the *offset*, not of the price.
- ``m2 = Σv·(p − level)²``, the volume-weighted sum of squared deviations from
  the current level, grown by Welford's increment

      m2 += v · (d − m_prev)² · W_prev / W          (``welford_increment``)

  where ``m_prev = s1/s0`` and ``W_prev = s0`` before the bar and ``W = s0``
  after it. Every increment is ≥ 0, so nothing cancels; σ² = m2/s0 is
  TradingView's σ² = Σv·p²/Σv − VWAP², computed without its subtraction.

The old "shifted Σv·d²" form lost σ in proportion to eps·(level − ref)²/σ²:
a thin first bar far from the segment's later prices cost up to ~1 % of σ.
Welford's increment only needs ``d − m_prev`` to be accurate, so its error is
about eps·|level − ref|/σ: linear, not squared, in the same ratio.

A batch form computes ``m_prev`` and ``W_prev`` for every cell from the
compensated prefix sums (the previous cell's values), the increments
elementwise, and ``m2`` as their (segmented) cumulative sum. Pieces with their
own moments (days, candidates, carries) combine with ``merge_moments``: the
total m2 is the pieces' m2 plus each piece's weight times its mean's squared
distance from the total mean (Chan et al.), again a sum of non-negative terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import numpy as np

from engine.kernels import TICKS

SOURCES: tuple[str, ...] = ("hlc3", "close", "hl2", "ohlc4")
BAND_MODES: tuple[str, ...] = ("stdev", "percent")
MULTS: tuple[float, ...] = (1.0, 2.0, 3.0)
NAN = float("nan")


def band_suffixes(n: int = 3) -> tuple[str, ...]:
    """Output suffixes after the level: ``up1, dn1, …, upN, dnN, z``."""
    return (*(f"{s}{i}" for i in range(1, n + 1) for s in ("up", "dn")), "z")


DEN = {"hlc3": 3, "close": 1, "hl2": 2, "ohlc4": 4}


def price_ticks(inp: Any, source: str) -> tuple[mx.array, int]:
    """The price a bar contributes as an int32 numerator in ticks and its denominator.

    ``inp`` is ``BatchInputs``, ``StepInputs`` or anything with ``open_t`` …
    ``close_t``; differences of numerators are exact, ``ticks_price`` converts.
    """
    if source == "hlc3":
        return inp.high_t + inp.low_t + inp.close_t, 3
    if source == "close":
        return inp.close_t, 1
    if source == "hl2":
        return inp.high_t + inp.low_t, 2
    if source == "ohlc4":
        return inp.open_t + inp.high_t + inp.low_t + inp.close_t, 4
    raise ValueError(f"price source must be one of {SOURCES}, not {source!r}")


def ticks_price(x: mx.array, den: int) -> mx.array:
    """A price numerator (or a difference of two) from ``price_ticks`` as float32 price."""
    return x.astype(mx.float32) / float(den * TICKS)


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


def check_mode(mode: str) -> None:
    if mode not in BAND_MODES:
        raise ValueError(f"band mode must be one of {BAND_MODES}, not {mode!r}")


def bands(level: mx.array, sd: mx.array, mode: str, mults: Sequence[float]) -> list[mx.array]:
    """``up1, dn1, …`` around ``level``: ±k·σ, or ±k % of the level in ``percent`` mode
    (TradingView's "Percentage" band mode)."""
    check_mode(mode)
    out = []
    for k in mults:
        if mode == "stdev":
            out += [level + k * sd, level - k * sd]
        else:
            out += [level * (1.0 + k / 100.0), level * (1.0 - k / 100.0)]
    return out


def sigma(m2: mx.array, s0: mx.array) -> mx.array:
    """Volume-weighted σ from the moments (m2 ≥ 0 by construction; NaN where Σv = 0)."""
    return mx.sqrt(mx.maximum(m2, 0.0) / s0)


def finish(
    ref: mx.array,
    s0: mx.array,
    s1: mx.array,
    m2: mx.array,
    last_close: mx.array,
    mode: str = "stdev",
    mults: Sequence[float] = MULTS,
    with_sd: bool = False,
) -> dict[str, mx.array]:
    """Level, bands and z (and σ as ``sd`` if asked) from the moments.

    NaN where Σv is 0 (TradingView draws nothing before volume); z is the
    close's distance from the level in σ in both band modes, NaN where σ is 0.
    """
    check_mode(mode)
    m = s1 / s0
    level = ref + m
    sd = sigma(m2, s0)
    out = {"level": level}
    out.update(zip(band_suffixes(len(mults))[:-1], bands(level, sd, mode, mults), strict=True))
    out["z"] = zscore(last_close, ref, m, sd)
    if with_sd:
        out["sd"] = sd
    return out


TINY = 1e-30  # guards x/0 where the quotient is then multiplied by 0 anyway


def welford_increment(
    v: mx.array, d: mx.array, w_prev: mx.array, s1_prev: mx.array, w: mx.array
) -> mx.array:
    """What a bar of volume ``v`` at offset ``d`` adds to m2: v·(d − m_prev)²·W_prev/W,
    with ``m_prev = s1_prev / W_prev`` (the moments before the bar, ``W`` after it).

    Zero for the segment's first weighted bar (``W_prev = 0``, so ``s1_prev = 0``)
    and for a bar without volume, by arithmetic rather than ``where`` (which
    costs ~4× an arithmetic op on MLX's CPU backend and does not fuse as well):
    every input must be finite, so callers pass ``d = 0`` for a missing bar.
    """
    m_prev = s1_prev / mx.maximum(w_prev, TINY)
    a = d - m_prev
    return (v * a * a) * (w_prev / mx.maximum(w, TINY))


def zscore(last_close: mx.array, ref: mx.array, m: mx.array, sd: mx.array) -> mx.array:
    """The close's distance from the level ``ref + m`` in σ (NaN where σ is 0).

    Taken from the offset ``m``, not the level, so that z keeps the offset's
    precision where σ is tiny next to the price."""
    return mx.where(sd > 0, ((last_close - ref) - m) / sd, NAN)


def _add(a: mx.array, b: mx.array) -> mx.array:
    return a + b


# Single-output compiled kernels for the batch forms (on MLX's CPU backend one
# fused kernel per output beats a multi-output one several times over).
increment_kernel = mx.compile(welford_increment)
zscore_kernel = mx.compile(zscore)
level_kernel = mx.compile(_add)  # ref + offset


@mx.compile
def band_kernel(level: mx.array, sd: mx.array, k: mx.array) -> mx.array:
    """``level + k·σ`` as one pass (unfused it is two, a multiply and an add)."""
    return level + k * sd


def band_kernels(
    level: mx.array, sd: mx.array, mode: str, mults: Sequence[float]
) -> list[mx.array]:
    """``bands`` for the batch forms: each band one compiled pass."""
    if mode != "stdev":
        return bands(level, sd, mode, mults)
    return [band_kernel(level, sd, mx.array(x, dtype=mx.float32)) for k in mults for x in (k, -k)]


def merge_moments(
    s0: mx.array, s1: mx.array, m2: mx.array, axis: int
) -> tuple[mx.array, mx.array, mx.array]:
    """Moments of the union of pieces stacked on ``axis`` (all ``s1`` on one ref).

    m2 = Σ m2ᵢ + Σ s0ᵢ·(meanᵢ − mean)²: the within-piece plus between-piece
    spread, every term ≥ 0 (Chan, Golub & LeVeque's pairwise update, for many
    pieces at once). Pieces with ``s0 = 0`` contribute nothing.
    """
    w = mx.sum(s0, axis=axis)
    t1 = mx.sum(s1, axis=axis)
    mean = mx.expand_dims(t1 / mx.where(w > 0, w, 1.0), axis)
    has = s0 > 0
    dm = mx.where(has, s1 / mx.where(has, s0, 1.0) - mean, 0.0)
    return w, t1, mx.sum(m2 + s0 * dm * dm, axis=axis)


class TickMoments:
    """Float64 (Σv, Σv·d, m2) and the reference tick of many rows, merged chunk by chunk.

    The closed-form AVWAP states (calendar anchors from a whole panel, custom
    anchors added live) read history in time chunks: each chunk's moments are
    exact two-pass sums around the chunk's own mean, merged into the running
    total with Chan's update, so memory stays bounded and nothing cancels. The
    offsets ``d`` from the first bar's price are exact, from integer ticks.
    """

    def __init__(self, rows: int, unit: float) -> None:
        self.unit = unit
        self.reft = np.zeros(rows, dtype=np.int64)
        self.seen = np.zeros(rows, dtype=bool)
        self.w, self.s1, self.m2 = (np.zeros(rows) for _ in range(3))

    def add(self, pt: np.ndarray, bars: np.ndarray, volume: np.ndarray) -> None:
        """Merge one chunk: tick prices ``pt``, real ``bars`` and ``volume``, all [rows, T]."""
        r = len(self.w)
        need = ~self.seen & bars.any(axis=1)
        if need.any():
            first = np.argmax(bars, axis=1)
            self.reft = np.where(need, pt[np.arange(r), first], self.reft)
            self.seen |= need
        d = np.where(bars, (pt - self.reft[:, None]) / self.unit, 0.0)  # exact, float64
        v = np.where(bars, volume.astype(np.float32), 0.0).astype(np.float64)
        cw = v.sum(axis=1)
        cs1 = (v * d).sum(axis=1)
        cm = np.divide(cs1, cw, out=np.zeros(r), where=cw > 0)
        cm2 = (v * (d - cm[:, None]) ** 2).sum(axis=1)
        w, s1 = self.w, self.s1
        tot = w + cw
        mean = np.divide(s1, w, out=np.zeros(r), where=w > 0)
        delta = cm - mean
        self.m2 = self.m2 + cm2 + np.divide(delta * delta * w * cw, tot, out=np.zeros(r),
                                            where=tot > 0)
        self.w, self.s1 = tot, s1 + cs1

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reference price float32 (NaN without a bar), its ticks int32, [Σv, Σv·d, m2])."""
        ref = np.where(self.seen, (self.reft / self.unit).astype(np.float32), np.float32(np.nan))
        return ref, self.reft.astype(np.int32), np.stack([self.w, self.s1, self.m2])


def kahan(s: mx.array, c: mx.array, x: mx.array) -> tuple[mx.array, mx.array]:
    """Add ``x`` to the compensated sum ``(s, c)``."""
    y = x - c
    t = s + y
    return t, (t - s) - y


def comp_cumsum(x: mx.array) -> tuple[mx.array, mx.array]:
    """Cumsum along the last axis as a (high, low) pair: Σx ≈ hi + lo to ~eps·|Σx|.

    The low part sums what each float32 step of the high cumsum dropped
    (``x − (C[t] − C[t−1])``); the telescoping differences are exact or nearly
    so, so the pair is accurate whatever order the cumsum adds in.
    """
    hi = mx.cumsum(x, axis=-1)
    lo = mx.cumsum(x - (hi - shift_right(hi)), axis=-1)
    return hi, lo


def comp_sum(x: mx.array) -> mx.array:
    """The compensated cumsum folded back into one float32 array."""
    hi, lo = comp_cumsum(x)
    return hi + lo


def shift_right(x: mx.array, fill: float = 0.0) -> mx.array:
    """``x`` one step later along the last axis: out[..., t] = x[..., t−1]."""
    pad = mx.full((*x.shape[:-1], 1), fill, dtype=x.dtype)
    return mx.concatenate([pad, x[..., :-1]], axis=-1)


def ffill_close(close: mx.array, valid: mx.array) -> mx.array:
    """Each cell's latest real close at or before it (NaN before the first)."""
    t = mx.arange(close.shape[1], dtype=mx.int32)
    last = mx.cummax(mx.where(valid, t, -1), axis=1)
    got = mx.take_along_axis(close, mx.maximum(last, 0), axis=1)
    return mx.where(last >= 0, got, NAN)


# ------------------------------------------------------------------ block layout

_MAX_BLOCK = 64


@dataclass(frozen=True)
class BlockPlan:
    """Host-side block layout for a set of segmentations ``[K, T]``.

    Time is cut into blocks of ``block`` minutes, the largest size up to 64 that
    divides every segment edge, so ``[S, T]`` reshapes to ``[S, nB, B]`` and no
    block straddles a segment: in-block scans are shared by every row, and only
    the small ``[K, S, nB]`` block totals are scanned per segment."""

    block: int
    n_blocks: int
    pad: int
    start_block: np.ndarray  # int32 [K, nB]: first block of each block's segment
    active: np.ndarray  # bool [K, nB]: block lies in a segment (id != -1)


def block_plan(seg: np.ndarray) -> BlockPlan:
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
    return BlockPlan(block, n_blocks, pad, start, blk != -1)


def seg_exclusive(x: mx.array, start: mx.array) -> mx.array:
    """Σ of ``x`` over earlier blocks of the same segment (compensated), ``[K, S, nB]``."""
    hi, lo = comp_cumsum(x)
    zero = mx.zeros_like(hi[..., :1])
    hz = mx.concatenate([zero, hi], axis=-1)
    lz = mx.concatenate([zero, lo], axis=-1)
    nb = x.shape[-1]
    return (hz[..., :nb] - mx.take_along_axis(hz, start, axis=-1)) + (
        lz[..., :nb] - mx.take_along_axis(lz, start, axis=-1)
    )
