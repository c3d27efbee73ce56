"""The console's session: feed + engine + the chart series, with no widgets in sight.

Why a separate layer: everything the screen shows per minute (the Snapshot,
today's chart series and fired alerts) is gathered here in plain Python/NumPy,
so it runs on the runtime's MLX thread and the tests can drive it minute by
minute without a terminal. The console session job (``tui.runtime.console``)
moves ``Frame`` objects from here to the screen, which turns them into the
panes' view models.

Every number is the engine's: change %, day volume and relative volume are the
registry outputs ``change_pct``, ``day_volume`` and ``rvol`` (one definition
each, shared with the model and the backtester), read off the Snapshot.

Memory: ``prepare`` hands freed pages back (``release_memory``, MLX's buffer
cache) after the load and after the warm-up, so the warm-up's own peak does not
stack on top of the load's leftovers (see ``tui.runtime.memory``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from engine.incremental import IncrementalEngine
from engine.snapshot import Snapshot
from storage import calendar
from storage.anchors import Anchor
from storage.cache import Cache
from storage.errors import AvwapError, CacheError
from storage.feeds.base import Feed, FeedSource
from storage.tickers import TickerList, load_list
from storage.types import SEGMENT_KINDS, BarBatch, Panel, as_dt64
from tui.alerts import AlertBook, AlertHit
from tui.runtime.anchors import AnchorBook, AnchorLevels
from tui.runtime.memory import release_memory
from tui.runtime.universe import CHART_NAMES, Group, combine, take
from tui.runtime.warm_store import WarmStore, warm_key

if TYPE_CHECKING:
    from models.live import LiveSelector

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
    hits: tuple[AlertHit, ...] = ()
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


#: Sessions stepped minute by minute at the end of a warm-up for every indicator:
#: the engine starts further back where a symbol has fewer real bars than the
#: longest bar-sequence window (``IncrementalEngine._plan``) and where an output
#: declares a longer history, so one is exact (tests/engine/test_incremental_warm.py)
#: and ~11 % cheaper than two on the ``all`` list (20.8 -> 18.4 s).
WARM_STEP_SESSIONS = 1


class WarmUpCancelled(Exception):
    """The console is closing: the warm-up stopped where it was."""


class Controller:
    """Owns the cache, the ticker list, the feed and the engine of one console."""

    _session: int | None

    def __init__(
        self,
        cache: Cache,
        source: FeedSource,
        *,
        names: Sequence[str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        user_dir: Path | None = None,
        engine_warm: int | None = None,
        keep_warm: bool = True,
    ) -> None:
        self.cache = cache
        #: Sessions the engine steps minute by minute at the end of the history
        #: (None: ``WARM_STEP_SESSIONS``). The AVWAP anchors and the relative-volume
        #: history are warmed exactly from the whole history whatever this is.
        self.engine_warm = engine_warm
        #: Warmed states saved beside the cache: a second launch loads instead of
        #: warming (``tui.runtime.warm_store``); None disables it.
        self.warm_store: WarmStore | None = (
            WarmStore.beside(cache.path) if keep_warm and cache.path.suffix else None)
        self._cancel = threading.Event()
        self.source = source
        self.names = tuple(names) if names is not None else None
        self.clock = clock
        self.user_dir = user_dir
        self.alerts = AlertBook()
        #: The trader's custom anchors and their live values (rebuilt by themselves
        #: from ``panel_until_now`` when the universe or the clock jumps).
        self.anchors = AnchorBook(cache, self.panel_until_now)
        #: The active model's live selector (``models.live.LiveSelector``) for the
        #: current symbols, and what the Indicators pane says about it.
        self.selector: LiveSelector | None = None
        self.model_note = "no model active: default ranking"
        #: Symbols whose picks each step computes (the highlighted one).
        self.focus: tuple[str, ...] = ()
        self.ticker_list: TickerList | None = None
        self.missing: tuple[str, ...] = ()
        self.feed: Feed | None = None
        #: The universe: every warmed symbol, in groups (``tui.runtime.universe``);
        #: ``symbols`` is all of them, ``view`` the rows shown (the list + guests).
        self.groups: list[Group] = []
        self.symbols: tuple[str, ...] = ()
        self.view: tuple[str, ...] = ()
        self._view_idx = np.zeros(0, np.int64)
        self._universe: Snapshot | None = None  # the last minute over all groups
        self.frame: Frame | None = None
        self._seq = 0
        self._started_before: dict[str, int] = {}
        self.data_start: np.datetime64 | None = None
        self._rate: deque[tuple[float, int]] = deque()
        self._last_bar_ts: np.datetime64 | None = None

    @property
    def engine(self) -> IncrementalEngine | None:
        """The first group's engine (None before the first warm-up)."""
        return self.groups[0].engine if self.groups else None

    def cancel(self) -> None:
        """Stop a warm-up in progress (the console is closing); idempotent."""
        self._cancel.set()

    # -- lists -----------------------------------------------------------------
    def resolve_list(self, name: str) -> tuple[TickerList, tuple[str, ...], tuple[str, ...]]:
        """Load ``name`` and split its symbols into (with data, without data).

        Raises ``TickerListError`` for a broken list and ``CacheError`` when the
        cache has no bars for any of its symbols.
        """
        tl = load_list(name, self.user_dir)
        if self.source.fills_cache:
            return tl, tl.symbols, ()  # a live feed (IB) backfills the cache itself
        have = self.cache.latest(tl.symbols)
        present = tuple(s for s in tl.symbols if s in have)
        missing = tuple(s for s in tl.symbols if s not in have)
        if not present:
            if self.cache.bar_count() == 0:
                raise CacheError(
                    f"the cache {self.cache.path} is empty; seed it with "
                    "`avwap demo-data` or import bars first"
                )
            raise CacheError(f"the cache has no bars for any symbol of the list {tl.name!r}")
        return tl, present, missing

    # -- session ---------------------------------------------------------------
    def prepare(
        self,
        tl: TickerList,
        symbols: Sequence[str],
        missing: Sequence[str] = (),
        *,
        resume_at: np.datetime64 | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> Frame | None:
        """Build the feed and the engine for ``symbols`` and warm it (blocking).

        This starts a new universe (the previous groups are dropped): the first
        list, or a list a live feed cannot add to the running one. Lists whose
        symbols are warm need only ``set_view``; new symbols for a replay are
        added by ``grow`` while the current list stays live.
        """
        symbols = tuple(symbols)
        feed = self.source(symbols, resume_at)
        history = feed.load()
        release_memory()
        engine = IncrementalEngine(symbols, self.names)
        self.groups, self._universe, self.symbols = [], None, ()
        self.anchors.invalidate()
        self.feed, self.frame, self._last_bar_ts = feed, None, None
        self._started_before = segments_started_before(feed.panel)
        self.data_start = feed.panel.ts[0] if len(feed.panel.ts) else None
        group = Group(symbols, engine, feed.panel)
        self._join(group)
        self._set_view_of(tl, symbols, missing)
        if len(history.ts) == 0:
            return None
        # Warm on the sessions before today in one call; step today's minutes so
        # the chart and the day totals have them.
        # "Today" is the replay's first day: minutes of it already in the history
        # (a list switch mid-session) are stepped one by one below.
        full = feed.panel
        first_day = full.segments["day"][min(len(history.ts), len(full.ts) - 1)]
        today = int(np.searchsorted(history.segments["day"], first_day, side="left"))
        prior = history.slice_time(0, today)

        def tick(fraction: float) -> None:
            if self._cancel.is_set():
                raise WarmUpCancelled
            if progress:
                progress(fraction * 0.95)

        if len(prior.ts):
            key = self._warm_key(engine, prior)
            store = self.warm_store
            group.snap = store.load(key, engine) if key and store is not None else None
            if group.snap is None:
                group.snap = engine.warm(prior, step_sessions=self._warm_steps(), progress=tick)
                if key and store is not None and group.snap is not None:
                    store.save(key, engine, group.snap)
            self._universe = group.snap  # a view change before the first minute shows it
        self.attach_selector(prior)
        frame = None
        for t in range(today, len(history.ts)):
            if self._cancel.is_set():
                raise WarmUpCancelled
            frame = self.step(history.batch(t))
        mx.clear_cache()  # the warm-up's buffers; steady stepping refills a small cache
        release_memory()
        if progress:
            progress(1.0)
        return frame

    def _warm_key(self, engine: IncrementalEngine, prior: Panel) -> str | None:
        """The saved-state key of warming ``engine`` on ``prior`` (None: no store)."""
        if self.warm_store is None:
            return None
        return warm_key(prior, engine.names, self._warm_steps())

    def _warm_steps(self) -> int:
        return max(self.engine_warm if self.engine_warm is not None else WARM_STEP_SESSIONS, 1)

    # -- the universe: views and groups ------------------------------------------
    def covers(self, symbols: Sequence[str]) -> bool:
        """True when every one of ``symbols`` is warm (a switch to them is a view change)."""
        have = set(self.symbols)
        return bool(self.groups) and all(s in have for s in symbols)

    def set_view(self, tl: TickerList, symbols: Sequence[str], missing: Sequence[str] = (),
                 guests: Sequence[str] = ()) -> Frame | None:
        """Show ``symbols`` (+ ``guests``) of the warm universe: no engine work, no feed
        restart. Returns the frame of the current minute for the new rows."""
        self._set_view_of(tl, (*symbols, *[g for g in guests if g not in symbols]), missing)
        if self._universe is None:
            return None
        self.frame = self._frame(self._universe, hits=(), prev=None)
        return self.frame

    def _set_view_of(self, tl: TickerList, view: Sequence[str], missing: Sequence[str]) -> None:
        pos = {s: i for i, s in enumerate(self.symbols)}
        self.ticker_list, self.missing = tl, tuple(missing)
        self.view = tuple(s for s in view if s in pos)
        self._view_idx = np.array([pos[s] for s in self.view], np.int64)

    def _join(self, group: Group) -> None:
        self.groups.append(group)
        self.symbols = tuple(s for g in self.groups for s in g.symbols)
        if self._universe is not None and group.snap is not None:
            self._universe = combine([g.snap for g in self.groups if g.snap is not None])

    def grow(self, symbols: Sequence[str], panel: Panel) -> Grow:
        """Warm ``symbols`` (not yet in the universe) over ``panel`` in chunks; the group
        joins the universe when it has caught up with the clock (see ``Grow``)."""
        engine = IncrementalEngine(tuple(symbols), self.names)
        return Grow(self, Group(tuple(symbols), engine, panel))

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

    # -- the selector model ----------------------------------------------------
    def attach_selector(self, history: Panel | None = None) -> str:
        """Load the active model for the current symbols and prime it (blocking).

        ``history`` fills its window from batch values; without it (a model made
        active mid-session) the window up to the current minute comes from the
        feed's panel. Returns what the Indicators pane says about the model.
        """
        from models.live import LiveSelector

        self.selector = None
        if self.engine is None:
            return self.model_note
        try:
            live = LiveSelector.from_active(self.symbols, self.engine.names)
            if live is not None:
                if history is None:
                    history = self.panel_until_now(self.symbols)
                if history is not None and len(history.ts):
                    live.prime(history)
        except AvwapError as e:  # a corrupt or mismatched model: say so, keep the ranking
            self.model_note = f"model not used: {e}"
            return self.model_note
        if live is None:
            self.model_note = "no model active: default ranking"
        else:
            self.selector = live
            self.model_note = f"model {live.selector.name}"
        return self.model_note

    def picks_for(self, symbol: str) -> tuple[tuple[tuple[str, float, int], ...], str]:
        """Focus ``symbol`` and return its picks now (blocking: MLX thread)."""
        self.focus = (symbol,)
        frame = self.frame
        if self.selector is None or frame is None or symbol not in frame.snapshot.symbols:
            return (), self.model_note
        return self._picks(None).get(symbol, ()), self.model_note

    def _picks(self, snap: Snapshot | None) -> dict[str, tuple[tuple[str, float, int], ...]]:
        """Feed ``snap`` to the selector and pick for the focused symbols."""
        live = self.selector
        if live is None:
            return {}
        if snap is not None:
            live.update(snap)
        name = live.selector.name
        if live.minutes < live.needed:
            self.model_note = f"model {name} warming {live.minutes}/{live.needed} min"
            return {}
        self.model_note = f"model {name}"
        focus = [s for s in self.focus if s in live.symbols]
        return {s: p.triples() for s, p in live.select(focus).items()} if focus else {}

    def step(self, batch: BarBatch) -> Frame:
        """Advance every group one minute and derive the frame of the view (blocking)."""
        assert self.groups, "no list is loaded"
        received = self.clock()
        owns = [g.own_batch(batch) for g in self.groups]  # each group's bars, cut once
        universe = combine([g.step(own) for g, own in zip(self.groups, owns, strict=True)])
        self.anchors.step(owns)
        prev, self._universe = self.frame, universe
        hits = tuple(self.alerts.evaluate(universe, self.anchors.alert_values()))
        if universe.valid.any():
            self._last_bar_ts = universe.ts
        self._seq += 1
        self._count_rate(received, int(np.count_nonzero(universe.valid)))
        self.frame = self._frame(universe, hits=hits, prev=prev, received=received)
        return self.frame

    def _frame(self, universe: Snapshot, *, hits: tuple[AlertHit, ...], prev: Frame | None,
               received: float | None = None) -> Frame:
        """The view's rows of ``universe`` (and the model's picks for the focus)."""
        snap = take(universe, self._view_idx, self.view)
        now = self._now_index()
        partial = tuple(k for k, sid in self._started_before.items()
                        if now >= 0 and int(self.groups[0].panel.segments[k][now]) == sid)
        picks = self._picks(universe if received is not None else None)
        same = prev is not None and prev.snapshot.symbols == snap.symbols
        return Frame(
            snapshot=snap,
            picks=picks,
            picks_source=self.model_note,
            change_pct=_output(snap, "change_pct"),
            day_volume=_output(snap, "day_volume"),
            rvol=_output(snap, "rvol"),
            minute=self.groups[0].minute,
            seq=self._seq,
            received_at=self.clock() if received is None else received,
            hits=hits,
            prev_values=prev.snapshot.values if same and prev is not None else None,
            last_bar_ts=self._last_bar_ts,
            partial=partial,
            data_start=self.data_start if partial else None,
            anchors=self.anchors.levels(),
        )

    # -- custom anchors ------------------------------------------------------------
    def add_anchor(self, symbol: str, ts: object, label: str = "") -> tuple[Anchor, Frame | None]:
        """Keep an anchor and start it now (blocking: MLX thread); the fresh frame of
        the current minute carries its values (``AnchorError`` when refused)."""
        anchor = self.anchors.add(symbol, ts, label)
        return anchor, self._anchors_frame()

    def delete_anchor(self, anchor_id: int) -> tuple[Anchor, Frame | None]:
        """Delete an anchor and the alert rules on it (blocking: MLX thread)."""
        anchor = self.anchors.delete(anchor_id)
        self.alerts.remove_anchor(anchor.id)
        return anchor, self._anchors_frame()

    def _anchors_frame(self) -> Frame | None:
        """The current minute again with the anchors' values now (a new ``seq``)."""
        if self._universe is None or not self.groups:
            return None
        self._seq += 1
        self.frame = self._frame(self._universe, hits=(), prev=self.frame)
        return self.frame

    def _now_index(self) -> int:
        """The first group's panel index of the minute last stepped (-1 before any)."""
        g = self.groups[0]
        if g.last_ts is None or not len(g.panel.ts):
            return -1
        return min(g.index_at(g.last_ts), len(g.panel.ts) - 1)

    # -- replay navigation -------------------------------------------------------
    def session_start(self) -> np.datetime64 | None:
        """The first minute of the session last stepped (None before any step)."""
        t = self._now_index()
        if t < 0:
            return None
        g0 = self.groups[0]
        sess = g0.panel.segments["session"]
        first = int(np.searchsorted(sess[: t + 1], sess[t], side="left")) if sess[t] >= 0 else t
        return as_dt64(g0.panel.ts[first])

    def session_to_rewind(self, ts: np.datetime64) -> int:
        """The session ``rewind_to(ts)`` goes back to; ``JumpError`` when its engines'
        checkpoints do not exist (a session before the replay: warmed, not replayed)."""
        from tui.runtime.replay_nav import JumpError

        g0 = self.groups[0]
        segs = g0.panel.segments["session"]
        sess = int(segs[min(g0.index_at(ts), len(g0.panel.ts) - 1)])
        if any(sess not in g.starts for g in self.groups):
            from tui.fmt import exchange_time

            since = "" if not g0.starts else (
                f" ({exchange_time(as_dt64(g0.panel.ts[int(np.argmax(segs == min(g0.starts)))]))})")
            raise JumpError(f"{exchange_time(ts)} is before the replay's first session{since}: "
                            "its minutes were warmed, not replayed")
        return sess

    def rewind_to(self, ts: np.datetime64) -> np.datetime64:
        """Put every group back to just before the session holding ``ts`` began.

        Returns that session's first minute (the replay delivers it next); raises
        as ``session_to_rewind`` does, before changing anything.
        """
        sess = self.session_to_rewind(ts)
        for g in self.groups:
            g.rewind(sess)
        self._universe, self._last_bar_ts = None, None
        g0 = self.groups[0]
        return as_dt64(g0.panel.ts[int(np.argmax(g0.panel.segments["session"] == sess))])

    def step_until(self, target: np.datetime64, minutes: int = 64) -> tuple[Frame | None, bool]:
        """Step the replay's minutes up to and including ``target``, at most ``minutes``
        of them now; returns the last frame and whether ``target`` is reached."""
        replay = self.feed.replay if self.feed is not None else None
        if replay is None:
            return self.frame, True
        frame = None
        for _ in range(minutes):
            nxt = replay.next_ts
            if nxt is None or nxt > target:
                return frame or self.frame, True
            batch = replay.next_batch()
            if batch is None:
                return frame or self.frame, True
            frame = self.step(batch)
        return frame or self.frame, False

    def step_next(self) -> Frame | None:
        """Pull the next minute from a replay without pacing and step it (tests, bench)."""
        replay = self.feed.replay if self.feed is not None else None
        batch = replay.next_batch() if replay is not None else None
        return None if batch is None else self.step(batch)

    # -- what panes read -------------------------------------------------------
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

    def _count_rate(self, now: float, bars: int) -> None:
        self._rate.append((now, bars))
        while len(self._rate) > 2 and now - self._rate[0][0] > 2.0:
            self._rate.popleft()

    def bars_per_second(self) -> float:
        """Symbol-bars stepped per second over the last ~2 s of clock."""
        if len(self._rate) < 2:
            return 0.0
        span = self._rate[-1][0] - self._rate[0][0]
        if span <= 0:
            return 0.0
        return sum(b for _, b in list(self._rate)[1:]) / span


class Grow:
    """New symbols joining a running universe, one MLX-thread chunk at a time.

    ``advance()`` (call it on the MLX thread, repeatedly) warms the group on its
    history up to the start of the clock's current day, then steps it through
    today's minutes up to the minute the universe last stepped, and — in the
    same call as its last catch-up step, so no live minute can slip between —
    joins it to the universe. It returns the fraction done, or None once joined.
    Live minutes interleave between the calls, so the list on screen stays live.
    """

    def __init__(self, ctl: Controller, group: Group) -> None:
        self.ctl, self.group = ctl, group
        self._warm: Generator[float, None, Snapshot | None] | None = None
        self._t: int | None = None  # next panel index to catch up
        self._key: str | None = None

    def _clock(self) -> np.datetime64 | None:
        g0 = self.ctl.groups[0] if self.ctl.groups else None
        return None if g0 is None else g0.last_ts

    def advance(self, minutes: int = 64) -> float | None:
        if self.ctl._cancel.is_set():
            raise WarmUpCancelled
        g = self.group
        if self._t is None:
            if self._warm is None:
                clock = self._clock()
                panel = g.panel
                now = len(panel.ts) if clock is None else g.index_at(clock)
                now = min(now, len(panel.ts))
                day = panel.segments["day"]
                today = 0 if now == 0 else int(np.searchsorted(
                    day, day[min(now, len(day) - 1)], side="left"))
                if clock is None:  # nothing stepped yet: warm on the whole history
                    today = now
                self._start = today
                prior = panel.slice_time(0, today)
                if not len(prior.ts):
                    self._t = today
                    return 0.5
                self._key = self.ctl._warm_key(g.engine, prior)
                store = self.ctl.warm_store
                if self._key and store is not None and store.load(self._key, g.engine):
                    self._t = today
                    return 0.9
                self._warm = g.engine.warm_chunks(prior, step_sessions=self.ctl._warm_steps(),
                                                  minutes=minutes)
            try:
                return 0.9 * next(self._warm)
            except StopIteration as done:
                self._t = self._start
                store = self.ctl.warm_store
                if self._key and store is not None and done.value is not None:
                    store.save(self._key, g.engine, done.value)
                return 0.9
        clock = self._clock()
        stop = -1 if clock is None else g.index_at(clock)  # catch up through this index
        if clock is not None and g.last_ts is not None and g.last_ts > clock:
            return self._went_back(stop)
        for _ in range(minutes):
            if self._t > stop or self._t >= len(g.panel.ts):
                break
            g.step(g.panel.batch(self._t))
            self._t += 1
        if self._t > stop or self._t >= len(g.panel.ts):
            self.ctl._join(g)
            if self.ctl.selector is not None:  # the model's window needs the new symbols
                self.ctl.attach_selector()
            return None
        return 0.95


    def _went_back(self, stop: int) -> float:
        """The replay went back (``b``/``t``) while this group caught up: rewind it to
        that session's checkpoint, or warm it again when it has none."""
        g = self.group
        sess = g.panel.segments["session"]
        here = int(sess[min(stop, len(sess) - 1)])
        if here in g.starts:
            g.rewind(here)
            self._t = int(np.argmax(sess == here))
            return 0.9
        self.group = Group(g.symbols, IncrementalEngine(g.symbols, self.ctl.names), g.panel)
        self._warm, self._t = None, None
        return 0.0


def segments_started_before(panel: Panel) -> dict[str, int]:
    """Anchor kinds whose segment holding ``panel``'s first minute began before it.

    {kind: segment id}: while the live minute is in that segment, the anchor's
    AVWAP covers only the loaded history (e.g. a 19-session history makes the
    "year" anchor start in late October). A segment began earlier when the
    trading session before the first loaded one lies in the same segment (so a
    history starting on a quarter's first session leaves the quarter whole);
    the day and session anchors start with their own day, never earlier.
    """
    if not len(panel.ts):
        return {}
    sched = calendar.schedule()
    i = int(calendar.session_index_of(panel.ts[:1])[0])
    if i == 0:
        return {}
    before = calendar.describe_minutes(sched.close[i - 1:i] - np.timedelta64(1, "m"))
    return {k: int(panel.segments[k][0]) for k in SEGMENT_KINDS
            if k not in ("session", "day")
            and int(before.segments[k][0]) == int(panel.segments[k][0])}


def _output(snap: Snapshot, name: str) -> np.ndarray:
    """One registry output for every symbol as float64 (NaN when not computed)."""
    if name not in snap.names:
        return np.full(len(snap.symbols), np.nan)
    return snap.column(name).astype(np.float64)
