"""Volatility family: ATR/NATR, Bollinger, Keltner, Donchian, rolling stdev and z-score.

Window statistics are computed from offsets to the current bar (``x_i - x_t``),
which float32 subtracts exactly, so a 20-bar standard deviation of a $4,000
stock keeps its digits instead of cancelling in ``E[x²] - E[x]²``.
"""

from __future__ import annotations

import mlx.core as mx

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
from engine.meta import (
    Direction,
    History,
    OutputMeta,
    band,
    level,
    plain_level,
    price_diff,
    ratio,
    zscore,
)

FAMILY = "volatility"
Out = dict[str, mx.array]


def true_range(h: mx.array, lo: mx.array, pc: mx.array) -> mx.array:
    """True range from ticks: exact, then in price units."""
    return K.to_price(mx.maximum(h, pc) - mx.minimum(lo, pc))


def tr_batch(c: K.Compact) -> mx.array:
    return true_range(c.high_t, c.low_t, K.shift(c.close_t, 1, K.first_col(c.close_t)))


def atr_batch(c: K.Compact, n: int) -> mx.array:
    return K.ema(tr_batch(c), n, lead=1, k=1.0 / n)


def atr_init(st: State, p: str, s: int, n: int) -> State:
    st[p + "prev"] = izeros(s)
    return ema_state(st, p + "a", s, n)


def atr_step(st: State, p: str, b: Bar, n: int) -> mx.array:
    pc = mx.where(b.n == 1, b.close_t, st[p + "prev"])
    st[p + "prev"] = b.close_t
    return ema_step(st, p + "a", true_range(b.high_t, b.low_t, pc), b.n, n, lead=1, k=1.0 / n)


def atr_state(st: State, p: str, c: K.Compact, m: mx.array, n: int) -> State:
    """``atr_step``'s state after ``m`` bars (``engine.indicators.warm``)."""
    st[p + "prev"] = W.at(c.close_t, m, 0)
    st[p + "ay"] = W.ema_y(tr_batch(c), m, n, lead=1, k=1.0 / n)
    return st


def _atr(n: int) -> Indicator:
    atr, natr = f"atr_{n}", f"natr_{n}"

    def batch(c: K.Compact) -> Out:
        a = atr_batch(c, n)
        return {atr: a, natr: safe_div(100.0 * a, c.close)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        a = atr_step(st, "", b, n)
        return st, {atr: a, natr: safe_div(100.0 * a, b.close)}

    return seq_indicator(f"atr_natr_{n}", FAMILY, (atr, natr), {"period": n}, n, batch,
                  lambda s: atr_init({}, "", s, n), step,
                  description=f"Average true range (Wilder, {n}) and ATR as % of close",
                  state=lambda c, m: atr_state({}, "", c, m, n))


def window_moments(u: list[mx.array]) -> tuple[mx.array, mx.array]:
    """Mean offset and population stdev from offsets ``u_i = x_i - x_now``."""
    n = len(u)
    mean = sum(u[1:], u[0]) / n
    var = sum((mx.square(x - mean) for x in u[1:]), mx.square(u[0] - mean)) / n
    return mean, mx.sqrt(var)


def _offsets_batch(xt: mx.array, n: int) -> list[mx.array]:
    """Offsets of the window's closes to the current one, exact (from ticks)."""
    return [K.to_price(w - xt) for w in K.window_stack(xt, n)]


@mx.compile
def _moments_fused(win: list[mx.array], xt: mx.array) -> tuple[mx.array, mx.array]:
    return window_moments([K.to_price(w - xt) for w in win])


def moments_batch(xt: mx.array, n: int) -> tuple[mx.array, mx.array]:
    """``window_moments`` of the offsets to the current ``xt`` over ``n`` bars, as one
    compiled kernel (the 3n elementwise passes fused into one)."""
    return _moments_fused(K.window_stack(xt, n), xt)


def _bbands(n: int = 20, k: float = 2.0) -> Indicator:
    names = ("bb_upper", "bb_middle", "bb_lower", "bb_pctb", "bb_width")

    def outs(x: mx.array, mean: mx.array, sd: mx.array) -> Out:
        mid = x + mean
        return {"bb_upper": mid + k * sd, "bb_middle": mid, "bb_lower": mid - k * sd,
                "bb_pctb": mx.where(sd > 0, (k * sd - mean) / mx.where(sd > 0, 2 * k * sd, 1.0),
                                    0.5),
                "bb_width": safe_div(2 * k * sd, mid)}

    def batch(c: K.Compact) -> Out:
        mean, sd = moments_batch(c.close_t, n)
        return outs(c.close, mean, sd)

    def step(st: State, b: Bar) -> tuple[State, Out]:
        buf = push(st["buf"], b.close_t)
        u = K.to_price(buf - b.close_t[:, None])
        mean = u.mean(axis=1)
        sd = mx.sqrt(mx.square(u - mean[:, None]).mean(axis=1))
        return {"buf": buf}, outs(b.close, mean, sd)

    return seq_indicator("bbands", FAMILY, names, {"period": n, "k": k}, n - 1, batch,
                  lambda s: {"buf": izeros(s, n)}, step,
                  description="Bollinger bands 20/2: upper, middle, lower, %B, width/middle",
                  state=lambda c, m: {"buf": W.window(c.close_t, m, n, 0)})


def _stddev_z(n: int) -> Indicator:
    sd_name, z_name = f"stddev_{n}", f"zscore_{n}"

    def outs(mean: mx.array, sd: mx.array) -> Out:
        return {sd_name: sd, z_name: safe_div(-mean, sd)}

    def batch(c: K.Compact) -> Out:
        return outs(*moments_batch(c.close_t, n))

    def step(st: State, b: Bar) -> tuple[State, Out]:
        buf = push(st["buf"], b.close_t)
        u = K.to_price(buf - b.close_t[:, None])
        mean = u.mean(axis=1)
        return {"buf": buf}, outs(mean, mx.sqrt(mx.square(u - mean[:, None]).mean(axis=1)))

    return seq_indicator(f"stddev_z_{n}", FAMILY, (sd_name, z_name), {"period": n}, n - 1, batch,
                  lambda s: {"buf": izeros(s, n)}, step,
                  description=f"Rolling population stdev of close ({n}) and z-score of close",
                  state=lambda c, m: {"buf": W.window(c.close_t, m, n, 0)})


def _keltner(n: int = 20, atr_n: int = 10, k: float = 2.0) -> Indicator:
    names = ("kc_upper", "kc_middle", "kc_lower")

    def outs(mid: mx.array, a: mx.array) -> Out:
        return {"kc_upper": mid + k * a, "kc_middle": mid, "kc_lower": mid - k * a}

    def batch(c: K.Compact) -> Out:
        return outs(K.ema(c.close, n), atr_batch(c, atr_n))

    def init(s: int) -> State:
        return atr_init(ema_state({}, "e", s, n), "t", s, atr_n)

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        return st, outs(ema_step(st, "e", b.close, b.n, n), atr_step(st, "t", b, atr_n))

    return seq_indicator("keltner", FAMILY, names, {"period": n, "atr": atr_n, "k": k},
                  max(n - 1, atr_n), batch, init, step,
                  description="Keltner channel: EMA 20 ± 2 × ATR 10",
                  state=lambda c, m: atr_state({"ey": W.ema_y(c.close, m, n)}, "t", c, m, atr_n))


def _donchian(n: int) -> Indicator:
    up, lo_, mid = f"dc_upper_{n}", f"dc_lower_{n}", f"dc_middle_{n}"

    def outs(hh: mx.array, ll: mx.array) -> Out:
        return {up: hh, lo_: ll, mid: (hh + ll) / 2}

    def batch(c: K.Compact) -> Out:
        return outs(K.rolling_max(c.high, n), K.rolling_min(c.low, n))

    def step(st: State, b: Bar) -> tuple[State, Out]:
        h, lo = push(st["h"], b.high), push(st["l"], b.low)
        return {"h": h, "l": lo}, outs(h.max(axis=1), lo.min(axis=1))

    return seq_indicator(f"donchian_{n}", FAMILY, (up, lo_, mid), {"period": n}, n - 1, batch,
                  lambda s: {"h": zeros(s, n), "l": zeros(s, n)}, step,
                  description=f"Donchian channel {n}: highest high, lowest low, midpoint",
                  state=lambda c, m: {"h": W.window(c.high, m, n, 0.0),
                                      "l": W.window(c.low, m, n, 0.0)})


INDICATORS: tuple[Indicator, ...] = (_atr(14), _bbands(), _stddev_z(20), _keltner(), _donchian(20))

_ATR = History.memory(1.0 / 14, lead=15)
_W20 = History.window(20)
_KC = History.memory(2.0 / 21, lead=21)  # EMA 20 (the slower memory than Wilder's ATR 10)
META: tuple[OutputMeta, ...] = (
    price_diff("atr_14", _ATR),
    ratio("natr_14", _ATR),
    band("bb_upper", _W20, "upper"),
    level("bb_middle", _W20),
    band("bb_lower", _W20, "lower"),
    ratio("bb_pctb", _W20, Direction.threshold(0.0, 1.0)),
    ratio("bb_width", _W20),
    price_diff("stddev_20", _W20),
    zscore("zscore_20", _W20),
    band("kc_upper", _KC, "upper"),
    level("kc_middle", _KC),
    band("kc_lower", _KC, "lower"),
    plain_level("dc_upper_20", _W20),
    plain_level("dc_lower_20", _W20),
    level("dc_middle_20", _W20),
)
