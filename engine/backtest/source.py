"""Where a backtest's bars come from: a ``PanelSource`` (typed on ``storage.types`` only).

The engine does no database I/O (an import contract); the caller hands it
anything that loads a ``Panel`` for symbols and an inclusive session range,
e.g. ``storage.cache.Cache``. A Protocol rather than the cache's class keeps the
engine's imports to ``storage.types`` and lets a test or a distributed worker
give a panel it already holds (``PanelOf``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from storage.types import Panel


class PanelSource(Protocol):
    """Loads the regular-hours bars of ``symbols`` for sessions ``start..end`` (inclusive)."""

    def load_panel(self, symbols: Sequence[str], start: dt.date | str,
                   end: dt.date | str) -> Panel: ...


class PanelOf:
    """A ``PanelSource`` over one panel already in memory (sessions cut by date)."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def load_panel(self, symbols: Sequence[str], start: dt.date | str,
                   end: dt.date | str) -> Panel:
        p = self.panel.select([s for s in symbols if s in self.panel.symbols])
        day = _exchange_day(p)
        lo = int(np.searchsorted(day, np.datetime64(str(start), "D")))
        hi = int(np.searchsorted(day, np.datetime64(str(end), "D"), side="right"))
        return p.slice_time(lo, hi)


def _exchange_day(panel: Panel) -> np.ndarray:
    """Each regular-hours minute's trading date: its UTC time 5 hours back (the
    09:30-16:00 New York session never crosses a date line in UTC-5 or UTC-4)."""
    return (panel.ts - np.timedelta64(5, "h")).astype("datetime64[D]")

