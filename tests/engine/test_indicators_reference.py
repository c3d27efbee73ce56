"""Outputs TA-Lib does not compute, against plain float64 references written here."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import mlx.core as mx
import numpy as np
import pytest
import talib
from _panels import make_panel
from test_registry_parity import close_enough

from engine.compute import compute_outputs
from engine.inputs import batch_inputs
from storage.types import Panel


@lru_cache(maxsize=1)
def _case() -> tuple[Panel, dict[str, np.ndarray]]:
    # decimal prices, as real bars are: the engine differences prices in ticks of 1/10,000
    p = make_panel(s=3, start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 6), seed=21, cents=True)
    res = compute_outputs(batch_inputs(p))
    mx.eval(list(res.values()))
    return p, {k: np.array(v) for k, v in res.items()}


def _wma(x: np.ndarray, n: int) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=float)
    out = np.full(len(x), np.nan)
    for t in range(n - 1, len(x)):
        out[t] = np.dot(x[t - n + 1 : t + 1], w) / w.sum()
    return out


def _seq_refs(o, h, lo, c, v) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    out: dict[str, np.ndarray] = {}
    d = 2 * _wma(c, 10) - _wma(c, 21)
    hma = np.full(len(c), np.nan)
    ok = ~np.isnan(d)
    hma[ok] = _wma(d[ok], 4)
    out["hma_21"] = hma
    n = 20
    mid = np.array([c[max(0, t - n + 1) : t + 1].mean() for t in range(len(c))])
    sd = np.array([c[max(0, t - n + 1) : t + 1].std() for t in range(len(c))])
    mid[: n - 1] = sd[: n - 1] = np.nan
    out["bb_pctb"] = (c - (mid - 2 * sd)) / (4 * sd)
    out["bb_width"] = 4 * sd / mid
    out["zscore_20"] = (c - mid) / sd
    rng = h - lo
    mfv = np.where(rng > 0, ((c - lo) - (h - c)) / np.where(rng > 0, rng, 1) * v, 0.0)
    cmf = np.full(len(c), np.nan)
    for t in range(n - 1, len(c)):
        cmf[t] = mfv[t - n + 1 : t + 1].sum() / v[t - n + 1 : t + 1].sum()
    out["cmf_20"] = cmf
    ema = talib.EMA(c, 20)
    atr = talib.ATR(h, lo, c, 10)
    out["kc_upper"], out["kc_lower"] = ema + 2 * atr, ema - 2 * atr
    out["dc_middle_20"] = (talib.MAX(h, 20) + talib.MIN(lo, 20)) / 2
    return out


REF_NAMES = ["hma_21", "bb_pctb", "bb_width", "zscore_20", "cmf_20", "kc_upper", "kc_lower",
             "dc_middle_20"]


@pytest.mark.parametrize("name", REF_NAMES)
def test_sequence_outputs_match_float64(name: str) -> None:
    p, ours = _case()
    want = np.full(p.close.shape, np.nan)
    for s in range(len(p.symbols)):
        m = p.valid[s]
        ref = _seq_refs(*(getattr(p, f)[s][m] for f in ("open", "high", "low", "close", "volume")))
        want[s, m] = ref[name]
    close_enough(name, np.where(p.valid, ours[name], np.nan), want,
                 np.nanmean(np.abs(p.close), 1), rtol=1e-4)


def _intraday_ref(p: Panel, s: int) -> dict[str, np.ndarray]:
    """Minute-by-minute float64 reference written with plain loops."""
    t_n = len(p.ts)
    names = ["or_high_5", "or_low_15", "session_high", "session_low", "prior_high", "prior_low",
             "prior_close", "gap_pct", "minutes_since_open", "rvol", "change_pct",
             "day_volume"]
    out = {k: np.full(t_n, np.nan) for k in names}
    day, mos = p.segments["day"], p.minute_of_session
    days = list(dict.fromkeys(day.tolist()))
    per_day = {}
    for d in days:
        idx = np.flatnonzero((day == d) & p.valid[s] & (mos >= 0) & (mos < p.session_minutes))
        per_day[d] = idx
    for t in range(t_n):
        d = day[t]
        di = days.index(d)
        today = [i for i in per_day[d] if i <= t]
        if today:
            out["session_high"][t] = p.high[s, today].max()
            out["session_low"][t] = p.low[s, today].min()
        w5 = [i for i in today if mos[i] < 5]
        if mos[t] >= 4 and w5:
            out["or_high_5"][t] = p.high[s, w5].max()
        w15 = [i for i in today if mos[i] < 15]
        if mos[t] >= 14 and w15:
            out["or_low_15"][t] = p.low[s, w15].min()
        prev = [e for e in days[:di] if len(per_day[e])]
        if prev:
            pi = per_day[prev[-1]]
            out["prior_high"][t], out["prior_low"][t] = p.high[s, pi].max(), p.low[s, pi].min()
            out["prior_close"][t] = p.close[s, pi[-1]]
            if today:
                out["gap_pct"][t] = 100 * (p.open[s, today[0]] / out["prior_close"][t] - 1)
        out["minutes_since_open"][t] = mos[t]
        out["day_volume"][t] = p.volume[s, today].sum()
        seen = np.flatnonzero(p.valid[s, : t + 1])
        if len(seen) and prev:
            out["change_pct"][t] = 100 * (p.close[s, seen[-1]] / out["prior_close"][t] - 1)
        if today and 0 <= mos[t] < 390 and di > 0:  # cumulative volume vs the same minute
            last = today[-1]
            reg = p.valid[s] & (mos >= 0) & (mos <= mos[last]) & (mos < p.session_minutes)
            past = days[max(0, di - 10) : di]
            mean = np.mean([p.volume[s, (day == e) & reg].sum() for e in past])
            out["rvol"][t] = p.volume[s, today].sum() / mean if mean > 0 else np.nan
    return out


@pytest.mark.parametrize("hours", ["regular", "extended"])
def test_intraday_matches_float64(hours: str) -> None:
    p = make_panel(s=2, start=dt.date(2024, 3, 6), end=dt.date(2024, 3, 8), hours=hours,
                   seed=5, missing=0.25)
    ours = {k: np.array(v) for k, v in compute_outputs(batch_inputs(p)).items()}
    for s in range(2):
        for name, want in _intraday_ref(p, s).items():
            close_enough(f"{name}[{s}]", ours[name][s][None], want[None],
                         np.array([np.nanmean(p.close[s])]), rtol=1e-5)
