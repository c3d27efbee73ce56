"""The Backtests screen (key 3): run backtests and browse their results."""
