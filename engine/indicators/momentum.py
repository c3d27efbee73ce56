"""Momentum family: oscillators (RSI, stochastics, %R, CCI, ROC, MOM, TRIX, PPO, UO, BOP).

All follow TA-Lib's definitions, including its zero-division guards (a flat
window gives 0, not NaN) and its warm-ups. TRIX is computed from first
differences carried through the EMA chain, because the ratio of two
consecutive triple-EMA values is below float32 resolution on minute bars.
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
    lag_step,
    push,
    safe_div,
    seq_indicator,
    zeros,
)
from engine.meta import Direction, History, OutputMeta, oscillator, price_diff, ratio

FAMILY = "momentum"
Out = dict[str, mx.array]


def _tdiff(xt: mx.array) -> mx.array:
    """Bar-to-bar change of a tick series, exact, in price units."""
    return K.to_price(xt - K.shift(xt, 1, K.first_col(xt)))


def _prev_t(st: State, b: Bar) -> mx.array:
    return mx.where(b.n == 1, b.close_t, st["prev"])


# --------------------------------------------------------------------- RSI


def rsi_batch(xt: mx.array, n: int) -> mx.array:
    """RSI of a tick series (exact up/down moves, so ties stay ties)."""
    d = _tdiff(xt)
    g = K.ema(mx.maximum(d, 0.0), n, lead=1, k=1.0 / n)
    lo = K.ema(mx.maximum(-d, 0.0), n, lead=1, k=1.0 / n)
    return safe_div(100.0 * g, g + lo)


def rsi_init(st: State, p: str, s: int, n: int) -> State:
    st[p + "prev"] = izeros(s)
    ema_state(st, p + "g", s, n)
    return ema_state(st, p + "l", s, n)


def rsi_step(st: State, p: str, b: Bar, xt: mx.array, n: int) -> mx.array:
    d = mx.where(b.n == 1, 0.0, K.to_price(xt - st[p + "prev"]))
    st[p + "prev"] = xt
    g = ema_step(st, p + "g", mx.maximum(d, 0.0), b.n, n, lead=1, k=1.0 / n)
    lo = ema_step(st, p + "l", mx.maximum(-d, 0.0), b.n, n, lead=1, k=1.0 / n)
    return safe_div(100.0 * g, g + lo)


def rsi_state(st: State, p: str, xt: mx.array, m: mx.array, n: int) -> State:
    """``rsi_step``'s state after ``m`` bars of the tick series ``xt``."""
    d = _tdiff(xt)
    st[p + "prev"] = W.at(xt, m, 0)
    st[p + "gy"] = W.ema_y(mx.maximum(d, 0.0), m, n, lead=1, k=1.0 / n)
    st[p + "ly"] = W.ema_y(mx.maximum(-d, 0.0), m, n, lead=1, k=1.0 / n)
    return st


def _rsi(n: int) -> Indicator:
    name = f"rsi_{n}"

    def batch(c: K.Compact) -> Out:
        return {name: rsi_batch(c.close_t, n)}

    def init(s: int) -> State:
        return rsi_init({}, "", s, n)

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        return st, {name: rsi_step(st, "", b, b.close_t, n)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n, batch, init, step,
                  description=f"Relative strength index, Wilder smoothing over {n}",
                  state=lambda c, m: rsi_state({}, "", c.close_t, m, n))


# ----------------------------------------------------------- stochastics


def _stoch_k(x: mx.array, hh: mx.array, ll: mx.array) -> mx.array:
    return safe_div(100.0 * (x - ll), hh - ll)


#: RSI points below which a StochRSI window counts as flat (0, TA-Lib's flat rule).
#: During unchanged closes RSI is exactly constant; its float32 decay wobbles by
#: ~1e-5 points, which must not be stretched to 0-100. A real one-tick move of a
#: $5,000 stock moves RSI(14) by ~4e-3 points.
FLAT_RSI = 1e-4


def _stoch_rsi_k(r: mx.array, hi: mx.array, lo: mx.array) -> mx.array:
    return mx.where(hi - lo < FLAT_RSI, 0.0, _stoch_k(r, hi, lo))


def _stoch_k_t(xt: mx.array, hht: mx.array, llt: mx.array) -> mx.array:
    """%K from ticks: the range and the close's place in it are exact."""
    return safe_div(100.0 * K.to_price(xt - llt), K.to_price(hht - llt))


def _stoch(n: int = 14, sk: int = 3, sd: int = 3) -> Indicator:
    names = ("stoch_k", "stoch_d")
    warm = n - 1 + sk - 1 + sd - 1

    def batch(c: K.Compact) -> Out:
        fk = _stoch_k_t(c.close_t, K.rolling_max(c.high_t, n), K.rolling_min(c.low_t, n))
        k = K.rolling_mean(fk, sk)
        return {"stoch_k": k, "stoch_d": K.rolling_mean(k, sd)}

    def init(s: int) -> State:
        return {"h": izeros(s, n), "l": izeros(s, n), "fk": zeros(s, sk), "k": zeros(s, sd)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        h, lo = push(st["h"], b.high_t), push(st["l"], b.low_t)
        fk = push(st["fk"], _stoch_k_t(b.close_t, h.max(axis=1), lo.min(axis=1)))
        k = push(st["k"], fk.mean(axis=1))
        return {"h": h, "l": lo, "fk": fk, "k": k}, {"stoch_k": k[:, -1],
                                                     "stoch_d": k.mean(axis=1)}

    def state(c: K.Compact, m: mx.array) -> State:
        fk = _stoch_k_t(c.close_t, K.rolling_max(c.high_t, n), K.rolling_min(c.low_t, n))
        return {"h": W.window(c.high_t, m, n, 0), "l": W.window(c.low_t, m, n, 0),
                "fk": W.window(fk, m, sk, 0.0),
                "k": W.window(K.rolling_mean(fk, sk), m, sd, 0.0)}

    return seq_indicator("stoch", FAMILY, names, {"fastk": n, "slowk": sk, "slowd": sd}, warm,
                  batch, init, step, description="Slow stochastic %K/%D (14, 3, 3; SMA smoothing)",
                  state=state)


def _stochrsi(n: int = 14, fk_n: int = 14, fd: int = 3) -> Indicator:
    names = ("stochrsi_k", "stochrsi_d")
    warm = n + fk_n - 1 + fd - 1

    def batch(c: K.Compact) -> Out:
        r = rsi_batch(c.close_t, n)
        k = _stoch_rsi_k(r, K.rolling_max(r, fk_n), K.rolling_min(r, fk_n))
        return {"stochrsi_k": k, "stochrsi_d": K.rolling_mean(k, fd)}

    def init(s: int) -> State:
        return rsi_init({"r": zeros(s, fk_n), "k": zeros(s, fd)}, "", s, n)

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        r = push(st["r"], rsi_step(st, "", b, b.close_t, n))
        k = push(st["k"], _stoch_rsi_k(r[:, -1], r.max(axis=1), r.min(axis=1)))
        st["r"], st["k"] = r, k
        return st, {"stochrsi_k": k[:, -1], "stochrsi_d": k.mean(axis=1)}

    def state(c: K.Compact, m: mx.array) -> State:
        r = rsi_batch(c.close_t, n)
        k = _stoch_rsi_k(r, K.rolling_max(r, fk_n), K.rolling_min(r, fk_n))
        st = {"r": W.window(r, m, fk_n, 0.0), "k": W.window(k, m, fd, 0.0)}
        return rsi_state(st, "", c.close_t, m, n)

    return seq_indicator("stochrsi", FAMILY, names, {"period": n, "fastk": fk_n, "fastd": fd}, warm,
                  batch, init, step, description="Stochastic RSI (14, 14, 3): fast %K, %D",
                  state=state)


def _willr(n: int) -> Indicator:
    name = f"willr_{n}"

    def f(ct: mx.array, hh: mx.array, ll: mx.array) -> mx.array:  # ticks
        return safe_div(-100.0 * K.to_price(hh - ct), K.to_price(hh - ll))

    def batch(c: K.Compact) -> Out:
        return {name: f(c.close_t, K.rolling_max(c.high_t, n), K.rolling_min(c.low_t, n))}

    def init(s: int) -> State:
        return {"h": izeros(s, n), "l": izeros(s, n)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        h, lo = push(st["h"], b.high_t), push(st["l"], b.low_t)
        return {"h": h, "l": lo}, {name: f(b.close_t, h.max(axis=1), lo.min(axis=1))}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch, init, step,
                  description=f"Williams %R over {n} bars",
                  state=lambda c, m: {"h": W.window(c.high_t, m, n, 0),
                                      "l": W.window(c.low_t, m, n, 0)})


def _cci_from_offsets(u: list[mx.array]) -> mx.array:
    """CCI from ``u_i = 3 * (tp_i - tp_now)`` over the window (exact, from ticks)."""
    n = len(u)
    mean = sum(u[1:], u[0]) / n  # 3 * (mean - tp_now)
    dev = sum((mx.abs(x - mean) for x in u[1:]), mx.abs(u[0] - mean)) / n
    return safe_div(-mean, 0.015 * dev)


def _cci(n: int) -> Indicator:
    name = f"cci_{n}"

    def batch(c: K.Compact) -> Out:
        tp3 = c.high_t + c.low_t + c.close_t  # 3 x typical price, in ticks
        u = [K.to_price(w - tp3) for w in K.window_stack(tp3, n)]
        return {name: _cci_from_offsets(u)}

    def init(s: int) -> State:
        return {"tp3": izeros(s, n)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        now = b.high_t + b.low_t + b.close_t
        tp3 = push(st["tp3"], now)
        u = K.to_price(tp3 - now[:, None])
        mean = u.mean(axis=1)
        dev = mx.abs(u - mean[:, None]).mean(axis=1)
        return {"tp3": tp3}, {name: safe_div(-mean, 0.015 * dev)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch, init, step,
                  description=f"Commodity channel index over {n} bars",
                  state=lambda c, m: {"tp3": W.window(c.high_t + c.low_t + c.close_t, m, n, 0)})


def _roc_mom(n: int) -> Indicator:
    roc, mom = f"roc_{n}", f"mom_{n}"

    def batch(c: K.Compact) -> Out:
        pt = K.shift(c.close_t, n, K.first_col(c.close_t))
        d = K.to_price(c.close_t - pt)
        return {roc: safe_div(100.0 * d, K.to_price(pt)), mom: d}

    def init(s: int) -> State:
        return {"buf": izeros(s, n + 1)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        buf = push(st["buf"], b.close_t)
        d = K.to_price(b.close_t - buf[:, 0])
        return {"buf": buf}, {roc: safe_div(100.0 * d, K.to_price(buf[:, 0])), mom: d}

    return seq_indicator(f"roc_mom_{n}", FAMILY, (roc, mom), {"period": n}, n, batch, init, step,
                  description=f"Rate of change (%) and momentum over {n} bars",
                  state=lambda c, m: {"buf": W.window(c.close_t, m, n + 1, 0)})


def _trix(n: int) -> Indicator:
    name = f"trix_{n}"
    k = 2.0 / (n + 1)

    def batch(c: K.Compact) -> Out:
        ref = K.first_col(c.close_t)
        x = K.to_price(c.close_t - ref)
        e1 = K.ema(x, n)
        e2 = K.ema(e1, n, lead=n - 1)
        e3 = K.ema(e2, n, lead=2 * (n - 1))
        d3 = K.ema_diff(K.ema_diff(K.ema_diff(_tdiff(c.close_t), n, 0), n, n - 1), n, 2 * (n - 1))
        e3 = e3 + K.to_price(ref)
        return {name: safe_div(100.0 * d3, e3 - d3)}

    def init(s: int) -> State:
        st: State = {"ref": izeros(s), "prev": izeros(s)}
        for i in range(3):
            ema_state(st, f"e{i}", s, n)
            st[f"d{i}"] = zeros(s)
        return st

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        ref = mx.where(b.n == 1, b.close_t, st["ref"])
        x = K.to_price(b.close_t - ref)
        d_in = mx.where(b.n == 1, 0.0, K.to_price(b.close_t - st["prev"]))
        st["ref"], st["prev"] = ref, b.close_t
        level, idx = x, b.n - 1
        for i in range(3):
            e_prev = st[f"e{i}y"]
            seed = (i + 1) * (n - 1)
            d = mx.where(idx == seed + 1, k * (level - e_prev),
                         mx.where(idx > seed + 1, (1 - k) * st[f"d{i}"] + k * d_in, 0.0))
            e = ema_step(st, f"e{i}", level, b.n, n, lead=i * (n - 1))
            st[f"d{i}"] = d
            level, d_in = e, d
        e3 = level + K.to_price(ref)
        return st, {name: safe_div(100.0 * d_in, e3 - d_in)}

    def state(c: K.Compact, m: mx.array) -> State:
        level = K.to_price(c.close_t - K.first_col(c.close_t))
        d = _tdiff(c.close_t)
        st: State = {"ref": W.first(c.close_t, m, 0), "prev": W.at(c.close_t, m, 0)}
        for i in range(3):
            st[f"e{i}y"] = W.ema_y(level, m, n, lead=i * (n - 1))
            d = K.ema_diff(d, n, i * (n - 1))
            st[f"d{i}"] = W.at(d, m, 0.0)
            level = K.ema(level, n, lead=i * (n - 1))
        return st

    return seq_indicator(name, FAMILY, (name,), {"period": n}, 3 * (n - 1) + 1, batch, init, step,
                  description=f"TRIX: 1-bar % change of the triple EMA ({n})", state=state)


def _ppo(fast: int = 12, slow: int = 26) -> Indicator:
    name = "ppo"
    lead = slow - 1

    def batch(c: K.Compact) -> Out:
        ref = K.first_col(c.close_t)
        x = K.to_price(c.close_t - ref)
        d = _tdiff(c.close_t)
        gf, gs = K.ema_lag(x, d, fast), K.ema_lag(x, d, slow)  # x - EMA: exact-ish lags
        return {name: safe_div(100.0 * (gs - gf), (x - gs) + K.to_price(ref))}

    def init(s: int) -> State:
        st: State = {"ref": izeros(s), "prev": izeros(s)}
        for p in ("f", "s"):
            st[p + "a"], st[p + "g"] = zeros(s), zeros(s)
        return st

    def step(st: State, b: Bar) -> tuple[State, Out]:
        st = dict(st)
        ref = mx.where(b.n == 1, b.close_t, st["ref"])
        x = K.to_price(b.close_t - ref)
        d = mx.where(b.n == 1, 0.0, K.to_price(b.close_t - st["prev"]))
        st["ref"], st["prev"] = ref, b.close_t
        gf = lag_step(st, "f", x, d, b.n, fast, fast - 1)
        gs = lag_step(st, "s", x, d, b.n, slow, slow - 1)
        return st, {name: safe_div(100.0 * (gs - gf), (x - gs) + K.to_price(ref))}

    def state(c: K.Compact, m: mx.array) -> State:
        x = K.to_price(c.close_t - K.first_col(c.close_t))
        d = _tdiff(c.close_t)
        st: State = {"ref": W.first(c.close_t, m, 0), "prev": W.at(c.close_t, m, 0)}
        st["fa"], st["fg"] = W.lag_ag(x, d, m, fast, fast - 1)
        st["sa"], st["sg"] = W.lag_ag(x, d, m, slow, slow - 1)
        return st

    return seq_indicator(name, FAMILY, (name,), {"fast": fast, "slow": slow}, lead, batch, init,
                  step,
                  description="Percentage price oscillator, EMA 12/26", state=state)


def _ultosc(p1: int = 7, p2: int = 14, p3: int = 28) -> Indicator:
    name = "ultosc"

    def combine(sums: list[tuple[mx.array, mx.array]]) -> mx.array:
        out = mx.zeros_like(sums[0][0])
        for w, (a, b_) in zip((4.0, 2.0, 1.0), sums, strict=True):
            out = out + w * safe_div(a, b_)
        return 100.0 * out / 7.0

    def parts(c: mx.array, h: mx.array, lo: mx.array, pc: mx.array) -> tuple[mx.array, mx.array]:
        """Buying pressure and true range from ticks, as exact float32 tick counts."""
        tl = mx.minimum(lo, pc)
        return (c - tl).astype(mx.float32), (mx.maximum(h, pc) - tl).astype(mx.float32)

    def batch(c: K.Compact) -> Out:
        bp, tr = parts(c.close_t, c.high_t, c.low_t,
                       K.shift(c.close_t, 1, K.first_col(c.close_t)))
        return {name: combine([(K.rolling_sum(bp, p), K.rolling_sum(tr, p))
                               for p in (p1, p2, p3)])}

    def init(s: int) -> State:
        return {"prev": izeros(s), "bp": zeros(s, p3), "tr": zeros(s, p3)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        bp, tr = parts(b.close_t, b.high_t, b.low_t, _prev_t(st, b))
        bpb, trb = push(st["bp"], bp), push(st["tr"], tr)
        sums = [(bpb[:, -p:].sum(axis=1), trb[:, -p:].sum(axis=1)) for p in (p1, p2, p3)]
        return {"prev": b.close_t, "bp": bpb, "tr": trb}, {name: combine(sums)}

    def state(c: K.Compact, m: mx.array) -> State:
        bp, tr = parts(c.close_t, c.high_t, c.low_t,
                       K.shift(c.close_t, 1, K.first_col(c.close_t)))
        return {"prev": W.at(c.close_t, m, 0), "bp": W.window(bp, m, p3, 0.0),
                "tr": W.window(tr, m, p3, 0.0)}

    return seq_indicator(name, FAMILY, (name,), {"p1": p1, "p2": p2, "p3": p3}, p3, batch, init,
                  step,
                  description="Ultimate oscillator 7/14/28", state=state)


def _bop() -> Indicator:
    def f(o: mx.array, h: mx.array, lo: mx.array, c: mx.array) -> mx.array:  # ticks
        rng = (h - lo).astype(mx.float32)
        return mx.where(rng > 0, (c - o).astype(mx.float32) / mx.where(rng > 0, rng, 1.0), 0.0)

    def batch(c: K.Compact) -> Out:
        return {"bop": f(c.open_t, c.high_t, c.low_t, c.close_t)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        return st, {"bop": f(b.open_t, b.high_t, b.low_t, b.close_t)}

    return seq_indicator("bop", FAMILY, ("bop",), {}, 0, batch, lambda s: {}, step,
                  description="Balance of power (close − open) / (high − low)",
                  state=lambda c, m: {})


INDICATORS: tuple[Indicator, ...] = (
    *(_rsi(n) for n in (7, 14, 21)), _stoch(), _stochrsi(), _willr(14), _cci(20), _roc_mom(10),
    _trix(15), _ppo(), _ultosc(), _bop(),
)

_OVER = Direction.threshold(30.0, 70.0)
_STOCH = Direction.threshold(20.0, 80.0)
META: tuple[OutputMeta, ...] = (
    *(oscillator(f"rsi_{n}", History.memory(1.0 / n, lead=n + 1), 0.0, 100.0, _OVER)
      for n in (7, 14, 21)),
    oscillator("stoch_k", History.window(18), 0.0, 100.0, _STOCH),
    oscillator("stoch_d", History.window(18), 0.0, 100.0, _STOCH),
    oscillator("stochrsi_k", History.memory(1.0 / 14, lead=30), 0.0, 100.0, _STOCH),
    oscillator("stochrsi_d", History.memory(1.0 / 14, lead=30), 0.0, 100.0, _STOCH),
    oscillator("willr_14", History.window(14), -100.0, 0.0, Direction.threshold(-80.0, -20.0)),
    ratio("cci_20", History.window(20), Direction.threshold(-100.0, 100.0)),
    ratio("roc_10", History.window(11), Direction.sign()),
    price_diff("mom_10", History.window(11), Direction.sign()),
    ratio("trix_15", History.memory(2.0 / 16, lead=44), Direction.sign()),
    ratio("ppo", History.memory(2.0 / 27, lead=26), Direction.sign()),
    oscillator("ultosc", History.window(29), 0.0, 100.0, _OVER),
    oscillator("bop", History.window(1), -1.0, 1.0, Direction.sign()),
)
