"""Trend family, part 1: moving averages and MACD, on each symbol's real bars.

Definitions follow TA-Lib exactly (EMA seeded by the SMA of its first n
inputs; DEMA/TEMA chain EMAs from the first valid value of the previous one;
MACD seeds its fast EMA at the slow EMA's first bar, as TA-Lib aligns it), so
the parity suite can hold us to TA-Lib's numbers and warm-up NaNs.
"""

from __future__ import annotations

import math

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
    lag_step,
    push,
    seq_indicator,
    zeros,
)
from engine.meta import Direction, History, OutputMeta, level, price_diff

FAMILY = "trend"


def _sma(n: int) -> Indicator:
    name = f"sma_{n}"

    def batch(c: K.Compact) -> dict[str, mx.array]:
        ref = K.first_col(c.close)
        return {name: K.rolling_mean(c.close - ref, n) + ref}

    def init(s: int) -> State:
        return {"buf": zeros(s, n)}

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        buf = push(st["buf"], b.close)
        return {"buf": buf}, {name: buf.mean(axis=1)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch, init, step,
                  description=f"Simple moving average of close over {n} bars",
                  state=lambda c, m: {"buf": W.window(c.close, m, n, 0.0)})


def _ema(n: int) -> Indicator:
    name = f"ema_{n}"

    def batch(c: K.Compact) -> dict[str, mx.array]:
        return {name: K.ema(c.close, n)}

    def init(s: int) -> State:
        return ema_state({}, "e", s, n)

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        st = dict(st)
        return st, {name: ema_step(st, "e", b.close, b.n, n)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch, init, step,
                  description=f"Exponential moving average of close, k=2/({n}+1), SMA-seeded",
                  state=lambda c, m: {"ey": W.ema_y(c.close, m, n)})


def _wma_weights(n: int) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64)
    return (w / w.sum()).astype(np.float32)


def wma_batch(x: mx.array, n: int) -> mx.array:
    """Linearly weighted MA (newest weight n) by n shifted slices: exact in float32."""
    w = _wma_weights(n)
    cols = K.window_stack(x, n)
    acc = cols[0] * float(w[0])
    for i in range(1, n):
        acc = acc + cols[i] * float(w[i])
    return acc


def wma_buf(buf: mx.array) -> mx.array:
    return buf @ mx.array(_wma_weights(buf.shape[1]))


def _wma(n: int) -> Indicator:
    name = f"wma_{n}"

    def batch(c: K.Compact) -> dict[str, mx.array]:
        ref = K.first_col(c.close)
        return {name: wma_batch(c.close - ref, n) + ref}

    def init(s: int) -> State:
        return {"buf": zeros(s, n)}

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        buf = push(st["buf"], b.close)
        return {"buf": buf}, {name: wma_buf(buf)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch, init, step,
                  description=f"Linearly weighted moving average of close over {n} bars",
                  state=lambda c, m: {"buf": W.window(c.close, m, n, 0.0)})


def _dema_tema(n: int, triple: bool) -> Indicator:
    name = f"{'tema' if triple else 'dema'}_{n}"
    depth = 3 if triple else 2

    def batch(c: K.Compact) -> dict[str, mx.array]:
        ref = K.first_col(c.close)
        e1 = K.ema(c.close - ref, n)
        e2 = K.ema(e1, n, lead=n - 1)
        if not triple:
            return {name: 2 * e1 - e2 + ref}
        e3 = K.ema(e2, n, lead=2 * (n - 1))
        return {name: 3 * e1 - 3 * e2 + e3 + ref}

    def init(s: int) -> State:
        st: State = {"ref": zeros(s)}
        for i in range(depth):
            ema_state(st, f"e{i}", s, n)
        return st

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        st = dict(st)
        ref = mx.where(b.n == 1, b.close, st["ref"])
        st["ref"] = ref
        e1 = ema_step(st, "e0", b.close - ref, b.n, n)
        e2 = ema_step(st, "e1", e1, b.n, n, lead=n - 1)
        if not triple:
            return st, {name: 2 * e1 - e2 + ref}
        e3 = ema_step(st, "e2", e2, b.n, n, lead=2 * (n - 1))
        return st, {name: 3 * e1 - 3 * e2 + e3 + ref}

    def state(c: K.Compact, m: mx.array) -> State:
        level = c.close - K.first_col(c.close)
        st: State = {"ref": W.first(c.close, m, 0.0)}
        for i in range(depth):
            st[f"e{i}y"] = W.ema_y(level, m, n, lead=i * (n - 1))
            level = K.ema(level, n, lead=i * (n - 1))
        return st

    fn = "TEMA" if triple else "DEMA"
    return seq_indicator(name, FAMILY, (name,), {"period": n}, depth * (n - 1), batch, init, step,
                  description=f"{'Triple' if triple else 'Double'} EMA ({fn}) of close, {n}",
                  state=state)


_KAMA_FAST, _KAMA_SLOW = 2.0 / 3.0, 2.0 / 31.0


def _kama_sc(vol: mx.array, proc: mx.array) -> mx.array:
    er = mx.where((vol <= proc) | (vol == 0), 1.0, mx.abs(proc / mx.where(vol == 0, 1.0, vol)))
    return mx.square(er * (_KAMA_FAST - _KAMA_SLOW) + _KAMA_SLOW)


def _kama(n: int) -> Indicator:
    name = f"kama_{n}"

    def batch(c: K.Compact) -> dict[str, mx.array]:
        ref = K.first_col(c.close, n - 1)
        x = c.close - ref
        vol = K.rolling_sum(mx.abs(x - K.shift(x, 1, K.first_col(x))), n)
        proc = x - K.shift(x, n, K.first_col(x))
        sc = _kama_sc(vol, proc)
        t = mx.arange(x.shape[1])[None, :]
        a = mx.where(t >= n, 1.0 - sc, 0.0)
        b_ = mx.where(t >= n, sc * x, mx.where(t == n - 1, x, 0.0))
        return {name: K.scan_var(a, b_) + ref}

    def init(s: int) -> State:
        return {"buf": zeros(s, n + 1), "y": zeros(s)}

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        buf = push(st["buf"], b.close)
        vol = mx.abs(buf[:, 1:] - buf[:, :-1]).sum(axis=1)
        sc = _kama_sc(vol, b.close - buf[:, 0])
        idx = b.n - 1
        y = mx.where(idx == n - 1, b.close,
                     mx.where(idx >= n, st["y"] + sc * (b.close - st["y"]), 0.0))
        return {"buf": buf, "y": y}, {name: y}

    def state(c: K.Compact, m: mx.array) -> State:
        y = W.at(batch(c)[name], m, 0.0)
        return {"buf": W.window(c.close, m, n + 1, 0.0), "y": mx.where(m >= n, y, 0.0)}

    return seq_indicator(name, FAMILY, (name,), {"period": n, "fast": 2, "slow": 30}, n, batch,
                  init, step, description=f"Kaufman adaptive moving average, efficiency over {n}",
                  state=state)


def _hma(n: int) -> Indicator:
    name = f"hma_{n}"
    half, sq = n // 2, math.isqrt(n)

    def batch(c: K.Compact) -> dict[str, mx.array]:
        ref = K.first_col(c.close)
        x = c.close - ref
        d = 2 * wma_batch(x, half) - wma_batch(x, n)
        return {name: wma_batch(d, sq) + ref}

    def init(s: int) -> State:
        return {"ref": zeros(s), "buf": zeros(s, n), "dbuf": zeros(s, sq)}

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        ref = mx.where(b.n == 1, b.close, st["ref"])
        buf = push(st["buf"], b.close - ref)
        d = 2 * wma_buf(buf[:, n - half:]) - wma_buf(buf)
        dbuf = push(st["dbuf"], d)
        return {"ref": ref, "buf": buf, "dbuf": dbuf}, {name: wma_buf(dbuf) + ref}

    def state(c: K.Compact, m: mx.array) -> State:
        x = c.close - K.first_col(c.close)
        d = 2 * wma_batch(x, half) - wma_batch(x, n)
        return {"ref": W.first(c.close, m, 0.0), "buf": W.window(x, m, n, 0.0),
                "dbuf": W.window(d, m, sq, 0.0)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1 + sq - 1, batch, init, step,
                  description=f"Hull moving average {n}: WMA(2·WMA(n/2) − WMA(n), √n)",
                  state=state)


def _macd(fast: int = 12, slow: int = 26, signal: int = 9) -> Indicator:
    names = ("macd", "macd_signal", "macd_hist")
    lead = slow - 1
    warm = lead + signal - 1

    def batch(c: K.Compact) -> dict[str, mx.array]:
        x = K.to_price(c.close_t - K.first_col(c.close_t))  # exact offsets (ticks)
        d = K.to_price(c.close_t - K.shift(c.close_t, 1, K.first_col(c.close_t)))
        line = K.ema_lag(x, d, slow) - K.ema_lag(x, d, fast, seed_at=lead)  # EMA_f - EMA_s
        sig = K.ema(line, signal, lead=lead)
        return {"macd": line, "macd_signal": sig, "macd_hist": line - sig}

    def init(s: int) -> State:
        st: State = {"ref": izeros(s), "prev": izeros(s)}
        for p in ("f", "s"):
            st[p + "a"], st[p + "g"] = zeros(s), zeros(s)
        return ema_state(st, "g", s, signal)

    def step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
        st = dict(st)
        ref = mx.where(b.n == 1, b.close_t, st["ref"])
        x = K.to_price(b.close_t - ref)
        d = mx.where(b.n == 1, 0.0, K.to_price(b.close_t - st["prev"]))
        st["ref"], st["prev"] = ref, b.close_t
        line = lag_step(st, "s", x, d, b.n, slow, lead) - lag_step(st, "f", x, d, b.n, fast, lead)
        sig = ema_step(st, "g", line, b.n, signal, lead=lead)
        return st, {"macd": line, "macd_signal": sig, "macd_hist": line - sig}

    def state(c: K.Compact, m: mx.array) -> State:
        x = K.to_price(c.close_t - K.first_col(c.close_t))
        d = K.to_price(c.close_t - K.shift(c.close_t, 1, K.first_col(c.close_t)))
        st: State = {"ref": W.first(c.close_t, m, 0), "prev": W.at(c.close_t, m, 0)}
        st["sa"], st["sg"] = W.lag_ag(x, d, m, slow, lead)
        st["fa"], st["fg"] = W.lag_ag(x, d, m, fast, lead)
        line = K.ema_lag(x, d, slow) - K.ema_lag(x, d, fast, seed_at=lead)
        st["gy"] = W.ema_y(line, m, signal, lead=lead)
        return st

    return seq_indicator(
        "macd", FAMILY, names, {"fast": fast, "slow": slow, "signal": signal}, warm,
        batch, init, step, description="MACD 12/26/9: line, signal EMA, histogram",
        state=state,
    )


INDICATORS: tuple[Indicator, ...] = (
    *(_sma(n) for n in (10, 20, 50, 200)),
    *(_ema(n) for n in (9, 12, 21, 26, 50, 200)),
    *(_wma(n) for n in (10, 20)),
    _dema_tema(20, triple=False), _dema_tema(20, triple=True), _kama(10), _hma(9), _hma(21),
    _macd(),
)

_MACD = History.memory(2.0 / 27, lead=34)
META: tuple[OutputMeta, ...] = (
    *(level(f"sma_{n}", History.window(n)) for n in (10, 20, 50, 200)),
    *(level(f"ema_{n}", History.memory(2.0 / (n + 1), lead=n)) for n in (9, 12, 21, 26, 50, 200)),
    *(level(f"wma_{n}", History.window(n)) for n in (10, 20)),
    level("dema_20", History.memory(2.0 / 21, lead=39)),
    level("tema_20", History.memory(2.0 / 21, lead=58)),
    # the adaptive constant is at least the slow one squared: the longest memory
    level("kama_10", History.memory(_KAMA_SLOW**2, lead=11)),
    level("hma_9", History.window(11)),
    level("hma_21", History.window(24)),
    price_diff("macd", _MACD, Direction.sign()),
    price_diff("macd_signal", _MACD),
    price_diff("macd_hist", _MACD, Direction.sign()),
)
