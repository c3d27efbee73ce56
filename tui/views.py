"""View models: the small, plain values the panes render.

Why: a pane should depend on what it shows, not on how the runtime computes it.
The console's presenter (``tui.screens.console.present``) turns the runtime's
``Frame`` into these once per minute shown; a pane can then be tested, reused
(the backtests screen draws the same chart) and changed without the runtime.
Arrays are ``[S]`` over ``symbols`` unless said otherwise; nothing here
computes a number, it only carries the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class WatchRows:
    """The watchlist's columns for every symbol of the list at one minute."""

    symbols: tuple[str, ...]
    last: np.ndarray
    change: np.ndarray  # % against the previous session's close
    volume: np.ndarray  # today's volume so far
    rvol: np.ndarray  # relative volume (1.0 = a normal day so far)
    z: np.ndarray  # distance from the session AVWAP in σ
    regime: np.ndarray  # int codes into ``engine.snapshot.REGIMES`` (-1 unknown)


@dataclass(frozen=True)
class Quote:
    """One symbol's price and every AVWAP output by registry name (the AVWAP table)."""

    symbol: str
    last: float
    change: float
    levels: dict[str, float]
    #: Anchors whose AVWAP starts at the loaded history, not at the anchor
    #: (``year`` from a 19-session history), and that start's exchange date.
    partial: tuple[str, ...] = ()
    since: str = ""


@dataclass(frozen=True)
class IndicatorValues:
    """One symbol's indicator outputs now and a minute ago (the indicators pane)."""

    symbol: str
    regime: int
    names: tuple[str, ...]
    now: np.ndarray  # [F]
    before: np.ndarray | None  # [F], the previous minute's values
    #: The active selector model's picks, best first: (name, weight, direction);
    #: empty when no model is active (the pane then shows its documented ranking).
    picks: tuple[tuple[str, float, int], ...] = ()
    picks_source: str = ""


@dataclass(frozen=True)
class ChartSeries:
    """Today's per-minute series of one symbol: ``close`` and chart levels by name."""

    symbol: str
    series: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def minutes(self) -> int:
        return len(self.series.get("close", ()))
