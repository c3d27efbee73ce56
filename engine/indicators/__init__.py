"""Indicator families, each declaring ``INDICATORS`` and ``META`` as data.

``DECLARED`` is the one list ``engine.registry.REGISTRY`` is built from; the
order is the registry's output order (kept as it was when families registered
themselves at import, so saved feature orders do not move).
"""

from __future__ import annotations

from types import ModuleType

from engine import regime
from engine.indicators import avwap, intraday, momentum, sar, trend, trend_dir, volatility, volume

DECLARED: tuple[ModuleType, ...] = (
    trend_dir, volatility, regime, avwap, intraday, momentum, sar, trend, volume,
)
