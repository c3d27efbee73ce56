"""The backtester's error type: one line a user can act on (the CLI exits 2)."""

from __future__ import annotations

from storage.errors import AvwapError


class BacktestError(AvwapError):
    """Bad backtest input: unknown strategy or parameter, no data, a grid too large."""
