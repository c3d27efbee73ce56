"""Parabolic SAR (TA-Lib's algorithm, acceleration 0.02 up to 0.2).

SAR flips on comparisons between price and the stop, so it is sequential by
nature, and a reversal decided one rounding too early changes every later bar
(on real minute bars of a $128 stock a float32 stop 3.3e-7 below a low was
taken as touched, and the path then differed for 51 bars). So the path is
computed in float64, as TA-Lib computes it: prices are int32 ticks offset by
the symbol's first close (exact in float64), the stop, its extreme and the
acceleration are float64, and the reversal test ``low <= stop`` compares
float64 numbers. Only the output is rounded, once, to a float32 price.

Both forms run the same maths (``_frame_bar``) in a frame where a short
position's prices are negated (``d = -1``): negation, max/min and the stop's
update commute exactly in IEEE arithmetic, so one branch serves both
directions. The batch loops over bars in NumPy float64, vectorized over
symbols; the step runs on MLX's CPU stream (float64 exists on the CPU only; a
GPU-default console pays one stream hop for this indicator) and keeps its
float64 state as int64 bit patterns, so the engine's generic state handling
(``where`` on a missing bar) never touches a float64 array off the CPU.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from engine import kernels as K
from engine.indicator_types import Indicator, State
from engine.indicators import warm as W
from engine.indicators.base import Bar, izeros, seq_indicator
from engine.meta import SESSION_BARS, History, OutputMeta, level

ACC, MAX_AF = 0.02, 0.2
Out = dict[str, mx.array]


def _frame_bar(
    xp: Any, d: Any, sar: Any, ep: Any, af: Any, h: Any, lo: Any, hi2: Any, lo2: Any,
) -> tuple[Any, Any, Any, Any, Any]:  # fmt: skip
    """One bar of TA-Lib SAR from the second bar on, in the position's frame.

    ``d`` is +1 long, -1 short; ``sar``/``ep`` are in that frame (negated when
    short); ``h``/``lo`` this bar's offset ticks and ``hi2``/``lo2`` the extremes
    of this bar and the previous one, all float64. Returns the stop for this
    bar (real frame) and the new ``d, sar, ep, af``.
    """
    lg = d > 0
    hd, ld = xp.where(lg, h, -lo), xp.where(lg, lo, -h)
    h2d, l2d = xp.where(lg, hi2, -lo2), xp.where(lg, lo2, -hi2)
    c_ep = xp.maximum(ep, hd)
    c_af = xp.where(hd > ep, xp.minimum(af + ACC, MAX_AF), af)
    c_sar = xp.minimum(sar + c_af * (c_ep - sar), l2d)
    x = xp.maximum(ep, h2d)
    flip = ld <= sar  # float64 against an exact tick: TA-Lib's own test
    out = d * xp.where(flip, x, sar)
    new_sar = xp.where(flip, xp.minimum(-x + ACC * (x - ld), -h2d), c_sar)
    return (out, xp.where(flip, -d, d), new_sar, xp.where(flip, -ld, c_ep),
            xp.where(flip, ACC, c_af))


def _first(xp: Any, h0: Any, lo0: Any, h1: Any, lo1: Any) -> tuple[Any, Any, Any]:
    """Bar 2 decides the first direction from -DM: ``d``, stop and extreme (framed)."""
    dn, up = lo0 - lo1, h1 - h0
    long_ = ~((dn > 0) & (up < dn))
    d = xp.where(long_, 1.0, -1.0)
    return d, xp.where(long_, lo0, -h0), xp.where(long_, h1, -lo1)


def _price(ref_t: Any, off: Any) -> Any:
    """Offset ticks (float64) back to a price, rounded once."""
    return (off + ref_t) / K.TICKS


_F64 = ("sar", "af")  # float64 state kept as int64 bits


def _init(s: int) -> State:
    st = {k: izeros(s) for k in ("ref", "ph", "pl")}
    st["d"] = mx.ones((s,), dtype=mx.int32)
    st["ep"] = izeros(s)
    st.update({k: mx.zeros((s,), dtype=mx.int64) for k in _F64})
    return st


def _step(st: State, b: Bar) -> tuple[State, Out]:
    with mx.stream(mx.cpu):
        f64 = mx.float64
        ref = mx.where(b.n == 1, b.close_t, st["ref"])
        h, lo = b.high_t - ref, b.low_t - ref  # int32 offset ticks
        ph, pl = st["ph"] - ref, st["pl"] - ref
        first = b.n <= 2  # bar 2 takes itself as the previous bar
        hi2 = mx.where(first, h, mx.maximum(ph, h)).astype(f64)
        lo2 = mx.where(first, lo, mx.minimum(pl, lo)).astype(f64)
        hf, lf = h.astype(f64), lo.astype(f64)
        d0, s0, e0 = _first(mx, ph.astype(f64), pl.astype(f64), hf, lf)
        d = mx.where(first, d0, st["d"].astype(f64))
        sar = mx.where(first, s0, mx.view(st["sar"], f64))
        ep = mx.where(first, e0, st["ep"].astype(f64))
        af = mx.where(first, ACC, mx.view(st["af"], f64))
        out, d, sar, ep, af = _frame_bar(mx, d, sar, ep, af, hf, lf, hi2, lo2)
        new = {"ref": ref, "ph": b.high_t, "pl": b.low_t, "d": d.astype(mx.int32),
               "ep": ep.astype(mx.int32), "sar": mx.view(sar, mx.int64),
               "af": mx.view(af, mx.int64)}
        price = _price(ref.astype(f64), out).astype(mx.float32)
    return new, {"sar": price}


def _batch(c: K.Compact) -> Out:
    """Loop over bars with NumPy float64 ops vectorized over symbols.

    ``_frame_bar``'s arithmetic, op for op (so the step's numbers bit for bit),
    with the frame's selections done once per bar: each bar's framed
    ``(h, lo, hi2, lo2)`` for a long and for a short position are precomputed
    as ``[4, S]`` rows, so one ``where`` frames all four, and the direction is
    kept as a boolean and applied to the output after the loop (~25 NumPy
    calls a bar instead of ~33).
    """
    s, t = c.shape
    ref = np.array(K.first_col(c.close_t)).astype(np.float64)[:, 0]
    h = np.ascontiguousarray((np.array(c.high_t).astype(np.float64) - ref[:, None]).T)  # [T, S]
    lo = np.ascontiguousarray((np.array(c.low_t).astype(np.float64) - ref[:, None]).T)
    out = np.zeros((t, s), dtype=np.float64)
    if t >= 2:
        hi2, lo2 = np.maximum(h[:-1], h[1:]), np.minimum(lo[:-1], lo[1:])
        hi2[0], lo2[0] = h[1], lo[1]  # bar 2 takes itself as the previous bar
        # bar i's (hd, ld, h2d, l2d) in the long and in the short frame: [T-1, 4, S]
        fl = np.ascontiguousarray(np.stack([h[1:], lo[1:], hi2, lo2], axis=1))
        fs = np.ascontiguousarray(np.stack([-lo[1:], -h[1:], -lo2, -hi2], axis=1))
        d, sar, ep = _first(np, h[0], lo[0], h[1], lo[1])
        lg = d > 0
        longs = np.zeros((t, s), dtype=bool)
        af = np.full(s, ACC)
        for i in range(1, t):
            cur = np.where(lg, fl[i - 1], fs[i - 1])  # this frame
            nxt = np.where(lg, fs[i - 1], fl[i - 1])  # the reversed frame
            hd, ld, h2d = cur[0], cur[1], cur[2]
            c_ep = np.maximum(ep, hd)
            c_af = np.where(hd > ep, np.minimum(af + ACC, MAX_AF), af)
            c_sar = np.minimum(sar + c_af * (c_ep - sar), cur[3])
            x = np.maximum(ep, h2d)
            flip = ld <= sar
            longs[i] = lg
            out[i] = np.where(flip, x, sar)
            # reversed: -h2d and -ld are the reversed frame's l2d and hd
            sar = np.where(flip, np.minimum(-x + ACC * (x - ld), nxt[3]), c_sar)
            ep = np.where(flip, nxt[0], c_ep)
            af = np.where(flip, ACC, c_af)
            lg = lg ^ flip
        out = np.where(longs, out, -out)
    price = _price(ref[:, None], out.T).astype(np.float32)
    return {"sar": mx.array(np.ascontiguousarray(price))}


def _state(c: K.Compact, m: mx.array) -> State:
    """The step's state after ``m`` bars, from the last ``SESSION_BARS`` of them.

    SAR has no closed form (it flips on comparisons with its own stop), so its
    declared history is stepped, but in NumPy over ``[S]`` vectors with the
    step's own float64 maths (``_first``, ``_frame_bar``), not a compiled call
    of the whole registry. A symbol with more bars starts the window as its
    first bar, as a step from there would.
    """
    s, t = c.shape
    w = max(1, min(SESSION_BARS, t))
    h, lo = (np.array(W.window(x, m, w, 0)).astype(np.int64) for x in (c.high_t, c.low_t))
    mm = np.array(m)
    ref = np.array(W.at(c.close_t, mx.where(m > 0, mx.maximum(m - w, 0) + 1, 0), 0))
    ref = ref.astype(np.int64)
    d, sar, ep, af = np.ones(s), np.zeros(s), np.zeros(s), np.zeros(s)
    ph, pl = np.zeros(s, np.int64), np.zeros(s, np.int64)
    pad = w - np.minimum(mm, w)  # window columns before each symbol's first bar
    for j in range(w):
        n = j - pad + 1
        hj, lj = (h[:, j] - ref).astype(np.float64), (lo[:, j] - ref).astype(np.float64)
        php, plp = (ph - ref).astype(np.float64), (pl - ref).astype(np.float64)
        first = n <= 2  # as ``_step``: bar 2 takes itself as the previous bar
        hi2 = np.where(first, hj, np.maximum(php, hj))
        lo2 = np.where(first, lj, np.minimum(plp, lj))
        d0, s0, e0 = _first(np, php, plp, hj, lj)
        _, d1, s1, e1, a1 = _frame_bar(np, np.where(first, d0, d), np.where(first, s0, sar),
                                       np.where(first, e0, ep), np.where(first, ACC, af),
                                       hj, lj, hi2, lo2)
        real = n >= 1
        d, sar, ep, af = (np.where(real, new, old) for new, old in
                          ((d1, d), (s1, sar), (e1, ep), (a1, af)))
        ph, pl = np.where(real, h[:, j], ph), np.where(real, lo[:, j], pl)
    i32 = lambda a: mx.array(a.astype(np.int32))  # noqa: E731
    return {"ref": i32(ref), "ph": i32(ph), "pl": i32(pl), "d": i32(d), "ep": i32(ep),
            "sar": mx.array(sar.view(np.int64)), "af": mx.array(af.view(np.int64))}


SAR = seq_indicator("sar", "trend", ("sar",), {"acceleration": ACC, "maximum": MAX_AF}, 1, _batch,
              _init, _step, description="Parabolic SAR (0.02, 0.2)", state=_state,
              compiled=False)

INDICATORS: tuple[Indicator, ...] = (SAR,)
# Path-dependent: two runs agree from their first common reversal on, which on
# minute bars comes within a session; declared as one session of bars.
META: tuple[OutputMeta, ...] = (level("sar", History.window(SESSION_BARS)),)
