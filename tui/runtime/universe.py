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

``Universe`` holds the groups and the view: it joins a group, steps every
group one minute, cuts the view's rows out of the minute, and answers what the
panes read of the bars (``panel_until_now``, ``chart_series``).

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
from storage.calendar import segments_started_before
from storage.tickers import TickerList
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


class Universe:
    """Every warmed symbol in groups, and the rows the current list shows of them.

    ``symbols`` is all of them in group order, ``view`` the rows shown (the
    list + guests). ``now`` is the last minute stepped over all groups (None
    before the first step of a new universe).
    """

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.symbols: tuple[str, ...] = ()
        self.view: tuple[str, ...] = ()
        self.view_idx = np.zeros(0, np.int64)
        self.ticker_list: TickerList | None = None
        self.missing: tuple[str, ...] = ()
        self.now: Snapshot | None = None
        #: The last minute in which any symbol had a real bar.
        self.last_bar_ts: np.datetime64 | None = None
        #: Calendar anchors whose segment began before the loaded history.
        self.started_before: dict[str, int] = {}
        self.data_start: np.datetime64 | None = None

    def reset(self, panel: Panel) -> None:
        """A new universe over a feed whose whole panel is ``panel`` (no group yet)."""
        self.groups, self.now, self.symbols, self.last_bar_ts = [], None, (), None
        self.started_before = segments_started_before(panel)
        self.data_start = panel.ts[0] if len(panel.ts) else None

    @property
    def engine(self) -> IncrementalEngine | None:
        """The first group's engine (None before the first warm-up)."""
        return self.groups[0].engine if self.groups else None

    @property
    def last_ts(self) -> np.datetime64 | None:
        """The universe's clock: the first group's last stepped minute."""
        return self.groups[0].last_ts if self.groups else None

    def covers(self, symbols: Sequence[str]) -> bool:
        """True when every one of ``symbols`` is warm (a switch to them is a view change)."""
        have = set(self.symbols)
        return bool(self.groups) and all(s in have for s in symbols)

    def join(self, group: Group) -> None:
        """Add a warmed group that has caught up with the clock."""
        self.groups.append(group)
        self.symbols = tuple(s for g in self.groups for s in g.symbols)
        if self.now is not None and group.snap is not None:
            self.now = combine([g.snap for g in self.groups if g.snap is not None])

    def set_view(self, tl: TickerList, view: Sequence[str], missing: Sequence[str]) -> None:
        """Show the rows ``view`` (those warm) of list ``tl``."""
        pos = {s: i for i, s in enumerate(self.symbols)}
        self.ticker_list, self.missing = tl, tuple(missing)
        self.view = tuple(s for s in view if s in pos)
        self.view_idx = np.array([pos[s] for s in self.view], np.int64)

    def step(self, batch: BarBatch) -> tuple[list[BarBatch], Snapshot]:
        """Step every group one minute: each group's bars (cut once) and the minute."""
        owns = [g.own_batch(batch) for g in self.groups]
        now = self.now = combine([g.step(own) for g, own in zip(self.groups, owns, strict=True)])
        if now.valid.any():
            self.last_bar_ts = now.ts
        return owns, now

    def rows(self, snap: Snapshot) -> Snapshot:
        """The view's rows of a minute over the whole universe."""
        return take(snap, self.view_idx, self.view)

    def now_index(self) -> int:
        """The first group's panel index of the minute last stepped (-1 before any)."""
        g = self.groups[0]
        if g.last_ts is None or not len(g.panel.ts):
            return -1
        return min(g.index_at(g.last_ts), len(g.panel.ts) - 1)

    def partial(self) -> tuple[str, ...]:
        """Calendar anchors now covering only the loaded history (see ``Frame.partial``)."""
        now = self.now_index()
        return tuple(k for k, sid in self.started_before.items()
                     if now >= 0 and int(self.groups[0].panel.segments[k][now]) == sid)

    def panel_until_now(self, symbols: Sequence[str]) -> Panel | None:
        """``symbols``' bars from the first loaded minute to the minute last stepped.

        NumPy only (any thread). Symbols not in the universe are skipped; None
        when none is loaded.
        """
        parts: list[Panel] = []
        for g in self.groups:
            mine = [s for s in symbols if s in g.symbols]
            if not mine:
                continue
            stop = 0 if g.last_ts is None else g.index_at(g.last_ts) + 1
            parts.append(g.panel.select(mine).slice_time(0, stop))
        if not parts:
            return None
        if len(parts) == 1:
            panel = parts[0]
        else:
            t = min(len(p.ts) for p in parts)
            parts = [p.slice_time(0, t) for p in parts]
            first = parts[0]
            panel = Panel(
                symbols=tuple(s for p in parts for s in p.symbols), ts=first.ts,
                **{f: np.concatenate([getattr(p, f) for p in parts])
                   for f in ("open", "high", "low", "close", "volume", "valid")},
                segments=first.segments, minute_of_session=first.minute_of_session,
                session_minutes=first.session_minutes, hours=first.hours)
        order = [s for s in symbols if s in panel.symbols]
        return panel if tuple(order) == panel.symbols else panel.select(order)

    def chart_series(self, symbol: str) -> dict[str, np.ndarray]:
        """Today's close and chart levels for ``symbol`` up to the current minute."""
        for g in self.groups:
            if symbol in g.symbols:
                i, n = g.symbols.index(symbol), g.minute
                out = {"close": g.chart[0, i, :n].copy()}
                for k, name in enumerate(CHART_NAMES, start=1):
                    out[name] = g.chart[k, i, :n].copy()
                return out
        return {}
