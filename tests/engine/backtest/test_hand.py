"""A hand-computed example of costs and stops, and the intraday session rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _panels import make_panel
from test_parity import _params

from engine.backtest.orders import fill_orders
from engine.backtest.sim import (
    REASONS,
    SESSION_END,
    STOP_LOSS,
    TAKE_PROFIT,
    TIME_STOP,
    TRAILING,
    Orders,
    RowParams,
    Trades,
    simulate,
)


def _bars(rows: list[tuple[float, float, float, float]]) -> tuple[np.ndarray, ...]:
    a = np.array(rows, dtype=np.float64).T[:, None, :]
    return a[0], a[1], a[2], a[3]


def _one(bars: list[tuple[float, float, float, float]], long_at: list[int],
         short_at: list[int] = (), **kw: Any) -> Trades:  # type: ignore[assignment]
    o, h, lo, c = _bars(bars)
    t = o.shape[1]
    le = np.zeros((1, 1, t), bool)
    se = np.zeros((1, 1, t), bool)
    le[0, 0, long_at] = True
    se[0, 0, list(short_at)] = True
    none = np.zeros_like(le)
    orders = fill_orders(le, none, se, none, np.ones((1, t), bool), np.zeros(t, np.int64),
                         np.arange(t), np.full(t, 10_000), hold_overnight=True)
    params = _params(1, **kw)
    return simulate(o, h, lo, c, orders, params, np.array([0]), np.array([0]))


def test_gap_through_stop_fills_at_open_with_costs() -> None:
    # Signal at bar 0's close -> buy at bar 1's open 100.00 + 10 bps slippage = 100.10;
    # $10,000 buys 100 shares; commission max(0.005 x 100, 1.00) = 1.00 each way.
    # Stop 1 % below the fill: 99.099. Bar 3 opens at 99.00, through the stop: sold at
    # 99.00 - 10 bps = 98.901. PnL = 100 x (98.901 - 100.10) - 2 = -121.90.
    tr = _one([(100, 100, 100, 100), (100, 100.6, 99.8, 100.5), (100.5, 101, 99.5, 100),
               (99.0, 99.2, 98.5, 99), (99, 99, 99, 99)], [0], stop_loss=0.01,
              slippage=0.001, commission_per_share=0.005, commission_min=1.0, fee_rate=0.0)
    assert len(tr) == 1
    assert (tr.entry_idx[0], tr.exit_idx[0], tr.reason[0]) == (1, 3, STOP_LOSS)
    assert tr.size[0] == 100
    assert tr.entry_price[0] == pytest.approx(100.10, abs=1e-12)
    assert tr.exit_price[0] == pytest.approx(98.901, abs=1e-12)
    assert tr.entry_fees[0] == tr.exit_fees[0] == 1.0
    assert tr.pnl[0] == pytest.approx(-121.90, abs=1e-9)
    assert tr.slippage_cost[0] == pytest.approx(100 * 0.10 + 100 * 0.099, abs=1e-9)


def test_stop_before_target_in_one_bar_and_per_share_commission() -> None:
    # Short 200 shares at 50.00 (no slippage), commission 0.01/share = 2.00 (> min 1).
    # Stop 2 % above = 51.00, target 2 % below = 49.00; bar 2 touches both: the stop
    # fills first. PnL = -200 x (51 - 50) - 2 - 2 = -204.
    tr = _one([(50, 50, 50, 50), (50, 50.1, 49.9, 50), (50.2, 51.5, 48.5, 50), (50, 50, 50, 50)],
              [], [0], stop_loss=0.02, take_profit=0.02, slippage=0.0,
              commission_per_share=0.01, commission_min=1.0, fee_rate=0.0)
    assert (tr.direction[0], tr.size[0], tr.exit_idx[0], tr.reason[0]) == (-1, 200, 2, STOP_LOSS)
    assert tr.exit_price[0] == pytest.approx(51.0, abs=1e-12)
    assert tr.entry_fees[0] == tr.exit_fees[0] == pytest.approx(2.0)
    assert tr.pnl[0] == pytest.approx(-204.0, abs=1e-9)


def test_target_trailing_and_time_stop() -> None:
    bars = [(10, 10, 10, 10), (10, 10.2, 9.9, 10.1), (10.1, 10.5, 10.0, 10.4),
            (10.4, 11.0, 10.3, 10.9), (10.9, 10.95, 10.40, 10.5), (10.5, 10.5, 10.5, 10.5)]
    # Trailing 5 %: peak before bar 4 is 11.00 -> level 10.45; bar 4's low 10.40 hits it.
    tr = _one(bars, [0], trailing=0.05, slippage=0.0, commission_min=0.0, fee_rate=0.0)
    assert (tr.exit_idx[0], tr.reason[0]) == (4, TRAILING)
    assert tr.exit_price[0] == pytest.approx(10.45, abs=1e-12)
    assert tr.size[0] == 1000 and tr.pnl[0] == pytest.approx(450.0, abs=1e-9)
    # Target 8 % above 10.00 = 10.80: bar 3's high 11.00 reaches it.
    tr = _one(bars, [0], take_profit=0.08, slippage=0.0, commission_min=0.0, fee_rate=0.0)
    assert (tr.exit_idx[0], tr.reason[0]) == (3, TAKE_PROFIT)
    assert tr.exit_price[0] == pytest.approx(10.8, abs=1e-12)
    # Time stop 2 minutes: entered at bar 1, out at bar 3's open.
    tr = _one(bars, [0], time_stop=2, slippage=0.0, commission_min=0.0, fee_rate=0.0)
    assert (tr.exit_idx[0], tr.reason[0], tr.exit_price[0]) == (3, TIME_STOP, 10.4)
    assert REASONS[TIME_STOP] == "time_stop"


def test_fraction_of_equity_sizing_counts_costs() -> None:
    # 50 % of $100,000 at 100.00 with 10 bps slippage and a $1 minimum: floor((50,000 - 1)
    # / 100.10) = 499 shares.
    tr = _one([(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100)], [0],
              size_value=np.nan, size_fraction=0.5, slippage=0.001, commission_min=1.0,
              fee_rate=0.0)
    assert tr.size[0] == 499


def test_intraday_rules_flat_at_session_end_and_no_late_entries() -> None:
    panel = make_panel(s=3, seed=5, missing=0.1)
    s = panel.shape[0]
    sig = panel.valid[None].copy()  # an entry signal at every close
    none = np.zeros_like(sig)
    session = panel.segments["session"]
    orders = fill_orders(sig, none, none, none, panel.valid, session, panel.minute_of_session,
                         panel.session_minutes, no_entry_minutes=15)
    entries = orders.entry_long[0]
    late = panel.minute_of_session >= panel.session_minutes - 15
    assert not entries[:, late].any()
    assert entries.any()
    # Every fill bar is a real bar, and a close signal never fills in the next session.
    assert not (entries & ~panel.valid).any()
    first_bar = np.zeros_like(panel.valid)
    for i in range(s):
        idx = np.nonzero(panel.valid[i])[0]
        first_bar[i, idx[np.r_[True, session[idx][1:] != session[idx][:-1]]]] = True
    assert not (entries & first_bar).any()
    params = RowParams(**{k: np.repeat(v, s) for k, v in _params(1).__dict__.items()})
    tr = simulate(panel.open, panel.high, panel.low, panel.close, orders, params,
                  np.arange(s), np.zeros(s, np.int64))
    assert len(tr) > 0
    assert (session[tr.entry_idx] == session[tr.exit_idx]).all()
    # The session-end exit is at the calendar's last minute (15:59), bar or not.
    forced = tr.reason == SESSION_END
    assert forced.any()
    end = panel.minute_of_session == panel.session_minutes - 1
    assert end[tr.exit_idx[forced]].all()
    o = Orders  # the type is part of the public API
    assert o.__name__ == "Orders"
