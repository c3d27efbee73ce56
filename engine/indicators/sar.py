"""Parabolic SAR (TA-Lib's algorithm, acceleration 0.02 up to 0.2).

SAR flips on comparisons between price and the stop, so it is sequential by
nature. The step works in ticks offset by the symbol's first close, as float32
(exact integers up to 2**24 ticks, so every price and every tie between prices
is exact; only the stop's own updates round); the batch form runs that same
step's maths in NumPy float32, one bar at a time, vectorized over symbols.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from engine import kernels as K
from engine.indicator_types import Indicator, State
from engine.indicators import warm as W
from engine.indicators.base import Bar, izeros, seq_indicator, zeros
from engine.meta import SESSION_BARS, History, OutputMeta, level

ACC, MAX_AF = 0.02, 0.2
Out = dict[str, mx.array]


def _sar_core(st: State, h: Any, lo: Any, n: Any, xp: Any = mx) -> tuple[State, Any]:
    """One bar of TA-Lib SAR on offset prices; ``n`` counts bars (1 on the first).

    ``xp`` is ``mlx.core`` (the step) or ``numpy`` (the batch loop): same float32 maths.
    """
    ph, pl = st["ph"], st["pl"]
    is_init = n == 2
    # bar 2 decides the first direction from -DM and takes itself as the previous bar
    dn, up = pl - lo, h - ph
    init_long = ~((dn > 0) & (up < dn))
    long_ = xp.where(is_init, init_long.astype(xp.float32), st["long"]) > 0.5
    sar = xp.where(is_init, xp.where(init_long, pl, ph), st["sar"])
    ep = xp.where(is_init, xp.where(init_long, h, lo), st["ep"])
    af = xp.where(is_init, ACC, st["af"])
    ph = xp.where(is_init, h, ph)
    pl = xp.where(is_init, lo, pl)

    hi2, lo2 = xp.maximum(ph, h), xp.minimum(pl, lo)
    # long, stopped out -> short
    ls = xp.maximum(ep, hi2)
    ls_next = xp.maximum(ls + ACC * (lo - ls), hi2)
    # long, continuing
    l_ep = xp.maximum(ep, h)
    l_af = xp.where(h > ep, xp.minimum(af + ACC, MAX_AF), af)
    l_next = xp.minimum(sar + l_af * (l_ep - sar), lo2)
    # short, stopped out -> long
    sl = xp.minimum(ep, lo2)
    sl_next = xp.minimum(sl + ACC * (h - sl), lo2)
    # short, continuing
    s_ep = xp.minimum(ep, lo)
    s_af = xp.where(lo < ep, xp.minimum(af + ACC, MAX_AF), af)
    s_next = xp.maximum(sar + s_af * (s_ep - sar), hi2)

    flip_ls = long_ & (lo <= sar)
    flip_sl = (~long_) & (h >= sar)
    out = xp.where(flip_ls, ls, xp.where(flip_sl, sl, sar))
    new_long = xp.where(flip_ls, False, xp.where(flip_sl, True, long_))
    new_sar = xp.where(long_, xp.where(flip_ls, ls_next, l_next),
                       xp.where(flip_sl, sl_next, s_next))
    new_ep = xp.where(long_, xp.where(flip_ls, lo, l_ep), xp.where(flip_sl, h, s_ep))
    new_af = xp.where(flip_ls | flip_sl, ACC, xp.where(long_, l_af, s_af))
    started = n >= 2
    res = {
        "long": xp.where(started, new_long.astype(xp.float32), st["long"]),
        "sar": xp.where(started, new_sar, st["sar"]),
        "ep": xp.where(started, new_ep, st["ep"]),
        "af": xp.where(started, new_af, st["af"]),
        "ph": h, "pl": lo,
    }
    return res, out


def _init(s: int) -> State:
    return {"ref": izeros(s), "long": zeros(s), "sar": zeros(s), "ep": zeros(s),
            "af": zeros(s), "ph": zeros(s), "pl": zeros(s)}


def _step(st: State, b: Bar) -> tuple[State, Out]:
    ref = mx.where(b.n == 1, b.close_t, st["ref"])
    core = {k: v for k, v in st.items() if k != "ref"}
    h, lo = (b.high_t - ref).astype(mx.float32), (b.low_t - ref).astype(mx.float32)
    new, out = _sar_core(core, h, lo, b.n)
    new["ref"] = ref
    return new, {"sar": out / K.TICKS + K.to_price(ref)}


def _batch(c: K.Compact) -> Out:
    """Loop over bars with NumPy float32 ops vectorized over symbols.

    The step's long and short branches are one branch here, in a frame where a
    short position's prices are negated (``d = -1``): negation, max/min and the
    stop's update commute exactly in IEEE arithmetic, so this gives the step's
    float32 numbers bit for bit with ~20 NumPy calls per bar instead of ~45.
    """
    s, t = c.shape
    ref = K.first_col(c.close_t)
    h = np.ascontiguousarray(np.array((c.high_t - ref).astype(mx.float32)).T)  # [T, S] ticks
    lo = np.ascontiguousarray(np.array((c.low_t - ref).astype(mx.float32)).T)
    out = np.zeros((t, s), dtype=np.float32)
    if t >= 2:
        hi2, lo2 = np.maximum(h[:-1], h[1:]), np.minimum(lo[:-1], lo[1:])
        hi2[0], lo2[0] = h[1], lo[1]  # bar 2 takes itself as the previous bar
        dn, up = lo[0] - lo[1], h[1] - h[0]
        long_ = ~((dn > 0) & (up < dn))
        d = np.where(long_, np.float32(1), np.float32(-1))
        sar = np.where(long_, lo[0], -h[0])  # stop and extreme in the position's frame
        ep = np.where(long_, h[1], -lo[1])
        af = np.full(s, ACC, dtype=np.float32)
        for i in range(1, t):
            lg = d > 0
            hd, ld = np.where(lg, h[i], -lo[i]), np.where(lg, lo[i], -h[i])
            h2d, l2d = np.where(lg, hi2[i - 1], -lo2[i - 1]), np.where(lg, lo2[i - 1], -hi2[i - 1])
            c_ep = np.maximum(ep, hd)
            c_af = np.where(hd > ep, np.minimum(af + ACC, MAX_AF), af)
            c_sar = np.minimum(sar + c_af * (c_ep - sar), l2d)
            x = np.maximum(ep, h2d)
            flip = ld <= sar
            out[i] = d * np.where(flip, x, sar)
            sar = np.where(flip, np.minimum(-x + ACC * (x - ld), -h2d), c_sar)
            ep = np.where(flip, -ld, c_ep)
            af = np.where(flip, np.float32(ACC), c_af)
            d = np.where(flip, -d, d)
    return {"sar": mx.array(np.ascontiguousarray(out.T)) / K.TICKS + K.to_price(ref)}


def _state(c: K.Compact, m: mx.array) -> State:
    """The step's state after ``m`` bars, from the last ``SESSION_BARS`` of them.

    SAR has no closed form (it flips on comparisons with its own stop), so its
    declared history is stepped, but in NumPy over ``[S]`` vectors with the
    step's own maths (``_sar_core``): one bar is ~45 vector ops, not a
    compiled call of the whole registry. A symbol with more bars starts the
    window as its first bar, as a step from there would.
    """
    s, t = c.shape
    w = max(1, min(SESSION_BARS, t))
    h, lo = (np.array(W.window(x, m, w, 0)) for x in (c.high_t, c.low_t))
    mm = np.array(m)
    ref = np.array(W.at(c.close_t, mx.where(m > 0, mx.maximum(m - w, 0) + 1, 0), 0))
    st: dict[str, Any] = {k: np.zeros(s, np.float32)
                          for k in ("long", "sar", "ep", "af", "ph", "pl")}
    pad = w - np.minimum(mm, w)  # window columns before each symbol's first bar
    for j in range(w):
        n = j - pad + 1
        st, _ = _sar_core(st, (h[:, j] - ref).astype(np.float32),
                          (lo[:, j] - ref).astype(np.float32), n, np)
    out = {k: mx.array(v.astype(np.float32)) for k, v in st.items()}
    out["ref"] = mx.array(ref.astype(np.int32))
    return out


SAR = seq_indicator("sar", "trend", ("sar",), {"acceleration": ACC, "maximum": MAX_AF}, 1, _batch,
              _init, _step, description="Parabolic SAR (0.02, 0.2)", state=_state)

INDICATORS: tuple[Indicator, ...] = (SAR,)
# Path-dependent: two runs agree from their first common reversal on, which on
# minute bars comes within a session; declared as one session of bars.
META: tuple[OutputMeta, ...] = (level("sar", History.window(SESSION_BARS)),)
