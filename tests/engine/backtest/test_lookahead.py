"""Altering every bar after t changes no signal, order or trade decided at or before t."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _panels import make_panel
from test_parity import _params

from engine.backtest import strategies
from engine.backtest.grid import build
from engine.backtest.orders import fill_orders
from engine.backtest.runner import decide
from engine.backtest.sim import OPEN, RowParams, simulate
from storage.types import Panel

CASES: dict[str, dict[str, Any]] = {
    "avwap-reversion": {"k": 1},
    "avwap-reclaim": {"rvol_min": 1.0},
    "orb": {"minutes": 5},
    "expr": {"entry": "close > avwap_session and rsi_14 < 45", "exit": "close < ema_9"},
}


def _altered(panel: Panel, t: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    f = np.ones(panel.shape)
    f[:, t + 1:] = rng.uniform(0.9, 1.1, (panel.shape[0], panel.shape[1] - t - 1))
    after = np.arange(panel.shape[1]) > t
    hi = np.where(after, panel.high * f * 1.01, panel.high)
    lo = np.where(after, panel.low * f * 0.99, panel.low)
    vol = panel.volume.copy()
    vol[:, t + 1:] *= rng.uniform(0.1, 10, vol[:, t + 1:].shape)
    return Panel(symbols=panel.symbols, ts=panel.ts, open=panel.open * f, high=hi, low=lo,
                 close=panel.close * f, volume=vol, valid=panel.valid,
                 segments=panel.segments, minute_of_session=panel.minute_of_session,
                 session_minutes=panel.session_minutes)


def _decide(panel: Panel, name: str, params: dict[str, Any]) -> tuple[Any, ...]:
    strat = strategies.get(name)
    grid = build(strat, params)
    sig = decide(panel, 0, strat, grid)
    orders = fill_orders(*sig, panel.valid, panel.segments["session"], panel.minute_of_session,
                         panel.session_minutes)
    s = panel.shape[0]
    params_r = RowParams(**{k: np.repeat(v, s) for k, v in
                            _params(1, stop_loss=0.002, trailing=0.003).__dict__.items()})
    trades = simulate(panel.open, panel.high, panel.low, panel.close, orders, params_r,
                      np.arange(s), np.zeros(s, np.int64))
    return sig, orders, trades


@pytest.mark.parametrize("name", sorted(CASES))
def test_future_bars_change_no_earlier_decision(name: str) -> None:
    panel = make_panel(s=3, seed=11, missing=0.05)
    t = panel.shape[1] // 2 + 17
    sig_a, ord_a, tr_a = _decide(panel, name, CASES[name])
    sig_b, ord_b, tr_b = _decide(_altered(panel, t, 1), name, CASES[name])
    for a, b in zip(sig_a, sig_b, strict=True):
        np.testing.assert_array_equal(a[..., : t + 1], b[..., : t + 1])
    assert any(a[..., : t + 1].any() for a in sig_a), "the strategy never signals"
    # A close signal at t fills at t + 1: orders up to t + 1 are decided by bars <= t.
    for f in ("entry_long", "entry_short", "exit_long", "exit_short"):
        np.testing.assert_array_equal(getattr(ord_a, f)[..., : t + 1],
                                      getattr(ord_b, f)[..., : t + 1])
    # Trades closed by bar t are the same; so are the entries made up to t.
    done_a = (tr_a.exit_idx <= t) & (tr_a.reason != OPEN)
    done_b = (tr_b.exit_idx <= t) & (tr_b.reason != OPEN)
    assert done_a.sum() == done_b.sum() > 0
    for f in ("row", "entry_idx", "exit_idx", "size", "entry_price", "exit_price", "reason"):
        np.testing.assert_array_equal(getattr(tr_a, f)[done_a], getattr(tr_b, f)[done_b])
    np.testing.assert_array_equal(np.sort(tr_a.entry_idx[tr_a.entry_idx <= t]),
                                  np.sort(tr_b.entry_idx[tr_b.entry_idx <= t]))
