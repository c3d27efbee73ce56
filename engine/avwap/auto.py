"""Auto-anchored VWAPs: anchored at the highest high, the lowest low and the
highest-volume bar of the prior N trading days, moving once per day.

Why this module exists: traders anchor VWAP at the swing high/low or the
climax-volume bar of the last few sessions, and the console re-anchors that for
every symbol itself so the levels can be screened like the calendar ones.

Semantics (the contract both forms implement):

- Days are the calendar's ``day`` segments (the trading day, pre- and
  post-market included on an extended grid). The window is the N trading days
  before the current one *in the minute grid being processed*; a day on which a
  symbol has no bar still counts (a session without trades), so every symbol
  shares the same window.
- At the first minute of each day the anchor of each kind is chosen among the
  symbol's real bars of the window: the highest ``high`` (``hh``), the lowest
  ``low`` (``ll``), the highest ``volume`` (``hv``). Prices are compared in
  exact ticks; ties go to the earliest bar. The anchor stays fixed for the
  whole day and the AVWAP accumulates every real bar from the anchor bar
  (included) through now, current day included.
- Fewer than N prior days (the start of a panel or stream): the days available
  are used, as TradingView's lookbacks clip to the history they have. No prior
  day with a bar: NaN for that whole day.
- Levels, ±1/2/3σ bands and z follow ``engine.avwap.core.finish`` (hlc3 price by
  default), so the outputs are ``avwap_hh, avwap_hh_up1, avwap_hh_dn1, …,
  avwap_hh_z`` and the same for ``ll`` and ``hv``.

Precision: the stable moments of ``engine.avwap.core`` (``s0 = Σv``,
``s1 = Σv·(p−ref)``, ``m2 = Σv·(p − mean)²``). Each day keeps them relative to
its first real price ``q``, and each day's candidate keeps "from the candidate
to the end of the day" moments relative to the candidate's price. At a day
boundary the chosen candidate's moments and the later days' full-day moments
are merged (``merge_moments``) after re-shifting every ``s1`` to the anchor
price (``s1 + (old − new)·s0``; all refs lie within days of each other, so
nothing cancels; m2 is shift-invariant); the current day's moments so far join
that carry the same way at every minute. m2 only ever adds non-negative terms
(Welford increments within a day, between-piece spreads at a merge), so σ's
float32 error is about eps·|level − anchor price|/σ, not that ratio squared:
a thin anchor bar far from heavy later bars keeps σ to ~1e-4 where the
shifted Σv·(p−ref)² form lost ~1e-2 (tested).

Exact prices: every price enters in *numerator units* (``core.price_ticks``:
hlc3 = h + l + c in ticks) relative to a per-symbol base numerator (the
symbol's first real bar), as float32. Those are integers, so every difference
of prices (``p − q``, ``p − cp``, ``q − ar``) is exact while the symbol stays
within 2**24 numerator units of its base ($559 for hlc3, $1,677 for close);
the outputs are converted back to prices at the end (``_in_prices``). A
float32 hlc3 of absolute prices, differenced, cost σ up to ~5e-3 where σ is
1e-5 of the price.

Incremental state: a ring of the N prior days (full-day moments, and per kind
the best value, its price and its from-candidate moments), the current day's
moments (Kahan-compensated; m2 grows by Welford increments; a new extreme
restarts that kind's from-candidate moments at the bar) and the anchor's
carried moments. The day boundary is O(N) per symbol and everything is
elementwise, so the step compiles into the engine's call.
Batch: the same quantities per ``[symbol, day]``, on blocks of ``B`` minutes
that never straddle a day (``[S, T]`` reshapes to ``[S, nB, B]``, as in
``engine.avwap.calendar``): in-day prefix s0, s1 from in-block cumsums plus a
compensated carry over the day's earlier blocks, in-day prefix m2 the same way
from Welford increments (each cell's ``m_prev``, ``W_prev`` being the previous
cell's exclusive prefix), and per day and kind ``[S, D, L]`` windows (a reshape
when all days are as long) for the argmax and a two-pass tail m2; then the same
merges, and the outputs from one fused single-output kernel each with the day's
anchor broadcast over its blocks (no per-minute gather).
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import numpy as np

from engine.avwap.core import (
    MULTS,
    TINY,
    band_kernel,
    band_suffixes,
    block_plan,
    ffill_close,
    finish,
    increment_kernel,
    kahan,
    level_kernel,
    merge_moments,
    price_ticks,
    seg_exclusive,
    ticks_price,
    welford_increment,
    zscore_kernel,
)
from engine.indicator_types import BatchInputs, Outputs, State, StepInputs
from engine.kernels import TICKS

KINDS: tuple[str, ...] = ("hh", "ll", "hv")
DEFAULT_DAYS = 5
_NAN = float("nan")
_NEG = float("-inf")


def output_names(n_mults: int = 3) -> tuple[str, ...]:
    """``avwap_<kind>[_<suffix>]`` for ``hh, ll, hv``."""
    return tuple(
        f"avwap_{k}" if s == "level" else f"avwap_{k}_{s}"
        for k in KINDS
        for s in ("level", *band_suffixes(n_mults))
    )


def _keys(inp: BatchInputs | StepInputs, ref: mx.array, vol: mx.array, ok: mx.array) -> mx.array:
    """What each kind maximises (``-low`` for the lowest low); -inf where no bar.

    Why ticks: the choice of anchor bar is a path decision (the whole AVWAP
    restarts there), and float32 prices above $2,048 tie ticks that differ
    (4999.1234 and 4999.1236 are one float32). Highs and lows enter as int32
    ticks relative to ``ref`` (the symbol's first price in ticks), exact in
    float32 within 2**24 ticks ($1,677) of it, so a tie is a tie of ticks.
    Volume enters as given.
    """
    high = (inp.high_t - ref).astype(mx.float32)
    low = (inp.low_t - ref).astype(mx.float32)
    return mx.where(ok[None], mx.stack([high, -low, vol]), _NEG)


def _anchor(
    cand: Sequence[mx.array], full: Sequence[mx.array]
) -> tuple[mx.array, mx.array, mx.array, mx.array]:
    """Anchor price and carried moments from a window of days (both forms use this).

    ``cand = (cv, cp, c0, c1, cm)`` are ``[3, N, *X]`` (best key, its price,
    moments from it to the day's end with ``c1`` relative to that price);
    ``full = (q, f0, f1, fm)`` are ``[N, *X]`` (the day's first price and
    full-day moments, ``f1`` relative to it). Slot 0 is the oldest day.
    Returns ``ar, a0, a1, am`` of shape ``[3, *X]``, ``a1`` relative to ``ar``.
    """
    cv, cp, c0, c1, cm = cand
    q, f0, f1, fm = full
    n = cv.shape[1]
    j = mx.argmax(cv, axis=1, keepdims=True)  # first (oldest) on ties
    has = mx.max(cv, axis=1) > _NEG
    ar = mx.take_along_axis(cp, j, axis=1)[:, 0]
    t0, t1, tm = (mx.take_along_axis(c, j, axis=1) for c in (c0, c1, cm))  # [3, 1, *X]
    slot = mx.arange(n).reshape((1, n) + (1,) * (cv.ndim - 2))
    later = (slot > j) & ~mx.isnan(q)[None]
    g0 = mx.where(later, f0[None], 0.0)
    g1 = mx.where(later, f1[None] + (q[None] - ar[:, None]) * f0[None], 0.0)
    gm = mx.where(later, fm[None], 0.0)
    a0, a1, am = merge_moments(
        mx.concatenate([t0, g0], axis=1),
        mx.concatenate([t1, g1], axis=1),
        mx.concatenate([tm, gm], axis=1),
        axis=1,
    )
    return mx.where(has, ar, _NAN), a0, a1, am


def _cell(
    anchor: Sequence[mx.array],
    q: mx.array,
    p0: mx.array,
    p1: mx.array,
    pm: mx.array,
    last: mx.array,
    mults: Sequence[float],
    with_sd: bool,
) -> dict[str, mx.array]:
    """Outputs from the anchor's carried moments merged with today's so far (ref ``q``)."""
    ar, a0, a1, am = anchor
    d = mx.where(mx.isnan(q), 0.0, q - ar)
    b0, bm = mx.broadcast_to(p0, a0.shape), mx.broadcast_to(pm, am.shape)
    s0, s1, m2 = merge_moments(
        mx.stack([a0, b0]), mx.stack([a1, p1 + d * p0]), mx.stack([am, bm]), axis=0
    )
    return finish(ar, s0, s1, m2, last, "stdev", mults, with_sd)


# Each day's candidate tail (its bar through the day's end, bars with volume),
# one fused kernel per summand over the [3, S, D, L] windows.


@mx.compile
def _t0(lane: mx.array, j: mx.array, vw: mx.array) -> mx.array:
    return mx.where((lane >= j) & (vw > 0), vw, 0.0)


@mx.compile
def _t1(lane: mx.array, j: mx.array, vw: mx.array, pw: mx.array, cp: mx.array) -> mx.array:
    tail = (lane >= j) & (vw > 0)
    return mx.where(tail, vw, 0.0) * mx.where(tail, pw - cp, 0.0)


@mx.compile
def _t2(
    lane: mx.array, j: mx.array, vw: mx.array, pw: mx.array, cp: mx.array, cm: mx.array
) -> mx.array:
    tail = (lane >= j) & (vw > 0)
    e = mx.where(tail, mx.where(tail, pw - cp, 0.0) - cm, 0.0)
    vt = mx.where(tail, vw, 0.0)
    return vt * e * e


def _in_prices(out: dict[str, mx.array], base: mx.array, unit: float) -> dict[str, mx.array]:
    """Outputs in numerator units relative to ``base`` (a price) back to prices."""
    res = {}
    for n, a in out.items():
        if n == "z":
            res[n] = a
        elif n == "sd":
            res[n] = a / unit
        else:  # the level and its bands
            res[n] = base + a / unit
    return res


def _named(out: dict[str, mx.array]) -> dict[str, mx.array]:
    return {
        (f"avwap_{k}" if n == "level" else f"avwap_{k}_{n}"): a[i]
        for n, a in out.items()
        for i, k in enumerate(KINDS)
    }


# --------------------------------------------------------------------------- batch


def auto_batch(
    inp: BatchInputs, n_days: int = DEFAULT_DAYS, source: str = "hlc3",
    mults: Sequence[float] = MULTS, with_sd: bool = False,
) -> dict[str, mx.array]:  # fmt: skip
    """Auto-anchored AVWAPs over a panel, named as ``output_names``
    (plus ``avwap_<kind>_sd``, σ itself, if ``with_sd``)."""
    s, t = inp.close.shape
    d = _days(inp, n_days, source)
    b, nb, bday = d["block"], d["n_blocks"], d["bday"]
    ar, a0, a1, am = _anchor(d["cand"], d["fulls"])
    q, den, base, ok = d["q"], d["den"], d["base"], inp.valid
    dq = mx.where(mx.isnan(q), 0.0, q - ar)  # today's ref from the anchor's, [3, S, D]
    lc = d["blocks"](ffill_close((inp.close_t * den - base).astype(mx.float32), ok))
    outs = _cell_blocks(bday, (ar, a0, a1, am, dq), (*d["prefix"], lc), mults, with_sd)
    outs = _in_prices(outs, ticks_price(base, den)[None, :, :, None], float(den * TICKS))
    return _named({n: o.reshape(3, s, nb * b)[..., :t] for n, o in outs.items()})


def auto_state(inp: BatchInputs, n_days: int = DEFAULT_DAYS, source: str = "hlc3") -> State:
    """The ``auto_step`` state after the panel's last minute, read off the batch's days.

    Why: the step's state is per-day data the batch computes anyway: the ring
    of the ``n_days`` prior days (their first price, full-day moments and
    per-kind candidates), today's anchor chosen from them, today's moments so
    far and today's candidates. Prices are relative to the panel's first bar
    of each symbol (the step's ``base``), so any panel holding the last
    ``n_days + 1`` days gives the state stepping it would (compensations 0).
    """
    s, t = inp.close.shape
    st = auto_init(s, n_days)
    if t == 0:
        return st
    d = _days(inp, n_days, source)
    nd = d["n_days"]
    cv, cp, c0, c1, c2 = d["per_day"]
    q, base = d["q"], d["base"][:, 0]
    ring = [d["window"](q, _NAN, 0), *(d["window"](x, 0.0, 0) for x in d["full"])]
    rcand = [d["window"](cv, _NEG, 1), d["window"](cp, _NAN, 1),
             *(d["window"](x, 0.0, 1) for x in (c0, c1, c2))]
    now = nd - 1
    for name, x in zip(_RING, ring, strict=True):
        st[name] = x[..., now]
    for name, x in zip(_RCAND, rcand, strict=True):
        st[name] = x[..., now]
    chosen = _anchor([x[..., now] for x in rcand], [x[..., now] for x in ring])
    for name, a in zip(("ar", "a0", "a1", "am"), chosen, strict=True):
        st[name] = a
    st["q"] = q[:, now]
    for name, x in zip(("s0", "s1", "m2"), d["prefix"], strict=True):
        st[name] = x.reshape(s, -1)[:, t - 1]
    has = cv[..., now] > _NEG
    for name, x in zip(_CAND, (cv, mx.where(cv > _NEG, cp, _NAN), c0, c1, c2), strict=True):
        st[name] = mx.where(has, x[..., now], 0.0) if name in ("c0", "c1", "cm") else x[..., now]
    seen = inp.valid.any(axis=1)
    last = ffill_close((inp.close_t * d["den"] - d["base"]).astype(mx.float32), inp.valid)
    st.update(day=mx.array(np.asarray(inp.segments["day"])[-1:].astype(np.int32)),
              base=mx.where(seen, base, 0).astype(mx.int32), based=seen, last=last[:, -1])
    return st


def _days(inp: BatchInputs, n_days: int, source: str) -> dict:  # type: ignore[type-arg]
    """The per-day quantities both ``auto_batch`` and ``auto_state`` read."""
    s, t = inp.close.shape
    day = np.asarray(inp.segments["day"])
    change = np.r_[True, day[1:] != day[:-1]]
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], t]
    nd, width = len(starts), int((ends - starts).max())
    di = (np.cumsum(change) - 1).astype(np.int32)
    lane = np.arange(width)
    gidx = np.minimum(starts[:, None] + lane, ends[:, None] - 1).astype(np.int32)
    inday = mx.array(lane[None, :] < (ends - starts)[:, None])
    st_, en = mx.array(starts.astype(np.int32)), mx.array((ends - 1).astype(np.int32))

    ok = inp.valid
    pt, den = price_ticks(inp, source)
    v = mx.where(ok, inp.volume, 0.0)
    pos = mx.arange(t, dtype=mx.int32)
    nxt = mx.cummin(mx.where(ok, pos, t), axis=1, reverse=True)
    base = mx.where(nxt[:, :1] < t, mx.take_along_axis(pt, mx.minimum(nxt[:, :1], t - 1), 1), 0)
    p = (pt - base).astype(mx.float32)  # exact integers (module docstring)
    unit = float(den * TICKS)
    fidx = mx.take(nxt, st_, axis=1)  # [S, D] first real bar at or after the day start
    q = mx.where(fidx <= en, mx.take_along_axis(p, mx.minimum(fidx, t - 1), axis=1), _NAN)

    # in-day prefix moments on blocks of B minutes that never straddle a day
    # (``[S, T]`` reshapes to ``[S, nB, B]``): in-block cumsums plus each
    # block's compensated carry from the earlier blocks of its day
    plan = block_plan(day[None])
    b, nb = plan.block, plan.n_blocks
    bday = mx.array(di[np.minimum(np.arange(nb) * b, t - 1)])  # each block's day
    start = mx.array(plan.start_block)  # [1, nB]

    def blocks(x: mx.array) -> mx.array:
        return (mx.pad(x, [(0, 0), (0, plan.pad)]) if plan.pad else x).reshape(s, nb, b)

    def in_day(x: mx.array, exclusive: bool = False) -> tuple[mx.array, ...]:
        inc = mx.cumsum(x, axis=-1)
        carry = seg_exclusive(inc[..., -1], start)[..., None]
        if not exclusive:
            return (carry + inc,)
        return carry + inc, carry + mx.cumsum(x, axis=-1, inclusive=False)

    vb = blocks(v)
    dev = mx.where(blocks(ok), blocks(p) - mx.take(q, bday, axis=1)[..., None], 0.0)
    w, w_prev = in_day(vb, True)
    x1, x1_prev = in_day(vb * dev, True)
    # Welford: each cell's m_prev, W_prev are the previous cell's in-day prefix
    (pm,) = in_day(increment_kernel(vb, dev, w_prev, x1_prev, w))
    prefix = (w, x1, pm)
    full = [mx.take(x.reshape(s, nb * b), en, axis=1) for x in prefix]

    # each day's candidate per kind, and its moments to the day's end relative
    # to its own price (as the step keeps them): [3, S, D] from [S, D, L] windows
    if nd * width == t:  # every day as long: the windows are a reshape
        lanes = lambda x: x.reshape(*x.shape[:-1], nd, width)  # noqa: E731
    else:
        flat = mx.array(gidx.reshape(-1))
        lanes = lambda x: mx.take(x, flat, axis=-1).reshape(*x.shape[:-1], nd, width)  # noqa: E731
    win = mx.where(inday, lanes(_keys(inp, base // den, v, ok)), _NEG)
    cv = mx.max(win, axis=3)
    j = mx.argmax(win, axis=3, keepdims=True)
    pw, vw = lanes(p)[None], mx.where(inday, lanes(v), 0.0)[None]
    cp = mx.take_along_axis(mx.broadcast_to(pw, win.shape), j, axis=3)
    at = mx.arange(width)
    c0 = mx.sum(_t0(at, j, vw), axis=3)
    c1 = mx.sum(_t1(at, j, vw, pw, cp), axis=3)
    cm = mx.where(c0 > 0, c1 / mx.where(c0 > 0, c0, 1.0), 0.0)  # two-pass: tail mean first
    c2 = mx.sum(_t2(at, j, vw, pw, cp, cm[..., None]), axis=3)
    cp = cp[..., 0]

    # the window of the N days before each day: slot n is day d − N + n
    def window(x: mx.array, fill: float, axis: int) -> mx.array:
        padw = [(0, 0)] * x.ndim
        padw[-1] = (n_days, 0)
        xp = mx.pad(x, padw, constant_values=fill)
        return mx.stack([xp[..., i : i + nd] for i in range(n_days)], axis=axis)

    cand = [window(cv, _NEG, 1), *(window(x, 0.0, 1) for x in (cp, c0, c1, c2))]
    fulls = [window(q, _NAN, 0), *(window(x, 0.0, 0) for x in full)]
    return {"block": b, "n_blocks": nb, "bday": bday, "blocks": blocks, "window": window,
            "cand": cand, "fulls": fulls, "q": q, "den": den, "base": base, "unit": unit,
            "prefix": prefix, "full": full, "per_day": (cv, cp, c0, c1, c2), "n_days": nd}


# The batch outputs, on blocks of ``B`` minutes that never straddle a day
# (``[S, T]`` reshapes to ``[S, nB, B]``, a day's anchor broadcasts over its
# blocks' minutes without a per-minute gather), one fused single-output kernel
# per output: on MLX's CPU backend a multi-output fused kernel is several times
# slower than one kernel per output, and unfused ``where`` is slow.


@mx.compile
def _b_mean(a0: mx.array, a1: mx.array, dq: mx.array, p0: mx.array, p1: mx.array) -> mx.array:
    """The merged mean offset from the anchor price (``_cell``'s ``s1 / s0``)."""
    return (a1 + (p1 + dq * p0)) / (a0 + p0)


@mx.compile
def _b_var(
    a0: mx.array, ma: mx.array, am: mx.array, dq: mx.array, p0: mx.array, mt: mx.array,
    pm: mx.array, m: mx.array,
) -> mx.array:  # fmt: skip
    """σ² from ``merge_moments`` of the anchor's carry (mean ``ma``) and today's
    prefix (mean ``mt`` from today's ref, so ``mt + dq`` from the anchor's); ``m``
    is their merged mean. A piece without weight adds 0 (``m`` is finite
    wherever the total weight is not 0, and σ is NaN where it is)."""
    da = ma - m
    db = (mt + dq) - m
    m2 = (am + a0 * da * da) + (pm + p0 * db * db)
    return mx.maximum(m2, 0.0) / (a0 + p0)


def _cell_blocks(
    bday: mx.array, anchor: Sequence[mx.array], minute: Sequence[mx.array],
    mults: Sequence[float], with_sd: bool,
) -> dict[str, mx.array]:  # fmt: skip
    """``_cell``'s outputs ``[3, S, nB, B]`` for the batch: ``anchor = (ar, a0, a1,
    am, dq)`` per ``[3, S, D]`` day, ``minute = (p0, p1, pm, lc)`` per ``[S, nB, B]``
    minute, ``bday`` each block's day."""
    ar, a0, a1, am, dq = (mx.take(x, bday, axis=-1)[..., None] for x in anchor)
    p0, p1, pm, lc = minute
    ma = mx.where(a0 > 0, a1 / mx.where(a0 > 0, a0, 1.0), 0.0)
    mt = p1 / mx.maximum(p0, TINY)  # 0 before today's first volume
    m = _b_mean(a0, a1, dq, p0, p1)
    level = level_kernel(ar, m)
    sd = mx.sqrt(_b_var(a0, ma, am, dq, p0, mt, pm, m))  # unfused √ is faster here
    outs = {"level": level}
    signed = [x for k in mults for x in (k, -k)]  # level + k·σ, level − k·σ
    for name, k in zip(band_suffixes(len(mults))[:-1], signed, strict=True):
        outs[name] = band_kernel(level, sd, mx.array(k, dtype=mx.float32))
    outs["z"] = zscore_kernel(lc, ar, m, sd)
    if with_sd:
        outs["sd"] = sd
    return outs


# --------------------------------------------------------------------- incremental

_RING = ("rq", "r0", "r1", "rm")  # [N, S]
_RCAND = ("rcv", "rcp", "rc0", "rc1", "rcm")  # [3, N, S]
_CUR = ("q", "s0", "s1", "m2")  # [S]; compensations e0, e1, em
_CAND = ("cv", "cp", "c0", "c1", "cm")  # [3, S]; compensations k0, k1, km


def auto_init(s: int, n_days: int = DEFAULT_DAYS) -> State:
    """Empty state for ``s`` symbols and a window of ``n_days`` prior days."""
    nan, zero, neg = (lambda sh, x=x: mx.full(sh, x, dtype=mx.float32) for x in (_NAN, 0.0, _NEG))
    st: State = {"day": mx.full((1,), -(2**31), dtype=mx.int32), "last": nan((s,)),
                 "base": mx.zeros((s,), dtype=mx.int32), "based": mx.zeros((s,), dtype=mx.bool_)}
    for name, fill in zip(_RING, (nan, zero, zero, zero), strict=True):
        st[name] = fill((n_days, s))
    for name, fill in zip(_RCAND, (neg, nan, zero, zero, zero), strict=True):
        st[name] = fill((3, n_days, s))
    for name, fill in zip(_CUR, (nan, zero, zero, zero), strict=True):
        st[name] = fill((s,))
    for name, fill in zip(_CAND, (neg, nan, zero, zero, zero), strict=True):
        st[name] = fill((3, s))
    for name in ("e0", "e1", "em"):
        st[name] = zero((s,))
    for name in ("k0", "k1", "km", "a0", "a1", "am"):
        st[name] = zero((3, s))
    st["ar"] = nan((3, s))
    return st


def _grow(
    st: State, new: State, names: tuple[str, str, str], comps: tuple[str, str, str],
    restart: mx.array, v: mx.array, d: mx.array,
) -> None:  # fmt: skip
    """Add a bar (volume ``v``, offset ``d``) to the compensated moments ``names``
    (s0, s1, m2; m2 by Welford's increment); ``restart`` empties them first."""
    old = [mx.where(restart, 0.0, st[n]) for n in (*names, *comps)]
    w_prev, s1_prev, m2_prev, e0, e1, em = old
    new[names[0]], new[comps[0]] = kahan(w_prev, e0, v)
    new[names[1]], new[comps[1]] = kahan(s1_prev, e1, v * d)
    inc = welford_increment(v, d, w_prev, s1_prev, new[names[0]])
    new[names[2]], new[comps[2]] = kahan(m2_prev, em, inc)


def auto_step(
    st: State, inp: StepInputs, source: str = "hlc3", mults: Sequence[float] = MULTS,
    with_sd: bool = False,
) -> tuple[State, Outputs]:  # fmt: skip
    """Advance the auto anchors of every symbol by one minute (pure MLX)."""
    new: State = {"day": inp.segments["day"]}
    newday = inp.segments["day"] != st["day"]  # [1]
    # at a new day: push today into the ring (oldest drops out), choose anchors
    for name, cur in zip(_RING, _CUR, strict=True):
        pushed = mx.concatenate([st[name][1:], st[cur][None]], axis=0)
        new[name] = mx.where(newday, pushed, st[name])
    for name, cur in zip(_RCAND, _CAND, strict=True):
        pushed = mx.concatenate([st[name][:, 1:], st[cur][:, None]], axis=1)
        new[name] = mx.where(newday, pushed, st[name])
    chosen = _anchor([new[n] for n in _RCAND], [new[n] for n in _RING])
    for name, a in zip(("ar", "a0", "a1", "am"), chosen, strict=True):
        new[name] = mx.where(newday, a, st[name])

    ok = inp.valid
    pt, den = price_ticks(inp, source)
    first = ok & ~st["based"]
    base = mx.where(first, pt, st["base"])
    new["base"], new["based"] = base, st["based"] | ok
    p = (pt - base).astype(mx.float32)  # exact integers relative to the symbol's base
    v = mx.where(ok, inp.volume, 0.0)
    # today's moments, s1 relative to its first real price
    q = mx.where(newday, _NAN, st["q"])
    q = mx.where(ok & mx.isnan(q), p, q)
    new["q"] = q
    _grow(st, new, ("s0", "s1", "m2"), ("e0", "e1", "em"), newday, v, mx.where(ok, p - q, 0.0))
    # today's candidates: a new extreme restarts the moments at this bar
    cv = mx.where(newday, _NEG, st["cv"])
    key = _keys(inp, base // den, v, ok)
    hit = key > cv
    new["cv"] = mx.where(hit, key, cv)
    cp = mx.where(hit, p[None], mx.where(newday, _NAN, st["cp"]))
    new["cp"] = cp
    dc = mx.where(ok[None], p[None] - cp, 0.0)
    vc = mx.broadcast_to(v[None], cp.shape)
    _grow(st, new, ("c0", "c1", "cm"), ("k0", "k1", "km"), newday | hit, vc, dc)
    new["last"] = mx.where(ok, (inp.close_t * den - base).astype(mx.float32), st["last"])
    anchor = [new[n] for n in ("ar", "a0", "a1", "am")]
    out = _cell(anchor, q, new["s0"], new["s1"], new["m2"], new["last"], mults, with_sd)
    return new, _named(_in_prices(out, ticks_price(base, den), float(den * TICKS)))
