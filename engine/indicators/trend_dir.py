"""Trend family, part 2: direction and strength (ADX/±DI, Aroon, regression slope, SAR).

ADX and ±DI use TA-Lib's running sums (seeded with n-1 values, then
``s - s/n + x``), which is why +DI starts at bar n and ADX at bar 2n-1.
Parabolic SAR is truly sequential: its batch form runs the same step, compiled
and unrolled over chunks of minutes, so the two forms cannot disagree.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from engine import kernels as K
from engine.indicator_types import Indicator, State
from engine.indicators import warm as W
from engine.indicators.base import (
    Bar,
    ema_state,
    ema_step,
    izeros,
    push,
    safe_div,
    seq_indicator,
    zeros,
)
from engine.meta import Direction, History, OutputMeta, oscillator, price_diff

FAMILY = "trend"
Out = dict[str, mx.array]


def _dm(h: mx.array, lo: mx.array, ph: mx.array, pl: mx.array) -> tuple[mx.array, mx.array]:
    """+DM, -DM from ticks: up and down moves compare exactly (a tie gives neither)."""
    up, dn = h - ph, pl - lo
    return (mx.where((up > 0) & (up > dn), K.to_price(up), 0.0),
            mx.where((dn > 0) & (dn > up), K.to_price(dn), 0.0))


def _tr(h: mx.array, lo: mx.array, pc: mx.array) -> mx.array:
    """True range from ticks, exact, in price units."""
    return K.to_price(mx.maximum(h, pc) - mx.minimum(lo, pc))


def _di_dx(sp: mx.array, sm: mx.array, st_: mx.array) -> tuple[mx.array, mx.array, mx.array]:
    pdi, mdi = safe_div(100.0 * sp, st_), safe_div(100.0 * sm, st_)
    return pdi, mdi, safe_div(100.0 * mx.abs(pdi - mdi), pdi + mdi)


def adx_batch(c: K.Compact, n: int) -> tuple[mx.array, mx.array, mx.array]:
    """(+DI, −DI, ADX) as TA-Lib computes them."""
    ph = K.shift(c.high_t, 1, K.first_col(c.high_t))
    pl = K.shift(c.low_t, 1, K.first_col(c.low_t))
    pc = K.shift(c.close_t, 1, K.first_col(c.close_t))
    pdm, mdm = _dm(c.high_t, c.low_t, ph, pl)
    tr = _tr(c.high_t, c.low_t, pc)
    pdi, mdi, dx = _di_dx(*(K.wilder_sum(x, n, 1) for x in (pdm, mdm, tr)))
    return pdi, mdi, K.ema(dx, n, lead=n, k=1.0 / n)


def adx_init(st: State, s: int, n: int) -> State:
    st.update({"p": izeros(s, 3), "sp": zeros(s), "sm": zeros(s), "st": zeros(s)})
    return ema_state(st, "adx", s, n)


def adx_step(st: State, b: Bar, n: int) -> tuple[mx.array, mx.array, mx.array]:
    p = st["p"]
    first = b.n == 1
    pdm, mdm = _dm(b.high_t, b.low_t, p[:, 0], p[:, 1])
    tr = _tr(b.high_t, b.low_t, p[:, 2])
    idx = b.n - 1
    sums = []
    for key, x in (("sp", pdm), ("sm", mdm), ("st", tr)):
        x = mx.where(first, 0.0, x)
        s_ = mx.where(idx <= n - 1, st[key] + x, st[key] - st[key] / n + x)
        st[key] = s_
        sums.append(s_)
    st["p"] = mx.stack([b.high_t, b.low_t, b.close_t], axis=1)
    pdi, mdi, dx = _di_dx(*sums)
    return pdi, mdi, ema_step(st, "adx", dx, b.n, n, lead=n, k=1.0 / n)


def adx_state(st: State, c: K.Compact, m: mx.array, n: int) -> State:
    """``adx_step``'s state after ``m`` bars (``engine.indicators.warm``)."""
    ph = K.shift(c.high_t, 1, K.first_col(c.high_t))
    pl = K.shift(c.low_t, 1, K.first_col(c.low_t))
    pc = K.shift(c.close_t, 1, K.first_col(c.close_t))
    pdm, mdm = _dm(c.high_t, c.low_t, ph, pl)
    tr = _tr(c.high_t, c.low_t, pc)
    st["p"] = mx.stack([W.at(x, m, 0) for x in (c.high_t, c.low_t, c.close_t)], axis=1)
    for key, x in (("sp", pdm), ("sm", mdm), ("st", tr)):
        st[key] = W.wilder_s(x, m, n)
    _, _, dx = _di_dx(*(K.wilder_sum(x, n, 1) for x in (pdm, mdm, tr)))
    st["adxy"] = W.ema_y(dx, m, n, lead=n, k=1.0 / n)
    return st


def _adx(n: int) -> Indicator:
    a, p, m = f"adx_{n}", f"plus_di_{n}", f"minus_di_{n}"

    def batch(c: K.Compact) -> Out:
        pdi, mdi, adx = adx_batch(c, n)
        return {a: adx, p: pdi, m: mdi}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        pdi, mdi, adx = adx_step(st, b, n)
        return st, {a: adx, p: pdi, m: mdi}

    return seq_indicator(f"adx_{n}", FAMILY, (a, p, m), {"period": n}, 2 * n - 1, batch,
                  lambda s: adx_init({}, s, n), step, warmups={p: n, m: n},
                  description=f"Average directional index and ±DI ({n})",
                  state=lambda c, k: adx_state({}, c, k, n))


def _aroon(n: int) -> Indicator:
    up, dn, osc = f"aroon_up_{n}", f"aroon_down_{n}", f"aroon_osc_{n}"

    def outs(since_h: mx.array, since_l: mx.array) -> Out:
        u, d = 100.0 * (n - since_h) / n, 100.0 * (n - since_l) / n
        return {up: u, dn: d, osc: u - d}

    def batch(c: K.Compact) -> Out:
        return outs(K.rolling_arg_extreme(c.high_t, n + 1, True),
                    K.rolling_arg_extreme(c.low_t, n + 1, False))

    def since(buf: mx.array, highest: bool) -> mx.array:
        ext = buf.max(axis=1) if highest else buf.min(axis=1)
        pos = mx.arange(n + 1, dtype=mx.float32)[None, :]
        last = mx.where(buf == ext[:, None], pos, -1.0).max(axis=1)
        return n - last

    def step(st: State, b: Bar) -> tuple[State, Out]:
        h, lo = push(st["h"], b.high_t), push(st["l"], b.low_t)  # ticks: exact ties
        return {"h": h, "l": lo}, outs(since(h, True), since(lo, False))

    return seq_indicator(f"aroon_{n}", FAMILY, (up, dn, osc), {"period": n}, n, batch,
                  lambda s: {"h": izeros(s, n + 1), "l": izeros(s, n + 1)}, step,
                  description=f"Aroon up/down/oscillator over {n} bars",
                  state=lambda c, m: {"h": W.window(c.high_t, m, n + 1, 0),
                                      "l": W.window(c.low_t, m, n + 1, 0)})


def _slope_weights(n: int) -> np.ndarray:
    j = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    return (j / np.sum(j * j)).astype(np.float32)


def _linreg_slope(n: int) -> Indicator:
    name = f"linreg_slope_{n}"
    w = _slope_weights(n)

    def batch(c: K.Compact) -> Out:
        cols = K.window_stack(c.close_t, n)  # offsets to the current close, exact in ticks
        acc = K.to_price(cols[0] - c.close_t) * float(w[0])
        for i in range(1, n):
            acc = acc + K.to_price(cols[i] - c.close_t) * float(w[i])
        return {name: acc}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        buf = push(st["buf"], b.close_t)
        return {"buf": buf}, {name: K.to_price(buf - b.close_t[:, None]) @ mx.array(w)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch,
                  lambda s: {"buf": izeros(s, n)}, step,
                  description=f"Least-squares slope of close over {n} bars (price per bar)",
                  state=lambda c, m: {"buf": W.window(c.close_t, m, n, 0)})


INDICATORS: tuple[Indicator, ...] = (_adx(14), _aroon(25), _linreg_slope(14))

_ADX = History.memory(1.0 / 14, lead=28)
_AROON = History.window(26)
META: tuple[OutputMeta, ...] = (
    oscillator("adx_14", _ADX, 0.0, 100.0),
    oscillator("plus_di_14", _ADX, 0.0, 100.0),
    oscillator("minus_di_14", _ADX, 0.0, 100.0),
    oscillator("aroon_up_25", _AROON, 0.0, 100.0),
    oscillator("aroon_down_25", _AROON, 0.0, 100.0),
    oscillator("aroon_osc_25", _AROON, -100.0, 100.0, Direction.sign()),
    price_diff("linreg_slope_14", History.window(14), Direction.sign()),
)
