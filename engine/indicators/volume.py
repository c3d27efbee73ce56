"""Volume family: OBV, A/D line, ADOSC, MFI, CMF.

ADOSC is the difference of two EMAs of the (cumulative, ever-growing) A/D
line; it is computed from each EMA's lag ``A/D - EMA(A/D)``, which follows a
bounded recurrence on the bar's money-flow volume, so float32 keeps it exact
however large the A/D line grows.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from engine import kernels as K
from engine.indicator_types import Indicator, State
from engine.indicators import warm as W
from engine.indicators.base import Bar, izeros, push, safe_div, seq_indicator, zeros
from engine.inputs import to_ticks
from engine.meta import Direction, History, Kind, OutputMeta, Scale, oscillator
from storage.types import Panel

FAMILY = "volume"
Out = dict[str, mx.array]


def _clv_vol(h: mx.array, lo: mx.array, c: mx.array, v: mx.array) -> mx.array:
    """Money-flow volume ((c-l) - (h-c)) / (h-l) * v, 0 on a flat bar (TA-Lib AD).

    ``h, lo, c`` are ticks: the close's place in the range is an exact ratio.
    """
    num, rng = ((c - lo) - (h - c)).astype(mx.float32), (h - lo).astype(mx.float32)
    return safe_div(num * v, rng)


def _obv_ad() -> Indicator:
    def sign_vol(c: mx.array, pc: mx.array, v: mx.array) -> mx.array:
        return mx.where(c > pc, v, mx.where(c < pc, -v, 0.0))

    def batch(c: K.Compact) -> Out:
        sv = sign_vol(c.close_t, K.shift(c.close_t, 1, K.first_col(c.close_t)), c.volume)
        sv = mx.where(mx.arange(sv.shape[1])[None, :] == 0, c.volume, sv)
        return {"obv": mx.cumsum(sv, axis=1),
                "ad": mx.cumsum(_clv_vol(c.high_t, c.low_t, c.close_t, c.volume), axis=1)}

    def init(s: int) -> State:
        return {"prev": izeros(s), "obv": zeros(s), "ad": zeros(s)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        sv = mx.where(b.n == 1, b.volume, sign_vol(b.close_t, st["prev"], b.volume))
        obv = st["obv"] + sv
        ad = st["ad"] + _clv_vol(b.high_t, b.low_t, b.close_t, b.volume)
        return {"prev": b.close_t, "obv": obv, "ad": ad}, {"obv": obv, "ad": ad}

    def state(c: K.Compact, m: mx.array) -> State:
        sums = batch(c)
        return {"prev": W.at(c.close_t, m, 0), "obv": W.at(sums["obv"], m, 0.0),
                "ad": W.at(sums["ad"], m, 0.0)}

    def warm(panel: Panel) -> State:
        """The exact state after the whole ``panel`` (running sums: every bar counts).

        In NumPy on the real bars in row order (boolean gathers, no compaction
        of the whole history), summed in float64 per symbol; prices compare and
        divide as ticks, as the batch takes them, so a tie is a tie.
        """
        s, block = len(panel.valid), 64  # symbols at a time: a small transient footprint
        parts = [sums(*(x[i:i + block] for x in (panel.close, panel.high, panel.low,
                                                  panel.volume, panel.valid)))
                 for i in range(0, s, block)]
        return {k: mx.array(np.concatenate([p[k] for p in parts])) for k in ("obv", "ad", "prev")}

    def sums(close: np.ndarray, high: np.ndarray, low: np.ndarray, volume: np.ndarray,
             valid: np.ndarray) -> dict[str, np.ndarray]:
        s = len(valid)
        counts = valid.sum(axis=1)
        has = counts > 0
        if not has.any():
            return {"obv": np.zeros(s, np.float32), "ad": np.zeros(s, np.float32),
                    "prev": np.zeros(s, np.int32)}
        first = (np.cumsum(counts) - counts)[has]  # each symbol's first bar in row order
        one = np.ones(int(counts.sum()), bool)
        c = to_ticks(close[valid], one)
        v = volume[valid].astype(np.float32)
        dc = np.zeros_like(c)
        np.subtract(c[1:], c[:-1], out=dc[1:])
        sv = np.where(dc > 0, v, np.where(dc < 0, -v, np.float32(0.0)))
        sv[first] = v[first]  # a symbol's first bar counts its volume up
        h, lo = (to_ticks(x[valid], one) for x in (high, low))
        rng = h - lo
        num = ((c - lo) - (h - c)).astype(np.float32) * v
        clv = np.divide(num, rng, out=np.zeros_like(num), where=rng > 0)
        obv, ad = np.zeros(s), np.zeros(s)
        obv[has] = np.add.reduceat(sv, first, dtype=np.float64)
        ad[has] = np.add.reduceat(clv, first, dtype=np.float64)
        prev = np.zeros(s, np.int32)
        prev[has] = c[first + counts[has] - 1]
        return {"obv": obv.astype(np.float32), "ad": ad.astype(np.float32), "prev": prev}

    return seq_indicator("obv_ad", FAMILY, ("obv", "ad"), {}, 0, batch, init, step,
                  description="On-balance volume and the Chaikin accumulation/distribution line",
                  warm_state=warm, state=state)


def _adosc(fast: int = 3, slow: int = 10) -> Indicator:
    kf, ks = 2.0 / (fast + 1), 2.0 / (slow + 1)

    def batch(c: K.Compact) -> Out:
        m = _clv_vol(c.high_t, c.low_t, c.close_t, c.volume)
        m = mx.where(mx.arange(m.shape[1])[None, :] == 0, 0.0, m)
        # lag g = AD - EMA(AD):  g[t] = (1-k) * (g[t-1] + m[t]),  g[0] = 0
        gf = K.scan_const(1.0 - kf, (1.0 - kf) * m)
        gs = K.scan_const(1.0 - ks, (1.0 - ks) * m)
        return {"adosc": gs - gf}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        m = mx.where(b.n == 1, 0.0, _clv_vol(b.high_t, b.low_t, b.close_t, b.volume))
        gf = (1.0 - kf) * (st["gf"] + m)
        gs = (1.0 - ks) * (st["gs"] + m)
        return {"gf": gf, "gs": gs}, {"adosc": gs - gf}

    def state(c: K.Compact, m: mx.array) -> State:
        x = _clv_vol(c.high_t, c.low_t, c.close_t, c.volume)
        x = mx.where(mx.arange(x.shape[1])[None, :] == 0, 0.0, x)
        return {"gf": W.at(K.scan_const(1.0 - kf, (1.0 - kf) * x), m, 0.0),
                "gs": W.at(K.scan_const(1.0 - ks, (1.0 - ks) * x), m, 0.0)}

    return seq_indicator("adosc", FAMILY, ("adosc",), {"fast": fast, "slow": slow}, slow - 1, batch,
                  lambda s: {"gf": zeros(s), "gs": zeros(s)}, step,
                  description="Chaikin A/D oscillator: EMA 3 − EMA 10 of the A/D line",
                  state=state)


def _mfi(n: int) -> Indicator:
    name = f"mfi_{n}"

    def flows(tp: mx.array, dtp: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        mf = tp * v
        return mx.where(dtp > 0, mf, 0.0), mx.where(dtp < 0, mf, 0.0)

    def out(pos: mx.array, neg: mx.array) -> mx.array:
        tot = pos + neg
        return mx.where(tot < 1.0, 0.0, 100.0 * pos / mx.where(tot < 1.0, 1.0, tot))

    def batch(c: K.Compact) -> Out:
        tp3 = c.high_t + c.low_t + c.close_t  # 3 x typical price in ticks: ties exact
        dtp = tp3 - K.shift(tp3, 1, K.first_col(tp3))
        pos, neg = flows(K.to_price(tp3) / 3.0, dtp, c.volume)
        return {name: out(K.rolling_sum(pos, n), K.rolling_sum(neg, n))}

    def init(s: int) -> State:
        return {"p": izeros(s), "pos": zeros(s, n), "neg": zeros(s, n)}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        tp3 = b.high_t + b.low_t + b.close_t
        dtp = mx.where(b.n == 1, 0, tp3 - st["p"])
        pos, neg = flows(K.to_price(tp3) / 3.0, dtp, b.volume)
        pb, nb = push(st["pos"], pos), push(st["neg"], neg)
        return ({"p": tp3, "pos": pb, "neg": nb},
                {name: out(pb.sum(axis=1), nb.sum(axis=1))})

    def state(c: K.Compact, m: mx.array) -> State:
        tp3 = c.high_t + c.low_t + c.close_t
        pos, neg = flows(K.to_price(tp3) / 3.0, tp3 - K.shift(tp3, 1, K.first_col(tp3)),
                         c.volume)
        return {"p": W.at(tp3, m, 0), "pos": W.window(pos, m, n, 0.0),
                "neg": W.window(neg, m, n, 0.0)}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n, batch, init, step,
                  description=f"Money flow index over {n} bars", state=state)


def _cmf(n: int) -> Indicator:
    name = f"cmf_{n}"

    def batch(c: K.Compact) -> Out:
        m = _clv_vol(c.high_t, c.low_t, c.close_t, c.volume)
        return {name: safe_div(K.rolling_sum(m, n), K.rolling_sum(c.volume, n))}

    def step(st: State, b: Bar) -> tuple[State, Out]:
        mb = push(st["m"], _clv_vol(b.high_t, b.low_t, b.close_t, b.volume))
        vb = push(st["v"], b.volume)
        return {"m": mb, "v": vb}, {name: safe_div(mb.sum(axis=1), vb.sum(axis=1))}

    return seq_indicator(name, FAMILY, (name,), {"period": n}, n - 1, batch,
                  lambda s: {"m": zeros(s, n), "v": zeros(s, n)}, step,
                  description=f"Chaikin money flow over {n} bars",
                  state=lambda c, m: {
                      "m": W.window(_clv_vol(c.high_t, c.low_t, c.close_t, c.volume), m, n, 0.0),
                      "v": W.window(c.volume, m, n, 0.0)})


INDICATORS: tuple[Indicator, ...] = (_obv_ad(), _adosc(), _mfi(14), _cmf(20))

META: tuple[OutputMeta, ...] = (
    OutputMeta("obv", Kind.CUMULATIVE, Scale.DIFF, History.cumulative()),
    OutputMeta("ad", Kind.CUMULATIVE, Scale.DIFF, History.cumulative()),
    OutputMeta("adosc", Kind.VOLUME, Scale.RMS, History.memory(2.0 / 11, lead=11),
               direction=Direction.sign()),
    oscillator("mfi_14", History.window(15), 0.0, 100.0, Direction.threshold(20.0, 80.0)),
    oscillator("cmf_20", History.window(20), -1.0, 1.0, Direction.sign()),
)
