"""Our statistics against vectorbt's on the same trades and value curve (SPY March 2011)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from _panels import make_panel, spy_panel
from _vbt import vbt_portfolio
from test_parity import _params, _signals

from engine.backtest.orders import fill_orders
from engine.backtest.result import portfolio_value
from engine.backtest.sim import simulate
from engine.backtest.stats import ANN_FACTOR, curve_stats, equity, ffill_close, trade_stats
from storage.types import Panel


def _case(panel: Panel, **kw: Any) -> tuple[Any, Any, Any]:
    s = panel.shape[0]
    sig = _signals(panel, seed=7, density=0.01, shorts=True)
    orders = fill_orders(sig[0], sig[1], sig[2], sig[3], panel.valid, panel.segments["session"],
                         panel.minute_of_session, panel.session_minutes)
    params = _params(s, **kw)
    trades = simulate(panel.open, panel.high, panel.low, panel.close, orders, params,
                      np.arange(s), np.zeros(s, dtype=np.int64))
    pf = vbt_portfolio(panel.open, panel.high, panel.low, panel.close, orders, params)
    return trades, pf, params


def _minutes(x: Any) -> Any:
    """vectorbt gives durations as Timedelta(s) or as bar counts, depending on the call."""
    arr = np.asarray(x)
    if arr.dtype.kind == "m" or isinstance(x, pd.Timedelta):
        return np.asarray(pd.to_timedelta(np.ravel(arr)) / pd.Timedelta(minutes=1), dtype=float)
    if arr.dtype == object:
        return np.array([pd.Timedelta(v) / pd.Timedelta(minutes=1) for v in np.ravel(arr)])
    return arr


def _check(vbt: Any, panel: Panel, **kw: Any) -> None:
    trades, pf, params = _case(panel, **kw)
    s = panel.shape[0]
    rows = np.arange(s)
    value, pos = equity(trades, rows, params.init_cash, ffill_close(panel.close))
    np.testing.assert_allclose(value, pf.value().to_numpy().T, rtol=1e-12)
    total, held = portfolio_value(trades, s, 0, float(params.init_cash.sum()),
                                  ffill_close(panel.close))
    np.testing.assert_allclose(total, value.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(held, (pos != 0).mean(axis=0))
    ours = curve_stats(value, params.init_cash, pos) | trade_stats(trades, trades.row, s)
    year = pd.Timedelta(minutes=ANN_FACTOR)
    ra = pf.returns_acc(year_freq=year)
    tr = pf.trades.closed
    theirs = {
        "total_return": pf.total_return(), "annualized_return": ra.annualized(),
        "max_drawdown": -pf.drawdowns.max_drawdown(),
        "max_drawdown_minutes": _minutes(pf.drawdowns.max_duration()),
        "sharpe": ra.sharpe_ratio(), "sortino": ra.sortino_ratio(), "calmar": ra.calmar_ratio(),
        "trades": pf.trades.count(), "closed_trades": tr.count(), "win_rate": tr.win_rate(),
        "profit_factor": tr.profit_factor(), "expectancy": tr.expectancy(),
        "avg_win": tr.winning.returns.mean(), "avg_loss": tr.losing.returns.mean(),
        "avg_win_pnl": tr.winning.pnl.mean(), "avg_loss_pnl": tr.losing.pnl.mean(),
        "best_trade": tr.returns.max(), "worst_trade": tr.returns.min(),
        "avg_holding_minutes": _minutes(tr.duration.mean()),
        "exposure": pf.position_coverage(), "fees_paid": pf.orders.fees.sum(),
        "end_value": pf.final_value(),
    }
    for name, want in theirs.items():
        want = np.asarray(want, dtype=np.float64).reshape(-1)
        np.testing.assert_allclose(ours[name], want, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_stats_equal_vectorbt_on_spy(vbt: Any) -> None:
    panel = spy_panel(hours="regular")
    if panel is None:
        pytest.skip("../shared/data/spy-2011 not present")
    _check(vbt, panel, stop_loss=0.002, take_profit=0.003)


def test_stats_equal_vectorbt_on_random_symbols(vbt: Any) -> None:
    _check(vbt, make_panel(s=4, seed=3, missing=0.05), trailing=0.002)
