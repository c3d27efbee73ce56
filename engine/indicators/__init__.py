"""Indicator families, each declaring ``INDICATORS`` and ``META`` as data, and the
catalogue built from them.

``DECLARED`` is the one list ``REGISTRY`` is built from (``engine.registry``
re-exports it); the order is the registry's output order (kept as it was when
families registered themselves at import, so saved feature orders do not move).
The families import their types from ``engine.indicator_types``, never from
here or from ``engine.registry``, so building the catalogue has no cycle.
The registry checks the declarations the first time it is asked anything.
"""

from __future__ import annotations

from types import ModuleType

from engine import regime
from engine.indicator_types import Indicator, Registry
from engine.indicators import avwap, intraday, momentum, sar, trend, trend_dir, volatility, volume
from engine.meta import OutputMeta

DECLARED: tuple[ModuleType, ...] = (
    trend_dir, volatility, regime, avwap, intraday, momentum, sar, trend, volume,
)


def _declarations() -> tuple[list[Indicator], list[OutputMeta]]:
    inds = [ind for fam in DECLARED for ind in fam.INDICATORS]
    metas = [m for fam in DECLARED for m in fam.META]
    return inds, metas


#: The registry of the app: every name the model, the backtester and the UI use.
REGISTRY = Registry(_declarations)
