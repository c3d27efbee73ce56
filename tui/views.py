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
class AnchorRow:
    """A custom anchor's row in the AVWAP table: its name and values now."""

    anchor_id: int
    name: str  # the trader's label, else the anchor bar's exchange date and time
    values: dict[str, float]  # level, up1 … up3, dn1 … dn3, z
    partial: bool = False  # older than the loaded history: runs from its start


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
    #: The trader's custom anchors on this symbol, in time order.
    custom: tuple[AnchorRow, ...] = ()


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


@dataclass(frozen=True)
class CandleLine:
    """One anchor's line on the candle chart: ``key`` names its level in ``levels``.

    Bands are ``{key}_up1`` … ``{key}_dn3``; ``label`` is what the legend and the
    readout say ("session", "hh", a custom anchor's label).
    """

    key: str
    label: str
    custom: bool = False


@dataclass(frozen=True)
class CandleData:
    """One symbol's minute bars for the chart screen and every AVWAP level per bar.

    Arrays are ``[T]`` over the bars shown (minutes with a real bar only, oldest
    first). ``levels`` are the engine's batch outputs over the whole loaded
    history, sliced to these bars (so the last bar equals the console's value);
    ``day`` is the exchange date and ``minute`` the minutes since the 09:30 open
    of each bar (the time ticks need both without the calendar).
    """

    symbol: str
    ts: np.ndarray  # datetime64[m], UTC bar start
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    day: np.ndarray  # datetime64[D], exchange date
    minute: np.ndarray  # int, minutes since the regular open
    levels: dict[str, np.ndarray] = field(default_factory=dict)
    lines: tuple[CandleLine, ...] = ()
    #: Sessions in the loaded history up to now (the chart's "all" span).
    sessions_loaded: int = 0

    def __len__(self) -> int:
        return len(self.ts)
