"""What the console's panes render for one minute, and the stepping rate.

Why a module of its own: ``Frame`` is the one object that crosses from the
runtime's MLX thread to the screens (``SnapshotReady``), so screens import it
from here and never reach into the controller that builds it. Everything a
pane or the status bar shows of a minute is a field of the frame, computed on
the MLX thread when the minute is stepped: a screen reads no state the MLX
thread may be changing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from engine.snapshot import Snapshot
from tui.alerts import AlertHit
from tui.runtime.anchors import AnchorLevels
from tui.runtime.scans import ScanHit, ScanResult


@dataclass(frozen=True)
class Frame:
    """What the panes render for one minute (all arrays are ``[S]``)."""

    snapshot: Snapshot
    change_pct: np.ndarray
    day_volume: np.ndarray
    rvol: np.ndarray
    minute: int  # minutes of today recorded in the chart series
    seq: int
    received_at: float  # controller clock when the batch arrived
    hits: tuple[AlertHit | ScanHit, ...] = ()  # band alerts and scans entered (alerting)
    prev_values: np.ndarray | None = None  # the previous minute's ``snapshot.values``
    #: The active selector model's top-k for the focused symbol(s): (name, weight,
    #: direction) best first; empty when no model is active or it is still warming.
    picks: dict[str, tuple[tuple[str, float, int], ...]] = field(default_factory=dict)
    picks_source: str = ""  # "model NAME", "model NAME warming 37/240 min", or why not
    #: The last minute in which any symbol had a real bar (a replay past the
    #: cache's last bar steps empty grid minutes; the clock shows this one).
    last_bar_ts: np.datetime64 | None = None
    #: Calendar anchors whose segment began before the loaded history: their
    #: AVWAP runs from ``data_start`` (the first loaded minute), not the anchor.
    partial: tuple[str, ...] = ()
    data_start: np.datetime64 | None = None
    #: The custom anchors' values now, per symbol of the universe (``tui.runtime.anchors``).
    anchors: dict[str, tuple[AnchorLevels, ...]] = field(default_factory=dict)
    #: Symbol-bars stepped per second as of this minute (the status bar's rate),
    #: read on the MLX thread that counts them, so the screen never iterates
    #: the meter while a step appends to it.
    bars_per_s: float = 0.0
    #: The Scanner's scans at this minute, over the whole warm universe
    #: (``tui.runtime.scans``: every scan in one call from the snapshot's values).
    scans: tuple[ScanResult, ...] = ()


def output(snap: Snapshot, name: str) -> np.ndarray:
    """One registry output for every symbol as float64 (NaN when not computed)."""
    if name not in snap.names:
        return np.full(len(snap.symbols), np.nan)
    return snap.column(name).astype(np.float64)


class RateMeter:
    """Symbol-bars stepped per second over the last ~2 s of the controller's clock."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._seen: deque[tuple[float, int]] = deque()

    def count(self, now: float, bars: int) -> None:
        """``bars`` symbol-bars were stepped at ``now``."""
        self._seen.append((now, bars))
        while len(self._seen) > 2 and now - self._seen[0][0] > self.window_s:
            self._seen.popleft()

    def per_second(self) -> float:
        """The rate over the window (0 before two counts)."""
        if len(self._seen) < 2:
            return 0.0
        span = self._seen[-1][0] - self._seen[0][0]
        if span <= 0:
            return 0.0
        return sum(b for _, b in list(self._seen)[1:]) / span
