"""How a backtest statistic is written: one rule for the CLI and the Backtests screen.

Why a module of its own, outside ``tui/screens``: ``avwap backtests show`` prints
the same numbers the screen shows, and the screens package imports Textual,
which a CLI command should not load to format a table.
"""

from __future__ import annotations

import math

PCT = {"total_return", "annualized_return", "max_drawdown", "win_rate", "avg_win", "avg_loss",
       "best_trade", "worst_trade", "exposure"}
MONEY = {"fees_paid", "slippage_paid", "start_value", "end_value", "expectancy", "avg_win_pnl",
         "avg_loss_pnl"}
COUNTS = {"trades", "closed_trades", "max_drawdown_minutes"}


def fmt_stat(name: str, v: float | None) -> str:
    """A statistic as text: fractions as %, money with cents, counts whole; – for none."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if name in PCT:
        return f"{v * 100:.2f}%"
    if name in COUNTS:
        return f"{v:,.0f}"
    if name in MONEY:
        return f"{v:,.2f}"
    return f"{v:.2f}"
