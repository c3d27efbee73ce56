"""Indicator families; importing this package registers every one of them."""

from __future__ import annotations

from engine import regime  # noqa: F401  (registers the regime output)
from engine.indicators import (
    avwap,  # noqa: F401
    intraday,  # noqa: F401
    momentum,  # noqa: F401
    sar,  # noqa: F401
    trend,  # noqa: F401
    trend_dir,  # noqa: F401
    volatility,  # noqa: F401
    volume,  # noqa: F401
)
