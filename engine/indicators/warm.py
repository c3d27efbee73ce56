"""Read a bar-sequence indicator's step state off its batch series, at any bar count.

Why this module exists: warming a console by stepping minutes through the
compiled step costs one call per minute (the cost is per call, not per
symbol), so a month of history took seconds even for one symbol. The batch
form already computes every intermediate series over the whole history in a
few vectorised passes; the state the step would hold after ``m`` real bars is
read from those series at bar ``m - 1``: the last value of an EMA or a Wilder
sum, the raw values a window still needs, the first close a ``ref`` shift uses.

Each family passes ``state=`` to ``seq_indicator``: a function
``(c: Compact, m: int32 [S]) -> State`` laid out as its ``init`` makes it, for
the state after each symbol's first ``m`` compacted bars (``m`` may be 0: the
``init`` values). Before an EMA's seed the step holds the partial sum of its
seed window, not an average; ``ema_y`` reproduces that too, so a symbol with
few bars warms to exactly the state stepping would give.
"""

from __future__ import annotations

import mlx.core as mx

from engine import kernels as K


def at(x: mx.array, m: mx.array, fill: float | int = 0) -> mx.array:
    """``x[:, m-1]`` per symbol (``[S]``); ``fill`` where ``m == 0``."""
    i = mx.clip(m - 1, 0, x.shape[1] - 1)[:, None]
    v = mx.take_along_axis(x, i.astype(mx.int32), axis=1)[:, 0]
    return mx.where(m > 0, v, mx.array(fill, dtype=x.dtype))


def window(x: mx.array, m: mx.array, w: int, fill: float | int = 0) -> mx.array:
    """``x[:, m-w : m]`` per symbol (``[S, w]``, oldest first), ``fill`` before bar 0:
    what a ``push`` buffer of ``w`` holds after ``m`` bars."""
    idx = m[:, None] - w + mx.arange(w, dtype=mx.int32)[None, :]
    v = mx.take_along_axis(x, mx.clip(idx, 0, x.shape[1] - 1).astype(mx.int32), axis=1)
    return mx.where(idx >= 0, v, mx.array(fill, dtype=x.dtype))


def first(x: mx.array, m: mx.array, fill: float | int = 0) -> mx.array:
    """``x[:, 0]`` where a bar was seen (the ``ref`` a step takes at ``n == 1``)."""
    return mx.where(m > 0, x[:, 0], mx.array(fill, dtype=x.dtype))


def partial_sum(x: mx.array, m: mx.array, start: int) -> mx.array:
    """``sum(x[start : m])`` per symbol (0 when ``m <= start``), summed in order."""
    ar = mx.arange(x.shape[1])[None, :]
    return at(mx.cumsum(mx.where(ar >= start, x, 0.0), axis=1), m, 0.0)


def ema_y(x: mx.array, m: mx.array, period: int, *, lead: int = 0,
          seed_at: int | None = None, k: float | None = None) -> mx.array:
    """``ema_step``'s ``y`` after ``m`` bars of input ``x`` (``K.ema``'s arguments).

    Before the seed it is the running sum of the seed window (0 before the
    window opens); from the seed on, the EMA itself.
    """
    seed_at = lead + period - 1 if seed_at is None else seed_at
    start = seed_at - period + 1
    series = K.ema(x, period, lead=lead, seed_at=seed_at, k=k)
    return mx.where(m - 1 < seed_at, partial_sum(x, m, start), at(series, m, 0.0))


def lag_ag(x: mx.array, d: mx.array, m: mx.array, period: int,
           seed_at: int) -> tuple[mx.array, mx.array]:
    """``lag_step``'s ``(a, g)`` after ``m`` bars: the seed window's running sum
    (it keeps summing after the seed; only the seed reads it) and ``x - EMA``."""
    a = partial_sum(x, m, seed_at - period + 1)
    return a, at(K.ema_lag(x, d, period, seed_at=seed_at), m, 0.0)


def wilder_s(x: mx.array, m: mx.array, n: int) -> mx.array:
    """TA-Lib's DM/TR running sum after ``m`` bars (``adx_step``'s ``sp``/``sm``/``st``):
    the plain sum of bars 1.. through bar ``n - 1``, then ``K.wilder_sum``."""
    series = K.wilder_sum(x, n, 1)
    return mx.where(m - 1 <= n - 1, partial_sum(x, m, 1), at(series, m, 0.0))
