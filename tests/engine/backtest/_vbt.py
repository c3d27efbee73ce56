"""vectorbt's ``Portfolio.from_signals`` with the simulator's documented settings (tests only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backtest.sim import Orders, RowParams, session_end_fills


def vbt_portfolio(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    orders: Orders, params: RowParams, variant: int = 0,
) -> Any:
    """One column per symbol (rows = symbols of ``variant``), the same orders and costs.

    Our per-row settings must be equal across rows except the stops, which
    vectorbt broadcasts per column. Per-share commission has no vectorbt
    equivalent: only ``commission_min`` (vectorbt's ``fixed_fees``) is passed.
    The prices are the ones our simulator fills at: a session-end minute
    without a bar carries one flat bar at the last close (``session_end_fills``).
    """
    import vectorbt as vbt

    open_, high, low, close = session_end_fills(open_, high, low, close, orders.forced)

    assert np.all(params.commission_per_share == 0)
    trailing = ~np.isnan(params.trailing)
    sl = np.where(trailing, params.trailing, params.stop_loss)
    fraction = np.isnan(params.size_value[0])
    kw: dict[str, Any] = dict(
        size=params.size_fraction[0] if fraction else params.size_value[0],
        size_type="percent" if fraction else "value",
        size_granularity=1.0,
    )
    return vbt.Portfolio.from_signals(
        close.T,
        entries=orders.entry_long[variant].T,
        exits=orders.exit_long[variant].T,
        short_entries=orders.entry_short[variant].T,
        short_exits=orders.exit_short[variant].T,
        price=open_.T,
        open=open_.T, high=high.T, low=low.T,
        fees=params.fee_rate[0],
        fixed_fees=params.commission_min[0],
        slippage=params.slippage[0],
        init_cash=params.init_cash[0],
        sl_stop=sl[None, :], sl_trail=trailing[None, :], tp_stop=params.take_profit[None, :],
        stop_entry_price="fillprice", stop_exit_price="stopmarket",
        upon_long_conflict="exit", upon_short_conflict="exit",
        upon_dir_conflict="ignore", upon_opposite_entry="close",
        accumulate=False, freq="1min", **kw,
    )
