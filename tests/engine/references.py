"""The peers' expressions for registry outputs: TA-Lib (parity tests, benchmark) and talipp.

Why here and not on the runtime ``Indicator``: these are facts about the tests'
and the benchmark's reference libraries, not about the engine; the console never
imports TA-Lib or talipp. ``bench/indicators.py`` imports this table too, so the
expressions exist once.

``Ref.expr`` is evaluated with ``talib``, ``np``, the float64 arrays ``o h l c v``
(one symbol's real bars) and the helpers below in scope. ``Ref.prices`` says
which prices the reference sees:

- ``"exact"``: the bars' original float64 prices;
- ``"ticks"``: the same prices as integer ticks of 1/10,000 (result divided back
  by ``10,000 ** power``). Used where float64's own decimal rounding decides
  exact ties: ADX and ±DI (``up == down`` moves, by up to 5.5 points on SPY
  2011 minutes) and SAR (a stop equal to a price reverses or not). For those
  outputs TA-Lib on ticks is exact: ±DI/ADX are scale-free and SAR is
  scale-equivariant up to its own float64 rounding. On the SPY 2011 bars every
  other output agrees with TA-Lib on float64 and on ticks to well under 1e-4
  (checked when this table was written; ``test_talib_parity`` holds both).

Outputs TA-Lib lacks but the issue's list names (``zscore_20``, ``bb_pctb``,
``bb_width``, ``cmf_20``) and ``stddev_20`` use float64 NumPy two-pass
formulas on ticks (exact: a window of equal closes has σ = 0, not 1e-16):
TA-Lib's STDDEV is ``sqrt(E[x²] - E[x]²)``, which in float64 cancels to ~1e-9
of a $5,000 price, more than a one-tick σ's own size. StochRSI's reference is
TA-Lib's RSI with the stochastic taken in NumPy, where a window whose RSI range
is below ``FLAT_RSI`` points counts as flat (0, TA-Lib's flat rule): during a
run of unchanged closes RSI is exactly constant, and the float rounding of its
decay (1e-14 in float64, 1e-6 in float32) is not a signal to stretch to 0–100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

TICKS = 10_000


@dataclass(frozen=True)
class Ref:
    expr: str
    prices: str = "exact"  # "exact" | "ticks"
    power: int = 0  # the output scales as price**power (to undo the tick scale)
    peer: str = ""  # the plain TA-Lib call the benchmark times, when ``expr`` is not one

    @property
    def talib_call(self) -> str:
        """The TA-Lib call (without an output index) the benchmark runs, or ''."""
        e = self.peer or self.expr
        return e.split("[")[0] if e.startswith("talib.") else ""


def _windows(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of x (float64) and the mask of positions that have one."""
    out = np.full((len(x), n), np.nan)
    if len(x) >= n:
        out[n - 1:] = sliding_window_view(x, n)
    return out, np.arange(len(x)) >= n - 1


def sd2p(x: np.ndarray, n: int) -> np.ndarray:
    """Population σ over n bars, two-pass in float64 around the window mean."""
    w, ok = _windows(x, n)
    d = w - np.mean(w, axis=1, keepdims=True)  # NaN rows (no full window) stay NaN
    return np.where(ok, np.sqrt(np.mean(d * d, axis=1)), np.nan)


def mean_n(x: np.ndarray, n: int) -> np.ndarray:
    w, ok = _windows(x, n)
    return np.where(ok, np.mean(w, axis=1), np.nan)


def div0(a: np.ndarray, b: np.ndarray, default: float = 0.0) -> np.ndarray:
    """a / b, ``default`` where b == 0 (the engine's flat-window convention)."""
    with np.errstate(all="ignore"):
        return np.where(b == 0, default, a / np.where(b == 0, 1.0, b))


def zscore(c: np.ndarray, n: int) -> np.ndarray:
    return div0(c - mean_n(c, n), sd2p(c, n))


def bb_pctb(c: np.ndarray, n: int, k: float) -> np.ndarray:
    sd = sd2p(c, n)
    return div0(c - (mean_n(c, n) - k * sd), 2 * k * sd, 0.5)


def bb_width(c: np.ndarray, n: int, k: float) -> np.ndarray:
    return div0(2 * k * sd2p(c, n), mean_n(c, n))


def cmf(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Chaikin money flow: Σ CLV·v / Σ v over n bars (CLV 0 on a flat bar)."""
    mfv = div0(((c - lo) - (h - c)) * v, h - lo)
    mw, ok = _windows(mfv, n)
    vw, _ = _windows(v, n)
    return np.where(ok, div0(np.sum(mw, axis=1), np.sum(vw, axis=1)), np.nan)


FLAT_RSI = 1e-4  # RSI points; a one-tick move at $5,000 moves RSI(14) by ~4e-3


def stochrsi(c: np.ndarray, n: int, fk: int, fd: int) -> tuple[np.ndarray, np.ndarray]:
    """Fast %K and %D of RSI(n) over fk bars (SMA fd), flat windows 0."""
    import talib

    r = talib.RSI(c, n)
    w, _ = _windows(np.nan_to_num(r), fk)
    hi, lo = np.max(w, axis=1), np.min(w, axis=1)
    k = np.where(hi - lo < FLAT_RSI, 0.0, div0(100.0 * (r - lo), hi - lo))
    k = np.where(np.arange(len(c)) >= n + fk - 1, k, np.nan)
    kw, _ = _windows(k, fd)
    warm = np.arange(len(c)) >= n + fk + fd - 2  # TA-Lib's lookback for both outputs
    return np.where(warm, k, np.nan), np.where(warm, np.mean(kw, axis=1), np.nan)


HELPERS = {"sd2p": sd2p, "zscore": zscore, "bb_pctb": bb_pctb, "bb_width": bb_width,
           "cmf": cmf, "div0": div0, "stochrsi": stochrsi}

_BB = "talib.BBANDS(c, 20, 2.0, 2.0, 0)"
_STOCH = "talib.STOCH(h, l, c, 14, 3, 0, 3, 0)"
_SRSI = "stochrsi(c, 14, 14, 3)"
_MACD = "talib.MACD(c, 12, 26, 9)"

TALIB: dict[str, Ref] = {
    "adx_14": Ref("talib.ADX(h, l, c, 14)", "ticks"),
    "plus_di_14": Ref("talib.PLUS_DI(h, l, c, 14)", "ticks"),
    "minus_di_14": Ref("talib.MINUS_DI(h, l, c, 14)", "ticks"),
    "aroon_up_25": Ref("talib.AROON(h, l, 25)[1]"),
    "aroon_down_25": Ref("talib.AROON(h, l, 25)[0]"),
    "aroon_osc_25": Ref("talib.AROONOSC(h, l, 25)"),
    "linreg_slope_14": Ref("talib.LINEARREG_SLOPE(c, 14)"),
    "atr_14": Ref("talib.ATR(h, l, c, 14)"),
    "natr_14": Ref("talib.NATR(h, l, c, 14)"),
    "bb_upper": Ref(f"{_BB}[0]"),
    "bb_middle": Ref(f"{_BB}[1]"),
    "bb_lower": Ref(f"{_BB}[2]"),
    "bb_pctb": Ref("bb_pctb(c, 20, 2.0)", "ticks"),
    "bb_width": Ref("bb_width(c, 20, 2.0)", "ticks"),
    "stddev_20": Ref("sd2p(c, 20)", "ticks", 1, peer="talib.STDDEV(c, 20, 1)"),
    "zscore_20": Ref("zscore(c, 20)", "ticks"),
    "dc_upper_20": Ref("talib.MAX(h, 20)"),
    "dc_lower_20": Ref("talib.MIN(l, 20)"),
    "rsi_7": Ref("talib.RSI(c, 7)"),
    "rsi_14": Ref("talib.RSI(c, 14)"),
    "rsi_21": Ref("talib.RSI(c, 21)"),
    "stoch_k": Ref(f"{_STOCH}[0]"),
    "stoch_d": Ref(f"{_STOCH}[1]"),
    "stochrsi_k": Ref(f"{_SRSI}[0]", peer="talib.STOCHRSI(c, 14, 14, 3, 0)"),
    "stochrsi_d": Ref(f"{_SRSI}[1]", peer="talib.STOCHRSI(c, 14, 14, 3, 0)"),
    "willr_14": Ref("talib.WILLR(h, l, c, 14)"),
    "cci_20": Ref("talib.CCI(h, l, c, 20)"),
    "roc_10": Ref("talib.ROC(c, 10)"),
    "mom_10": Ref("talib.MOM(c, 10)"),
    "trix_15": Ref("talib.TRIX(c, 15)"),
    "ppo": Ref("talib.PPO(c, 12, 26, 1)"),
    "ultosc": Ref("talib.ULTOSC(h, l, c, 7, 14, 28)"),
    "bop": Ref("talib.BOP(o, h, l, c)"),
    "sar": Ref("talib.SAR(h, l, 0.02, 0.2)", "ticks", 1),
    **{f"sma_{n}": Ref(f"talib.SMA(c, {n})") for n in (10, 20, 50, 200)},
    **{f"ema_{n}": Ref(f"talib.EMA(c, {n})") for n in (9, 12, 21, 26, 50, 200)},
    **{f"wma_{n}": Ref(f"talib.WMA(c, {n})") for n in (10, 20)},
    "dema_20": Ref("talib.DEMA(c, 20)"),
    "tema_20": Ref("talib.TEMA(c, 20)"),
    "kama_10": Ref("talib.KAMA(c, 10)"),
    "macd": Ref(f"{_MACD}[0]"),
    "macd_signal": Ref(f"{_MACD}[1]"),
    "macd_hist": Ref(f"{_MACD}[2]"),
    "obv": Ref("talib.OBV(c, v)"),
    "ad": Ref("talib.AD(h, l, c, v)"),
    "adosc": Ref("talib.ADOSC(h, l, c, v, 3, 10)"),
    "mfi_14": Ref("talib.MFI(h, l, c, v, 14)"),
    "cmf_20": Ref("cmf(h, l, c, v, 20)"),
}

#: talipp constructors (``talipp.indicators``) the benchmark steps, keyed by output.
TALIPP: dict[str, str] = {
    "adx_14": "ADX(14, 14)", "aroon_up_25": "Aroon(25)", "atr_14": "ATR(14)",
    "bb_upper": "BB(20, 2.0)", "stddev_20": "StdDev(20)",
    "kc_upper": "KeltnerChannels(20, 10, 2.0, 2.0)", "dc_upper_20": "DonchianChannels(20)",
    "rsi_7": "RSI(7)", "rsi_14": "RSI(14)", "rsi_21": "RSI(21)", "stoch_k": "Stoch(14, 3)",
    "willr_14": "Williams(14)", "cci_20": "CCI(20)", "roc_10": "ROC(10)", "trix_15": "TRIX(15)",
    "ultosc": "UO(7, 14, 28)", "bop": "BOP()", "sar": "ParabolicSAR(0.02, 0.02, 0.2)",
    **{f"sma_{n}": f"SMA({n})" for n in (10, 20, 50, 200)},
    **{f"ema_{n}": f"EMA({n})" for n in (9, 12, 21, 26, 50, 200)},
    "wma_10": "WMA(10)", "wma_20": "WMA(20)", "dema_20": "DEMA(20)", "tema_20": "TEMA(20)",
    "kama_10": "KAMA(10, 2, 30)", "hma_9": "HMA(9)", "hma_21": "HMA(21)",
    "macd": "MACD(12, 26, 9)", "obv": "OBV()", "ad": "AccuDist()", "adosc": "ChaikinOsc(3, 10)",
}


def evaluate(ref: Ref, bars: dict[str, np.ndarray]) -> np.ndarray:
    """The reference on one symbol's real bars (``o h l c v`` float64)."""
    import talib

    cols = dict(bars)
    if ref.prices == "ticks":
        cols.update({k: np.rint(bars[k] * TICKS) for k in "ohlc"})
    out = eval(ref.expr, {"talib": talib, "np": np, **HELPERS, **cols})  # our table, not input
    out = np.asarray(out, dtype=np.float64)
    return out / TICKS**ref.power if ref.prices == "ticks" else out
