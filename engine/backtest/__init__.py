"""The vectorized intraday backtester (docs/backtest.md).

``MLXBacktester().run_vectorized_backtest(symbols, start, end, strategy, params)``
returns a ``BacktestResult``; ``storage.results.save_run(cache,
engine.backtest.persist.to_tables(result))`` stores it in the cache. No ``tui``
imports here; the selector strategy is registered by ``models``.
"""

from __future__ import annotations

from engine.backtest.errors import BacktestError
from engine.backtest.result import BacktestResult, Settings
from engine.backtest.runner import MLXBacktester
from engine.backtest.strategies import STRATEGIES

__all__ = ["STRATEGIES", "BacktestError", "BacktestResult", "MLXBacktester", "Settings"]
