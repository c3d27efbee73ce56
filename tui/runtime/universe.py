"""The console's warmed symbols: groups of symbols, each with its own engine.

Why groups: switching lists used to drop the engine, rebuild the feed and warm
the new list from scratch (~30 s for the ``all`` list, and the replay restarted).
Now every symbol warmed once stays warm for the rest of the run: the
controller's *universe* is a sequence of ``Group``s, each the symbols one
warm-up added (the first list, then whatever a later list or a found symbol
needed), with its own ``IncrementalEngine`` and its own slice of the bars. A
list is a *view*: the rows of the universe it shows. Switching to a list whose
symbols are all warm is a view change (no engine work at all); a list with new
symbols warms only those, in chunks between the live minutes, and joins the
universe once it has caught up with the replay's clock.

Each group steps its own columns of every minute: the first group's from the
feed's batch itself, a later group's from its own panel at the same minute (a
replay's panel holds the whole replay), so the groups never drift apart.

A group also keeps, per session, a checkpoint of its engine taken just before
the session's first minute: a replay can go back to the session's start (or to
any minute of it, stepping forward again) without a new warm-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.incremental import EngineCheckpoint, IncrementalEngine
from engine.snapshot import Snapshot
from storage.types import BarBatch, Panel, as_dt64

#: Series kept per minute of today for the chart (besides the close).
CHART_NAMES: tuple[str, ...] = (
    "avwap_session", "avwap_session_up1", "avwap_session_dn1",
    "avwap_session_up2", "avwap_session_dn2", "avwap_day",
)
SESSION_MINUTES = 390


@dataclass
class Group:
    """Symbols warmed together: their engine, their bars and today's chart series."""

    symbols: tuple[str, ...]
    engine: IncrementalEngine
    panel: Panel  # the feed's whole panel for these symbols (history + replay)
    chart: np.ndarray = field(init=False)  # [1 + len(CHART_NAMES), S, SESSION_MINUTES]
    minute: int = 0  # minutes of today recorded in ``chart``
    session: int | None = None
    #: session id -> the engine just before that session's first minute.
    starts: dict[int, EngineCheckpoint] = field(default_factory=dict)
    snap: Snapshot | None = None  # the last minute stepped

    @property
    def last_ts(self) -> np.datetime64 | None:
        """The engine's last stepped minute (the warm-up's last, before any step)."""
        return self.engine.last_ts

    def __post_init__(self) -> None:
        self.reset_chart()

    def reset_chart(self) -> None:
        self.chart = np.full((1 + len(CHART_NAMES), len(self.symbols), SESSION_MINUTES),
                             np.nan, np.float32)
        self.minute = 0

    def own_batch(self, batch: BarBatch) -> BarBatch:
        """This group's bars of ``batch``'s minute (``batch`` itself when it is ours)."""
        if batch.symbols == self.symbols:
            return batch
        ts = as_dt64(batch.ts)
        t = int(np.searchsorted(self.panel.ts.astype("datetime64[m]"), ts))
        if t < len(self.panel.ts) and self.panel.ts[t] == ts:
            return self.panel.batch(t, final=batch.final)
        empty = self.panel.batch(max(0, min(t, len(self.panel.ts) - 1)))
        return BarBatch(  # a minute our panel lacks: no bars, the batch's clock
            symbols=self.symbols, ts=batch.ts, open=empty.open * np.nan,
            high=empty.high * np.nan, low=empty.low * np.nan, close=empty.close * np.nan,
            volume=np.zeros_like(empty.volume), valid=np.zeros_like(empty.valid),
            segments=dict(batch.segments), minute_of_session=batch.minute_of_session,
            session_minutes=batch.session_minutes, final=batch.final)

    def step(self, batch: BarBatch) -> Snapshot:
        """Step this group one minute (its columns of ``batch``, or ``own_batch``'s
        result as is) and record the chart."""
        own = self.own_batch(batch)
        sess = int(own.segments["session"])
        if sess >= 0 and sess != self.session:
            if self.session is not None:
                self.reset_chart()
            if sess not in self.starts and not (
                    self.last_ts is not None and as_dt64(own.ts) <= self.last_ts):
                self.starts[sess] = self.engine.checkpoint()
            self.session = sess
        snap = self.snap = self.engine.step(own)
        m = int(own.minute_of_session)
        if 0 <= m < SESSION_MINUTES:
            self.chart[0, :, m] = snap.last
            for k, name in enumerate(CHART_NAMES, start=1):
                if name in snap.names:
                    self.chart[k, :, m] = snap.column(name)
            self.minute = max(self.minute, m + 1)
        return snap

    def rewind(self, session: int) -> None:
        """Back to just before ``session``'s first minute (``KeyError`` if not kept)."""
        self.engine.restore(self.starts[session])
        self.reset_chart()
        self.session, self.snap = None, None
        for later in [s for s in self.starts if s > session]:
            del self.starts[later]

    def index_at(self, ts: np.datetime64) -> int:
        """Index of the first panel minute at or after ``ts``."""
        return int(np.searchsorted(self.panel.ts.astype("datetime64[m]"),
                                   as_dt64(ts)))


def combine(snaps: Sequence[Snapshot]) -> Snapshot:
    """One Snapshot over every group's symbols, in group order."""
    if len(snaps) == 1:
        return snaps[0]
    first = snaps[0]
    return Snapshot(
        ts=first.ts,
        symbols=tuple(s for snap in snaps for s in snap.symbols),
        names=first.names,
        values=np.concatenate([s.values for s in snaps]),
        last=np.concatenate([s.last for s in snaps]),
        volume=np.concatenate([s.volume for s in snaps]),
        valid=np.concatenate([s.valid for s in snaps]),
        regime=np.concatenate([s.regime for s in snaps]),
        final=first.final,
    )


def take(snap: Snapshot, idx: np.ndarray, symbols: tuple[str, ...]) -> Snapshot:
    """The rows ``idx`` of ``snap`` (the view a list shows), named ``symbols``."""
    if symbols == snap.symbols:
        return snap
    return Snapshot(
        ts=snap.ts, symbols=symbols, names=snap.names, values=snap.values[idx],
        last=snap.last[idx], volume=snap.volume[idx], valid=snap.valid[idx],
        regime=snap.regime[idx], final=snap.final, extra=snap.extra,
    )
