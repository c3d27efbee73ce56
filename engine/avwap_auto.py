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
  ``low`` (``ll``), the highest ``volume`` (``hv``). Ties go to the earliest
  bar. The anchor stays fixed for the whole day and the AVWAP accumulates every
  real bar from the anchor bar (included) through now, current day included.
- Fewer than N prior days (the start of a panel or stream): the days available
  are used, as TradingView's lookbacks clip to the history they have. No prior
  day with a bar: NaN for that whole day.
- Levels, ±1/2/3σ bands and z follow ``engine.avwap.finish`` (hlc3 price by
  default), so the outputs are ``avwap_hh, avwap_hh_up1, avwap_hh_dn1, …,
  avwap_hh_z`` and the same for ``ll`` and ``hv``.

Precision: every sum is shifted. Each day keeps its sums relative to its first
real price ``q``, and each day's candidate keeps "from the candidate to the
end of the day" sums relative to the candidate's price. At a day boundary the
chosen candidate's sums and the later days' full sums are re-shifted to the
anchor price (``_reshift``; all refs lie within days of each other, so nothing
cancels), which is then the reference of the running AVWAP.

Incremental state: a ring of the N prior days (full-day sums, and per kind the
best value, its price and its from-candidate sums), the current day's sums
(Kahan-compensated; a new extreme restarts that kind's from-candidate sums at
the bar) and the anchor's carried sums. The day boundary is O(N) per symbol
and everything is elementwise, so the step compiles into the engine's call.
Batch: the same quantities per ``[symbol, day]`` from compensated prefix sums
and one ``[S, D, L]`` gather for the per-day argmax, then the same combination.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import numpy as np

from engine.avwap import MULTS, _comp_cumsum, _ffill_close, band_suffixes, finish, price
from engine.registry import BatchInputs, Outputs, State, StepInputs

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


def _keys(high: mx.array, low: mx.array, vol: mx.array, ok: mx.array) -> mx.array:
    """What each kind maximises (``-low`` for the lowest low); -inf where no bar."""
    return mx.where(ok[None], mx.stack([high, -low, vol]), _NEG)


def _reshift(
    s0: mx.array, s1: mx.array, s2: mx.array, d: mx.array
) -> tuple[mx.array, mx.array, mx.array]:
    """Sums of ``v·(p−old)^k`` as sums of ``v·(p−new)^k`` where ``d = old − new``."""
    return s0, s1 + d * s0, s2 + (2.0 * d) * s1 + (d * d) * s0


def _anchor(
    cand: Sequence[mx.array], full: Sequence[mx.array]
) -> tuple[mx.array, mx.array, mx.array, mx.array]:
    """Anchor price and carried sums from a window of days (both forms use this).

    ``cand = (cv, cp, c0, c1, c2)`` are ``[3, N, *X]`` (best key, its price, sums
    from it to the day's end relative to that price); ``full = (q, f0, f1, f2)``
    are ``[N, *X]`` (the day's first price and full-day sums relative to it).
    Slot 0 is the oldest day. Returns ``ar, a0, a1, a2`` of shape ``[3, *X]``.
    """
    cv, cp, c0, c1, c2 = cand
    q, f0, f1, f2 = full
    n = cv.shape[1]
    j = mx.argmax(cv, axis=1, keepdims=True)  # first (oldest) on ties
    has = mx.max(cv, axis=1) > _NEG
    ar = mx.take_along_axis(cp, j, axis=1)[:, 0]
    t0, t1, t2 = (mx.take_along_axis(c, j, axis=1)[:, 0] for c in (c0, c1, c2))
    slot = mx.arange(n).reshape((1, n) + (1,) * (cv.ndim - 2))
    later = (slot > j) & ~mx.isnan(q)[None]
    d = mx.where(later, q[None] - ar[:, None], 0.0)
    g0, g1, g2 = (mx.where(later, f[None], 0.0) for f in (f0, f1, f2))
    g0, g1, g2 = _reshift(g0, g1, g2, d)
    a0 = t0 + mx.sum(g0, axis=1)
    a1 = t1 + mx.sum(g1, axis=1)
    a2 = t2 + mx.sum(g2, axis=1)
    return mx.where(has, ar, _NAN), a0, a1, a2


def _cell(
    anchor: Sequence[mx.array],
    q: mx.array,
    p0: mx.array,
    p1: mx.array,
    p2: mx.array,
    last: mx.array,
    mults: Sequence[float],
) -> dict[str, mx.array]:
    """Outputs from the anchor's carried sums plus today's sums so far (ref ``q``)."""
    ar, a0, a1, a2 = anchor
    d = mx.where(mx.isnan(q), 0.0, q - ar)
    s0, s1, s2 = _reshift(p0, p1, p2, d)
    return finish(ar, a0 + s0, a1 + s1, a2 + s2, last, "stdev", mults)


def _named(out: dict[str, mx.array]) -> dict[str, mx.array]:
    return {
        (f"avwap_{k}" if n == "level" else f"avwap_{k}_{n}"): a[i]
        for n, a in out.items()
        for i, k in enumerate(KINDS)
    }


# --------------------------------------------------------------------------- batch


def auto_batch(
    inp: BatchInputs, n_days: int = DEFAULT_DAYS, source: str = "hlc3",
    mults: Sequence[float] = MULTS,
) -> dict[str, mx.array]:  # fmt: skip
    """Auto-anchored AVWAPs over a panel, named as ``output_names``."""
    s, t = inp.close.shape
    day = np.asarray(inp.segments["day"])
    change = np.r_[True, day[1:] != day[:-1]]
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], t]
    nd, width = len(starts), int((ends - starts).max())
    di = mx.array((np.cumsum(change) - 1).astype(np.int32))
    lane = np.arange(width)
    gidx = np.minimum(starts[:, None] + lane, ends[:, None] - 1).astype(np.int32)
    inday = mx.array(lane[None, :] < (ends - starts)[:, None])
    st_, en = mx.array(starts.astype(np.int32)), mx.array((ends - 1).astype(np.int32))

    ok = inp.valid
    p = price(inp.open, inp.high, inp.low, inp.close, source)
    v = mx.where(ok, inp.volume, 0.0)
    pos = mx.arange(t, dtype=mx.int32)
    nxt = mx.cummin(mx.where(ok, pos, t), axis=1, reverse=True)
    fidx = mx.take(nxt, st_, axis=1)  # [S, D] first real bar at or after the day start
    q = mx.where(fidx <= en, mx.take_along_axis(p, mx.minimum(fidx, t - 1), axis=1), _NAN)
    qc = mx.take(q, di, axis=1)
    dev = mx.where(ok, p - qc, 0.0)
    x1 = v * dev
    zero = mx.zeros((s, 1), dtype=mx.float32)
    prefix, full = [], []
    for x in (v, x1, x1 * dev):
        hi, lo = _comp_cumsum(x)
        h0, l0 = mx.concatenate([zero, hi], axis=1), mx.concatenate([zero, lo], axis=1)
        bh, bl = mx.take(h0, st_, axis=1), mx.take(l0, st_, axis=1)
        prefix.append((hi - mx.take(bh, di, axis=1)) + (lo - mx.take(bl, di, axis=1)))
        full.append(mx.take(prefix[-1], en, axis=1))

    # each day's candidate per kind, and its sums to the day's end relative to
    # its own price (as the step keeps them): [3, S, D] from [S, D, L] windows
    flat = mx.array(gidx.reshape(-1))
    lanes = lambda x: mx.take(x, flat, axis=-1).reshape(*x.shape[:-1], nd, width)  # noqa: E731
    win = mx.where(inday, lanes(_keys(inp.high, inp.low, v, ok)), _NEG)
    cv = mx.max(win, axis=3)
    j = mx.argmax(win, axis=3, keepdims=True)
    pw, vw = lanes(p)[None], mx.where(inday, lanes(v), 0.0)[None]
    cp = mx.take_along_axis(mx.broadcast_to(pw, win.shape), j, axis=3)
    tail = (mx.arange(width) >= j) & (vw > 0)
    dc = mx.where(tail, pw - cp, 0.0)
    vc = mx.where(tail, vw, 0.0) * dc
    c0 = mx.sum(mx.where(tail, vw, 0.0), axis=3)
    c1, c2 = mx.sum(vc, axis=3), mx.sum(vc * dc, axis=3)
    cp = cp[..., 0]

    # the window of the N days before each day: slot n is day d − N + n
    def window(x: mx.array, fill: float, axis: int) -> mx.array:
        padw = [(0, 0)] * x.ndim
        padw[-1] = (n_days, 0)
        xp = mx.pad(x, padw, constant_values=fill)
        return mx.stack([xp[..., i : i + nd] for i in range(n_days)], axis=axis)

    cand = [window(cv, _NEG, 1), *(window(x, 0.0, 1) for x in (cp, c0, c1, c2))]
    fulls = [window(q, _NAN, 0), *(window(x, 0.0, 0) for x in full)]
    anchor = _anchor(cand, fulls)
    cells = mx.take(mx.stack(list(anchor)), di, axis=3)  # [4, 3, S, T]
    lc = _ffill_close(inp.close, ok)
    out = _cell(list(cells), qc, prefix[0], prefix[1], prefix[2], lc, mults)
    return _named(out)


# --------------------------------------------------------------------- incremental

_RING = ("rq", "r0", "r1", "r2")  # [N, S]
_RCAND = ("rcv", "rcp", "rc0", "rc1", "rc2")  # [3, N, S]
_CUR = ("q", "s0", "s1", "s2")  # [S]
_CAND = ("cv", "cp", "c0", "c1", "c2")  # [3, S]


def auto_init(s: int, n_days: int = DEFAULT_DAYS) -> State:
    """Empty state for ``s`` symbols and a window of ``n_days`` prior days."""
    nan, zero, neg = (lambda sh, x=x: mx.full(sh, x, dtype=mx.float32) for x in (_NAN, 0.0, _NEG))
    st: State = {"day": mx.full((1,), -(2**31), dtype=mx.int32), "last": nan((s,))}
    for name, fill in zip(_RING, (nan, zero, zero, zero), strict=True):
        st[name] = fill((n_days, s))
    for name, fill in zip(_RCAND, (neg, nan, zero, zero, zero), strict=True):
        st[name] = fill((3, n_days, s))
    for name, fill in zip(_CUR, (nan, zero, zero, zero), strict=True):
        st[name] = fill((s,))
    for name, fill in zip(_CAND, (neg, nan, zero, zero, zero), strict=True):
        st[name] = fill((3, s))
    for name in ("e0", "e1", "e2"):
        st[name] = zero((s,))
    for name in ("k0", "k1", "k2", "a0", "a1", "a2"):
        st[name] = zero((3, s))
    st["ar"] = nan((3, s))
    return st


def _kahan(s: mx.array, c: mx.array, x: mx.array) -> tuple[mx.array, mx.array]:
    y = x - c
    t = s + y
    return t, (t - s) - y


def auto_step(
    st: State, inp: StepInputs, source: str = "hlc3", mults: Sequence[float] = MULTS
) -> tuple[State, Outputs]:
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
    for name, a in zip(("ar", "a0", "a1", "a2"), chosen, strict=True):
        new[name] = mx.where(newday, a, st[name])

    ok = inp.valid
    p = price(inp.open, inp.high, inp.low, inp.close, source)
    v = mx.where(ok, inp.volume, 0.0)
    # today's full sums, relative to its first real price
    q = mx.where(newday, _NAN, st["q"])
    q = mx.where(ok & mx.isnan(q), p, q)
    d = mx.where(ok, p - q, 0.0)
    new["q"] = q
    for j, x in enumerate((v, v * d, v * d * d)):
        s0 = mx.where(newday, 0.0, st[f"s{j}"])
        c0 = mx.where(newday, 0.0, st[f"e{j}"])
        new[f"s{j}"], new[f"e{j}"] = _kahan(s0, c0, x)
    # today's candidates: a new extreme restarts the sums at this bar
    cv = mx.where(newday, _NEG, st["cv"])
    key = _keys(inp.high, inp.low, v, ok)
    hit = key > cv
    restart = newday | hit
    new["cv"] = mx.where(hit, key, cv)
    cp = mx.where(hit, p[None], mx.where(newday, _NAN, st["cp"]))
    new["cp"] = cp
    dc = mx.where(ok[None], p[None] - cp, 0.0)
    vc = mx.broadcast_to(v[None], cp.shape)
    for j, x in enumerate((vc, vc * dc, vc * dc * dc)):
        s0 = mx.where(restart, 0.0, st[f"c{j}"])
        c0 = mx.where(restart, 0.0, st[f"k{j}"])
        new[f"c{j}"], new[f"k{j}"] = _kahan(s0, c0, x)
    new["last"] = mx.where(ok, inp.close, st["last"])
    anchor = [new[n] for n in ("ar", "a0", "a1", "a2")]
    out = _cell(anchor, q, new["s0"], new["s1"], new["s2"], new["last"], mults)
    return new, _named(out)
