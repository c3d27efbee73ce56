"""Market regime per symbol per minute: range, trend-up, trend-down or volatile.

The selection model and the screen key on it, so the rules are fixed here and
computed like any other registry output (``regime``, codes index
``engine.snapshot.REGIMES``; -1 during warm-up):

1. ``volatile`` when short-term volatility is unusually high for the symbol:
   ATR(14) >= 1.5 x ATR(120) (Wilder), i.e. the last ~14 bars range about 50 %
   more than the symbol's recent norm (a cheap stand-in for "ATR above its
   rolling ~90th percentile" that needs no sort in the per-minute step).
2. otherwise ``trend-up`` / ``trend-down`` when ADX(14) >= 25, by the sign of
   +DI − −DI;
3. otherwise ``range``.
"""

from __future__ import annotations

import mlx.core as mx

from engine import kernels as K
from engine.indicator_types import Indicator, State
from engine.indicators.base import Bar, seq_indicator
from engine.indicators.trend_dir import adx_batch, adx_init, adx_state, adx_step
from engine.indicators.volatility import atr_batch, atr_init, atr_state, atr_step
from engine.meta import History, Kind, OutputMeta, Scale
from engine.snapshot import REGIMES

ADX_N, ATR_FAST, ATR_SLOW = 14, 14, 120
ADX_TREND, VOL_RATIO = 25.0, 1.5
_CODE = {name: float(i) for i, name in enumerate(REGIMES)}


def classify(adx: mx.array, pdi: mx.array, mdi: mx.array, atr_fast: mx.array,
             atr_slow: mx.array) -> mx.array:
    """The documented rules, as float codes (index into ``REGIMES``)."""
    trend = mx.where(pdi >= mdi, _CODE["trend-up"], _CODE["trend-down"])
    calm = mx.where(adx >= ADX_TREND, trend, _CODE["range"])
    return mx.where(atr_fast >= VOL_RATIO * atr_slow, _CODE["volatile"], calm)


def _batch(c: K.Compact) -> dict[str, mx.array]:
    pdi, mdi, adx = adx_batch(c, ADX_N)
    return {"regime": classify(adx, pdi, mdi, atr_batch(c, ATR_FAST), atr_batch(c, ATR_SLOW))}


def _init(s: int) -> State:
    return atr_init(atr_init(adx_init({}, s, ADX_N), "f", s, ATR_FAST), "s", s, ATR_SLOW)


def _state(c: K.Compact, m: mx.array) -> State:
    st = atr_state(adx_state({}, c, m, ADX_N), "f", c, m, ATR_FAST)
    return atr_state(st, "s", c, m, ATR_SLOW)


def _step(st: State, b: Bar) -> tuple[State, dict[str, mx.array]]:
    st = dict(st)
    pdi, mdi, adx = adx_step(st, b, ADX_N)
    fast, slow = atr_step(st, "f", b, ATR_FAST), atr_step(st, "s", b, ATR_SLOW)
    return st, {"regime": classify(adx, pdi, mdi, fast, slow)}


REGIME = seq_indicator("regime", "trend", ("regime",), {"adx": ADX_N, "atr_fast": ATR_FAST,
              "atr_slow": ATR_SLOW, "adx_trend": ADX_TREND, "vol_ratio": VOL_RATIO},
              max(2 * ADX_N - 1, ATR_SLOW), _batch, _init, _step,
              description="Regime code: 0 range, 1 trend-up, 2 trend-down, 3 volatile",
              state=_state)

INDICATORS: tuple[Indicator, ...] = (REGIME,)
META: tuple[OutputMeta, ...] = (
    OutputMeta("regime", Kind.CATEGORICAL, Scale.NONE,
               History.memory(1.0 / ATR_SLOW, lead=ATR_SLOW + 1)),
)
