"""The backtester's error type: one line a user can act on.

The engine imports no ``storage`` module but ``storage.types`` (an import
contract), so this is a plain ``ValueError``; the caller (the CLI) shows its
message as one line and exits with ``exit_code``.
"""

from __future__ import annotations


class BacktestError(ValueError):
    """Bad backtest input: unknown strategy or parameter, no data, a grid too large."""

    exit_code = 2
