"""Shared MLX primitives for the indicator batch forms ([S, T] float32 arrays).

Indicators are defined on each symbol's sequence of *real* bars. ``compact``
gathers every symbol's valid bars to the front of the time axis, so the maths
never sees a hole and every warm-up position is the same static index for all
symbols; ``expand`` scatters results back onto the minute grid, repeating the
last value across missing minutes.

Recursive filters (EMA, Wilder, KAMA) run as linear recurrences
``y[t] = a[t] * y[t-1] + b[t]``: with a constant ``a`` as a rebased cumsum
inside short blocks plus a log-depth carry between blocks (a cumsum is ~10x
cheaper than a decay-matrix matmul on CPU), with a varying ``a`` as a
log-depth doubling scan. Rolling sums use block-local prefix sums so
float32 error scales with the block, not with the length of the series.

Exact prices: ``Compact`` also carries the bars as int32 ticks of 1/10,000
(``engine.inputs``). Differences, ranges and tie comparisons of prices are
taken on those in integers and converted afterwards (``to_price``), so a tie
of typical prices or of up/down moves stays a tie, and a one-cent range is
exactly 0.01 however large the price. A difference of ticks converts to
float32 exactly up to 2**24 ticks ($1,677).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mlx.core as mx
import numpy as np

NAN = float("nan")
INF = float("inf")
_BLOCK = 64
TICKS = 10_000  # ticks per price unit: integer prices of 1/10,000


def to_price(ticks: mx.array) -> mx.array:
    """Integer ticks (a price, a difference or a sum of them) as float32 price units.

    Division by the exact constant rounds once (multiplying by an inexact 1e-4
    would round twice).
    """
    return ticks.astype(mx.float32) / TICKS


# ---------------------------------------------------------------------------
# compaction


@dataclass(frozen=True)
class Compact:
    """Each symbol's real bars at the front of the time axis (``[S, T]``)."""

    open: mx.array
    high: mx.array
    low: mx.array
    close: mx.array
    volume: mx.array
    pos: mx.array  # int32 [S, T]: compacted index of the last real bar at or before t (-1: none)
    open_t: mx.array  # int32 ticks of 1/10,000 of the same bars
    high_t: mx.array
    low_t: mx.array
    close_t: mx.array

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.close.shape)  # type: ignore[return-value]


def compact(open_: mx.array, high: mx.array, low: mx.array, close: mx.array,
            volume: mx.array, valid: mx.array, ticks: tuple[mx.array, ...]) -> Compact:
    """Gather valid bars to the front; padding repeats the last bar (finite).

    ``ticks`` are open, high, low, close as int32 ticks (``BatchInputs.*_t``).
    """
    t = valid.shape[1]
    ar = mx.arange(t, dtype=mx.int32)[None, :]
    order = mx.argsort(mx.where(valid, ar, ar + t), axis=1).astype(mx.int32)
    count = valid.astype(mx.int32).sum(axis=1, keepdims=True)
    idx = mx.take_along_axis(order, mx.clip(mx.minimum(ar, count - 1), 0, t - 1), axis=1)
    def g(x: mx.array, fill: float | int) -> mx.array:
        y = mx.take_along_axis(x, idx, axis=1)
        return mx.where(count > 0, y, fill)
    pos = mx.cumsum(valid.astype(mx.int32), axis=1) - 1
    ot, ht, lt, ct = (g(x, TICKS) for x in ticks)
    return Compact(g(open_, 1.0), g(high, 1.0), g(low, 1.0), g(close, 1.0), g(volume, 0.0), pos,
                   ot, ht, lt, ct)


def expand(x: mx.array, pos: mx.array) -> mx.array:
    """Compacted ``[S, T]`` values back on the minute grid (NaN before the first bar)."""
    y = mx.take_along_axis(x, mx.maximum(pos, 0), axis=1)
    return mx.where(pos >= 0, y, NAN)


@mx.compile
def _expand_from(x: mx.array, pos: mx.array, first: mx.array) -> mx.array:
    y = mx.take_along_axis(x, mx.maximum(pos, 0), axis=1)
    return mx.where(pos >= first, y, NAN)


def expand_warm(x: mx.array, pos: mx.array, warmup: int) -> mx.array:
    """``expand(mask_warmup(x, warmup), pos)`` in one gather and one select.

    Why: every bar-sequence output goes through it (~150 per registry batch);
    as separate passes it was ~2.4 ms each on [100, 5000], a quarter of the
    batch. A grid minute is NaN when its last real bar is a warm-up one.
    """
    return _expand_from(x, pos, mx.array(max(warmup, 0), dtype=mx.int32))


def mask_warmup(x: mx.array, warmup: int) -> mx.array:
    """NaN for the first ``warmup`` (compacted) positions."""
    if warmup <= 0:
        return x
    t = x.shape[1]
    keep = mx.arange(t)[None, :] >= warmup
    return mx.where(keep, x, NAN)


# ---------------------------------------------------------------------------
# shifts and windows


def shift(x: mx.array, k: int, fill: float | mx.array = 0.0) -> mx.array:
    """``y[:, t] = x[:, t-k]`` (``fill`` for ``t < k``)."""
    if k == 0:
        return x
    s, t = x.shape
    if k >= t:
        return mx.broadcast_to(mx.array(fill, dtype=x.dtype), x.shape) * 1
    head = mx.broadcast_to(mx.array(fill, dtype=x.dtype) if not isinstance(fill, mx.array)
                           else fill, (s, k)).astype(x.dtype)
    return mx.concatenate([head, x[:, : t - k]], axis=1)


def first_col(x: mx.array, at: int = 0) -> mx.array:
    """Per-symbol reference value ``x[:, at]`` as ``[S, 1]``."""
    at = min(at, x.shape[1] - 1)
    return x[:, at : at + 1]


@lru_cache(maxsize=64)
def _block_plan(t: int, n: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    b = max(_BLOCK, 1 << (max(n, 1) - 1).bit_length())
    k = -(-t // b)
    ar = np.arange(t)
    j = ar - n
    prev_block = np.clip(j, 0, None) // b
    same = (j >= 0) & (prev_block == ar // b)
    return b, k, prev_block.astype(np.int32), same


def rolling_sum(x: mx.array, n: int) -> mx.array:
    """Sum of the last ``n`` values (partial sums for ``t < n-1``)."""
    s, t = x.shape
    if n <= 1:
        return x
    b, k, prev_block, same = _block_plan(t, n)
    pad = k * b - t
    xp = mx.concatenate([x, mx.zeros((s, pad), x.dtype)], axis=1) if pad else x
    local = mx.cumsum(xp.reshape(s, k, b), axis=2)
    totals = local[:, :, -1]
    local = local.reshape(s, k * b)[:, :t]
    lj = shift(local, n, 0.0)
    tot_j = mx.take(totals, mx.array(prev_block), axis=1)
    j_ok = mx.array(np.arange(t) >= n)[None, :]
    cross = local + (tot_j - lj)
    inner = local - lj
    return mx.where(mx.array(same)[None, :], inner, mx.where(j_ok, cross, local))


def rolling_mean(x: mx.array, n: int) -> mx.array:
    return rolling_sum(x, n) / n


def window_stack(x: mx.array, n: int) -> list[mx.array]:
    """``[x[t-n+1], …, x[t]]`` as n shifted arrays (edge filled with x[:, :1]).

    Why slices: each is a strided view of one padded copy, so the window costs
    one copy instead of n (an elementwise consumer reads the views in place).
    """
    s, t = x.shape
    if n <= 1:
        return [x]
    xp = mx.concatenate([mx.broadcast_to(x[:, :1], (s, n - 1)), x], axis=1)
    return [xp[:, i : i + t] for i in range(n)]


def rolling_max(x: mx.array, n: int) -> mx.array:
    return _rolling_extreme(x, n, mx.maximum)


def rolling_min(x: mx.array, n: int) -> mx.array:
    return _rolling_extreme(x, n, mx.minimum)


def _rolling_extreme(x: mx.array, n: int, op) -> mx.array:  # type: ignore[no-untyped-def]
    """Sparse-table doubling: log2(n) passes instead of n."""
    edge = x[:, :1]
    y, span = x, 1
    while span * 2 <= n:
        y = op(y, shift(y, span, edge))
        span *= 2
    if span < n:
        y = op(y, shift(y, n - span, edge))
    return y


def rolling_arg_extreme(x: mx.array, n: int, highest: bool) -> mx.array:
    """Bars since the window's extreme over the last ``n`` values (latest wins ties)."""
    s, t = x.shape
    idx = mx.broadcast_to(mx.arange(t, dtype=mx.float32)[None, :], (s, t))
    v, i, span = x, idx, 1
    def comb(v1, i1, v2, i2):  # type: ignore[no-untyped-def]
        better = (v2 > v1) if highest else (v2 < v1)
        tie = (v2 == v1) & (i2 > i1)
        take2 = better | tie
        return mx.where(take2, v2, v1), mx.where(take2, i2, i1)
    edge_v, edge_i = x[:, :1], mx.zeros((s, 1))
    while span * 2 <= n:
        v, i = comb(shift(v, span, edge_v), shift(i, span, edge_i), v, i)
        span *= 2
    if span < n:
        v, i = comb(shift(v, n - span, edge_v), shift(i, n - span, edge_i), v, i)
    return idx - i


# ---------------------------------------------------------------------------
# linear recurrences


@lru_cache(maxsize=128)
def _rebase(a: float) -> tuple[int, np.ndarray, np.ndarray]:
    """Block length and the ``a**-j`` / ``a**(j+1)`` weights for ``scan_const``.

    The block is short enough that ``a**-(b-1)`` stays far from float32 overflow.
    """
    b = _BLOCK
    if 0.0 < a < 1.0:
        while b > 1 and (b - 1) * -np.log10(a) > 12.0:
            b //= 2
    j = np.arange(b, dtype=np.float64)
    inv = np.power(a, -j) if a != 0.0 else (j == 0).astype(np.float64)
    return b, inv.astype(np.float32), np.power(a, j + 1).astype(np.float32)


def scan_const(a: float, b_: mx.array) -> mx.array:
    """``y[t] = a * y[t-1] + b[t]`` (``y[-1] = 0``) over axis 1.

    Inside a block of ``bl`` steps ``y[t] = a**t * cumsum(b[j] * a**-j)`` (one
    cumsum, no matmul); block ends are chained by a log-depth scan over blocks.
    Rounding is relative to the largest recent terms, as with a direct loop.
    """
    s, t = b_.shape
    a = float(a)
    bl, inv, powers = _rebase(a)
    k = -(-t // bl)
    pad = k * bl - t
    x = mx.concatenate([b_, mx.zeros((s, pad), b_.dtype)], axis=1) if pad else b_
    x = x.reshape(s, k, bl)
    fwd = mx.array(np.concatenate([[1.0], powers[:-1]]).astype(np.float32))
    local = mx.cumsum(x * mx.array(inv), axis=2) * fwd
    if k > 1:
        carry = scan_var(mx.full((s, k), a ** bl), local[:, :, -1])  # y at each block end
        carry = mx.concatenate([mx.zeros((s, 1)), carry[:, :-1]], axis=1)
        local = local + carry[:, :, None] * mx.array(powers)[None, None, :]
    return local.reshape(s, k * bl)[:, :t]


def scan_var(a: mx.array, b_: mx.array) -> mx.array:
    """``y[t] = a[t] * y[t-1] + b[t]`` (``y[-1] = 0``) by a log-depth doubling scan."""
    span, t = 1, b_.shape[1]
    while span < t:
        b_ = a * shift(b_, span, 0.0) + b_
        a = a * shift(a, span, 1.0)
        span *= 2
    return b_


def _seed_series(x: mx.array, k: float, seed_at: int, seed: mx.array) -> mx.array:
    t = x.shape[1]
    ar = mx.arange(t)[None, :]
    return mx.where(ar == seed_at, seed, mx.where(ar > seed_at, k * x, 0.0))


def ema(x: mx.array, n: int, lead: int = 0, seed_at: int | None = None,
        k: float | None = None) -> mx.array:
    """TA-Lib EMA: seeded at ``seed_at`` (default ``lead+n-1``) by the SMA ending there.

    ``k`` defaults to ``2/(n+1)``; pass ``1/n`` for Wilder smoothing. Values before
    the seed are 0 (masked as warm-up by the caller).
    """
    k = 2.0 / (n + 1) if k is None else k
    seed_at = lead + n - 1 if seed_at is None else seed_at
    t = x.shape[1]
    if seed_at >= t:
        return mx.zeros_like(x)
    ref = first_col(x, seed_at)
    xs = x - ref
    seed = xs[:, seed_at - n + 1 : seed_at + 1].mean(axis=1, keepdims=True)
    return scan_const(1.0 - k, _seed_series(xs, k, seed_at, seed)) + ref


def ema_lag(x: mx.array, d: mx.array, n: int, seed_at: int | None = None) -> mx.array:
    """``x - ema(x, n, seed_at=...)`` from the differences ``d[t] = x[t] - x[t-1]``.

    Why: MACD is a difference of two EMAs of a price; differencing two float32
    EMAs of a level loses the digits the level and the result do not share.
    The lag ``g = x - EMA`` obeys ``g[t] = (1-k)(g[t-1] + d[t])`` from
    ``g[seed] = x[seed] - SMA``: a recurrence on bar-to-bar moves, bounded by
    them, so float32 keeps its relative precision (as ADOSC does for A/D).
    Values before the seed are 0 (masked as warm-up by the caller).
    """
    k = 2.0 / (n + 1)
    seed_at = n - 1 if seed_at is None else seed_at
    t = x.shape[1]
    if seed_at >= t:
        return mx.zeros_like(x)
    g0 = (x[:, seed_at : seed_at + 1] - x[:, seed_at - n + 1 : seed_at + 1]).mean(
        axis=1, keepdims=True)
    ar = mx.arange(t)[None, :]
    b_ = mx.where(ar == seed_at, g0, mx.where(ar > seed_at, (1.0 - k) * d, 0.0))
    return scan_const(1.0 - k, b_)


def ema_first(x: mx.array, n: int) -> mx.array:
    """EMA seeded with the first value (TA-Lib ADOSC's convention)."""
    k = 2.0 / (n + 1)
    ref = first_col(x, 0)
    xs = x - ref
    return scan_const(1.0 - k, _seed_series(xs, k, 0, xs[:, :1])) + ref


def wilder_sum(x: mx.array, n: int, lead: int) -> mx.array:
    """TA-Lib's DM/TR running sums: seed = sum of n-1 values from ``lead``, then
    ``s[t] = s[t-1] - s[t-1]/n + x[t]``."""
    seed_at = lead + n - 2
    t = x.shape[1]
    if seed_at >= t or n < 2:
        return mx.zeros_like(x)
    seed = x[:, lead : seed_at + 1].sum(axis=1, keepdims=True)
    ar = mx.arange(t)[None, :]
    b_ = mx.where(ar == seed_at, seed, mx.where(ar > seed_at, x, 0.0))
    return scan_const(1.0 - 1.0 / n, b_)


def ema_diff(d: mx.array, n: int, lead: int, k: float | None = None) -> mx.array:
    """First difference of ``ema(x, n, lead)`` from the differences ``d`` of x.

    ``d[t] = x[t] - x[t-1]``. Exact algebra, no cancellation between large
    levels: TRIX needs it in float32. Valid from ``lead + n`` on.
    """
    k = 2.0 / (n + 1) if k is None else k
    s = lead + n - 1
    t = d.shape[1]
    if s + 1 >= t:
        return mx.zeros_like(d)
    w = mx.array(np.arange(1, n + 1, dtype=np.float32) / n)
    # x[s+1] - mean(x[s-n+1..s]) = (1/n) * sum_i i * d[s-n+1+i]
    seed = (d[:, s - n + 2 : s + 2] * w[None, :]).sum(axis=1, keepdims=True) * k
    return scan_const(1.0 - k, _seed_series(d, k, s + 1, seed))


# ---------------------------------------------------------------------------
# calendar segments (intraday family works on the minute grid, not compacted)


_CUMULATIVE = {mx.maximum: mx.cummax, mx.minimum: mx.cummin}


def _identity(op, dtype: mx.Dtype) -> float | int:  # type: ignore[no-untyped-def]
    """The value ``op`` leaves anything unchanged with, in ``dtype``."""
    low = op is mx.maximum
    if mx.issubdtype(dtype, mx.floating):
        return -INF if low else INF
    info = mx.iinfo(dtype)
    return int(info.min if low else info.max)


def seg_scan(x: mx.array, seg: mx.array | np.ndarray, op) -> mx.array:  # type: ignore[no-untyped-def]
    """Running ``op`` (max/min) along time, restarting where ``seg`` [1, T] changes.

    Why blocked: a log-step scan over T costs ~3·log2(T) full passes (where,
    shift, op), ~20 ms on [100, 5000]. Segments here are calendar days, whose
    edges share a large common divisor (30 minutes on an exchange grid), so time
    is cut into blocks of that size: one native ``cummax``/``cummin`` inside the
    blocks, a log-step scan over the few block totals, and one ``op`` with the
    carry. Irregular edges fall back to blocks of 1 (the log-step scan).
    """
    try:
        cum = _CUMULATIVE[op]
    except KeyError as e:
        raise ValueError("seg_scan supports mx.maximum and mx.minimum") from e
    ids = np.asarray(seg).reshape(-1)
    s, t = x.shape
    edges = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    if t == 0 or len(edges) == 0:
        return cum(x, axis=1) if t else x
    b = int(np.gcd.reduce(edges))
    nb = -(-t // b)
    ident = _identity(op, x.dtype)
    if nb * b > t:
        x = mx.pad(x, [(0, 0), (0, nb * b - t)], constant_values=ident)
    inner = cum(x.reshape(s, nb, b), axis=-1)
    bseg = np.resize(ids[::b], nb)  # each block lies in one segment
    tot = inner[..., -1]
    span = 1
    while span < nb:
        same = mx.array(np.r_[np.zeros(span, bool), bseg[span:] == bseg[:-span]])
        tot = mx.where(same, op(tot, shift(tot, span, ident)), tot)
        span *= 2
    cont = mx.array(np.r_[False, bseg[1:] == bseg[:-1]])
    carry = mx.where(cont, shift(tot, 1, ident), ident)
    return op(carry[..., None], inner).reshape(s, nb * b)[:, :t]


def seg_last_index(idx: mx.array, seg: mx.array) -> mx.array:
    """Latest non-negative index so far within each segment (-1 when none)."""
    return seg_scan(idx, seg, mx.maximum)


@dataclass(frozen=True)
class DayLayout:
    day_index: np.ndarray  # [T] 0-based index of the day segment within the panel
    prev_day_end: np.ndarray  # [T] grid index of the previous day's last minute (-1: none)


def day_layout(day: np.ndarray) -> DayLayout:
    day = np.asarray(day)
    t = len(day)
    if t == 0:
        return DayLayout(np.zeros(0, np.int64), np.zeros(0, np.int32))
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    day_index = np.cumsum(np.r_[True, day[1:] != day[:-1]]) - 1
    prev_end = np.where(day_index > 0, starts[day_index] - 1, -1)
    return DayLayout(day_index, np.asarray(prev_end, dtype=np.int32))
