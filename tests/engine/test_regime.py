"""Regime: the documented rules, the codes the Snapshot carries, and the engine API."""

from __future__ import annotations

import datetime as dt

import mlx.core as mx
import numpy as np
import talib
from _panels import make_panel

from engine import REGIMES, IncrementalEngine
from engine.compute import compute
from engine.regime import classify


def test_rules() -> None:
    a = lambda *v: mx.array(np.array(v, dtype=np.float32))  # noqa: E731
    codes = classify(adx=a(30, 30, 10, 40), pdi=a(25, 10, 20, 25), mdi=a(10, 25, 10, 10),
                     atr_fast=a(1, 1, 1, 2), atr_slow=a(1, 1, 1, 1))
    assert [REGIMES[int(c)] for c in np.array(codes)] == [
        "trend-up", "trend-down", "range", "volatile"]


def test_regime_follows_talib_inputs() -> None:
    """After warm-up, the regime equals the rules applied to TA-Lib's ADX/DI/ATR."""
    p = make_panel(s=2, start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 5), missing=0.0, seed=8)
    got = np.array(compute(p, ["regime"]).column("regime"))
    for s in range(2):
        h, lo, c = p.high[s], p.low[s], p.close[s]
        adx, pdi, mdi = talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(
            h, lo, c, 14)
        fast, slow = talib.ATR(h, lo, c, 14), talib.ATR(h, lo, c, 120)
        want = np.where(fast >= 1.5 * slow, 3, np.where(adx >= 25, np.where(pdi >= mdi, 1, 2), 0))
        ok = ~np.isnan(slow)
        # exact ties at the thresholds could round either way in float32; allow a handful
        assert np.mean(got[s][ok] == want[ok]) > 0.99
        assert np.isnan(got[s][:120]).all()


def test_snapshot_carries_regime_and_values() -> None:
    p = make_panel(s=3, start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 4), seed=9)
    eng = IncrementalEngine(p.symbols, ["rsi_14", "ema_9"])
    snap = eng.warm(p)
    assert snap is not None and snap.values.shape == (3, 2)
    assert snap.regime.dtype == np.int8 and set(snap.regime.tolist()) <= {-1, 0, 1, 2, 3}
    feats = compute(p, ["regime", "rsi_14"])
    want = np.nan_to_num(np.array(feats.column("regime"))[:, -1], nan=-1).astype(np.int8)
    assert (snap.regime == want).all()
    np.testing.assert_allclose(snap.column("rsi_14"), np.array(feats.column("rsi_14"))[:, -1],
                               rtol=1e-4)
