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

        In NumPy on each symbol's real bars in a row (one boolean gather, no
        compaction of the whole history), summed in float64; closes compare as
        ticks, so a tie is a tie.
        """
        s = len(panel.valid)
        rows, cols = np.nonzero(panel.valid)
        if not len(rows):
            return init(s)
        c = to_ticks(panel.close[rows, cols], np.ones(len(rows), bool))
        v = panel.volume[rows, cols].astype(np.float64)
        first = np.r_[True, rows[1:] != rows[:-1]]
        sv = np.where(first, v, np.sign(np.diff(c, prepend=c[:1])) * v)
        ok = np.ones(len(rows), bool)
        h, lo = (to_ticks(x[rows, cols], ok).astype(np.float64) for x in (panel.high, panel.low))
        cl = c.astype(np.float64)  # ticks, as the batch takes the close's place in the range
        rng = h - lo
        clv = np.where(rng > 0, ((cl - lo) - (h - cl)) * v / np.where(rng > 0, rng, 1.0), 0.0)
        end = np.r_[np.flatnonzero(first)[1:] - 1, len(rows) - 1]
        prev = np.zeros(s, np.int32)
        prev[rows[end]] = c[end]
        return {"obv": mx.array(np.bincount(rows, sv, s).astype(np.float32)),
                "ad": mx.array(np.bincount(rows, clv, s).astype(np.float32)),
                "prev": mx.array(prev)}

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
