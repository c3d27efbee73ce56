"""The console's session: feed + engine + the chart series, with no widgets in sight.

Why a separate layer: everything the screen shows per minute (the ``Frame``:
the Snapshot, the model's picks, fired alerts, custom anchors) is gathered
here in plain Python/NumPy, so it runs on the runtime's MLX thread and the
tests can drive it minute by minute without a terminal. The console session
job (``tui.runtime.console``) moves frames from here to the screen.

The controller is a façade over one class per job:

- ``Universe`` (``tui.runtime.universe``): the warmed groups, the view a list
  shows, the bars until now and the chart series;
- ``WarmUp`` (``tui.runtime.warmup``): warming an engine, from saved states
  when they exist, and the cancel flag;
- ``Grow`` (``tui.runtime.grow``): new symbols joining a running universe;
- ``ModelPicks`` (``tui.runtime.selector``): the active selector model;
- ``AnchorBook`` (``tui.runtime.anchors``): the trader's custom anchors;
- ``ReplayNav`` (``tui.runtime.replay_nav``): step, rewind and jump a replay.

What is left here is list resolution, the first warm-up (``prepare``) and the
minute step that turns the groups' Snapshot into a ``Frame``.

Every number is the engine's: change %, day volume and relative volume are the
registry outputs ``change_pct``, ``day_volume`` and ``rvol`` (one definition
each, shared with the model and the backtester), read off the Snapshot.

Memory: ``prepare`` hands freed pages back (``release_memory``, MLX's buffer
cache) after the load and after the warm-up, so the warm-up's own peak does not
stack on top of the load's leftovers (see ``tui.runtime.memory``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from engine.incremental import IncrementalEngine
from engine.snapshot import Snapshot
from models.tape import FeatureTape
from storage.anchors import Anchor
from storage.cache import Cache
from storage.errors import CacheError
from storage.feeds.base import Feed, FeedSource
from storage.tickers import TickerList, load_list
from storage.types import BarBatch, Panel
from tui.alerts import AlertBook, AlertHit, AnchorAges
from tui.runtime.anchors import AnchorBook
from tui.runtime.frames import Frame, RateMeter, output
from tui.runtime.grow import Grow
from tui.runtime.memory import release_memory
from tui.runtime.replay_nav import ReplayNav
from tui.runtime.scans import ScanBook, ScanHit, ScanResult, ScanRunner, bar_fields
from tui.runtime.selector import ModelPicks, Picks
from tui.runtime.universe import Group, Universe
from tui.runtime.warm_store import WarmStore
from tui.runtime.warmup import WarmUp

if TYPE_CHECKING:
    from models.live import LiveSelector


class Controller:
    """Owns the cache, the ticker list, the feed and the engines of one console."""

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
        self.cache, self.source, self.clock, self.user_dir = cache, source, clock, user_dir
        self.names = tuple(names) if names is not None else None
        self.model = ModelPicks()
        self.warmup = WarmUp(cache.path, engine_warm=engine_warm, keep_warm=keep_warm,
                             tail=self.model.tape.length)
        self.universe = Universe()
        self.alerts = AlertBook()
        #: The Scanner's scans, evaluated on every minute's universe snapshot.
        self.scans = ScanRunner(ScanBook(), user_dir)
        #: Bars since each calendar anchor, counted once a minute for the alerts and scans.
        self.anchor_ages = AnchorAges()
        #: The trader's custom anchors and their live values (rebuilt by themselves
        #: from ``panel_until_now`` when the universe or the clock jumps).
        self.anchors = AnchorBook(cache, self.panel_until_now)
        self.feed: Feed | None = None
        self.frame: Frame | None = None  # the last frame made (any thread may read it)
        self.replay = ReplayNav(self.universe, feed=lambda: self.feed,
                                frame=lambda: self.frame, step=self.step)
        self.rate = RateMeter()
        self._seq = 0

    # -- what the rest of the console reads ---------------------------------------
    @property
    def groups(self) -> list[Group]:
        return self.universe.groups

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every warm symbol (the view is ``view``)."""
        return self.universe.symbols

    @property
    def view(self) -> tuple[str, ...]:
        return self.universe.view

    @property
    def engine(self) -> IncrementalEngine | None:
        """The first group's engine (None before the first warm-up)."""
        return self.universe.engine

    @property
    def selector(self) -> LiveSelector | None:
        return self.model.live

    @property
    def warm_store(self) -> WarmStore | None:
        """Warmed states saved beside the cache (``tui.runtime.warm_store``); None: off."""
        return self.warmup.store

    @warm_store.setter
    def warm_store(self, store: WarmStore | None) -> None:
        self.warmup.store = store

    def cancel(self) -> None:
        """Stop a warm-up in progress (the console is closing); idempotent."""
        self.warmup.cancel()

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

    # -- the universe ------------------------------------------------------------
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
        u = self.universe
        u.reset(feed.panel)
        self.anchors.invalidate()
        self.feed, self.frame = feed, None
        group = Group(symbols, engine, feed.panel)
        u.join(group)
        u.set_view(tl, symbols, missing)
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
        self.model.tape.clear()
        if len(prior.ts):  # its last minutes stepped onto the model's tape
            group.snap = self.warmup.warm(
                engine, prior, (lambda f: progress(f * 0.95)) if progress else None,
                record=self.model.record)
            u.now = group.snap  # a view change before the first minute shows it
        self.attach_selector(prior)
        frame = None
        for t in range(today, len(history.ts)):
            self.warmup.check()
            frame = self.step(history.batch(t))
        mx.clear_cache()  # the warm-up's buffers; steady stepping refills a small cache
        release_memory()
        if progress:
            progress(1.0)
        return frame

    def covers(self, symbols: Sequence[str]) -> bool:
        """True when every one of ``symbols`` is warm (a switch to them is a view change)."""
        return self.universe.covers(symbols)

    def set_view(self, tl: TickerList, symbols: Sequence[str], missing: Sequence[str] = (),
                 guests: Sequence[str] = ()) -> Frame | None:
        """Show ``symbols`` (+ ``guests``) of the warm universe: no engine work, no feed
        restart. Returns the frame of the current minute for the new rows."""
        u = self.universe
        u.set_view(tl, (*symbols, *[g for g in guests if g not in symbols]), missing)
        if u.now is None:
            return None
        self.frame = self._frame(u.now, hits=(), prev=None)
        return self.frame

    def grow(self, symbols: Sequence[str], panel: Panel) -> Grow:
        """Warm ``symbols`` (not yet in the universe) over ``panel`` in chunks; the group
        joins the universe when it has caught up with the clock (see ``Grow``)."""
        engine = IncrementalEngine(tuple(symbols), self.names)
        kept = FeatureTape(self.model.tape.length)  # its minutes, for the model's tape
        return Grow(Group(tuple(symbols), engine, panel), universe=self.universe,
                    warmup=self.warmup, names=self.names,
                    join=lambda g: self.join(g, kept), record=kept.push)

    def join(self, group: Group, kept: FeatureTape | None = None) -> None:
        """A grown group joins the universe (the model's window needs its symbols),
        its stepped minutes (``kept``) joining the model's tape."""
        self.universe.join(group)
        if kept is not None:
            self.model.tape.adopt(kept)
        if self.model.live is not None:
            self.attach_selector()

    def panel_until_now(self, symbols: Sequence[str]) -> Panel | None:
        """``symbols``' bars up to the minute last stepped (``Universe.panel_until_now``)."""
        return self.universe.panel_until_now(symbols)

    def chart_series(self, symbol: str) -> dict[str, np.ndarray]:
        """Today's close and chart levels for ``symbol`` up to the current minute."""
        return self.universe.chart_series(symbol)

    # -- the selector model ----------------------------------------------------
    def attach_selector(self, history: Panel | None = None) -> str:
        """Load the active model for the current symbols and prime it (blocking);
        returns what the Indicators pane says about it (``ModelPicks.attach``)."""
        engine = self.engine
        if engine is None:
            self.model.live = None
            return self.model.note
        return self.model.attach(self.symbols, engine.names, history, self.panel_until_now)

    def load_model(self, focus: str | None = None) -> str:
        """Load the active model with nothing primed (fast): the pane says it is
        loading; ``prime_model`` then fills its windows, ``focus`` first."""
        if focus is not None:
            self.model.focus = (focus,)
        engine = self.engine
        if engine is None:
            self.model.live = None
            return self.model.note
        return self.model.load(self.symbols, engine.names, self.panel_until_now)

    def prime_model(self, n: int | None = None) -> int:
        """Prime the model's next pending symbols; how many remain (blocking: MLX thread)."""
        return self.model.prime_more(n)

    def picks_for(self, symbol: str) -> tuple[Picks, str]:
        """Focus ``symbol`` and return its picks now (blocking: MLX thread)."""
        self.model.focus = (symbol,)
        frame = self.frame
        if self.model.live is None or frame is None or symbol not in frame.snapshot.symbols:
            return (), self.model.note
        return self.model.picks(None).get(symbol, ()), self.model.note

    # -- minutes -----------------------------------------------------------------
    def step(self, batch: BarBatch) -> Frame:
        """Advance every group one minute and derive the frame of the view (blocking)."""
        assert self.groups, "no list is loaded"
        received = self.clock()
        owns, universe = self.universe.step(batch)
        self.anchors.step(owns)
        prev = self.frame
        counts = self.anchor_ages.step(universe)
        scans = tuple(self.scans.step(universe, bar_fields(owns), counts))
        hits: tuple[AlertHit | ScanHit, ...] = (
            *self.alerts.evaluate(universe, self.anchors.alert_values(), counts),
            *self.scans.hits)
        self._seq += 1
        self.rate.count(received, int(np.count_nonzero(universe.valid)))
        self.frame = self._frame(universe, hits=hits, prev=prev, received=received, scans=scans)
        return self.frame

    def step_next(self) -> Frame | None:
        """Pull the next minute from a replay without pacing and step it (tests, bench)."""
        return self.replay.step_next()

    def bars_per_second(self) -> float:
        """Symbol-bars stepped per second over the last ~2 s of clock."""
        return self.rate.per_second()

    def scan_now(self) -> tuple[ScanResult, ...]:
        """The scans at the current minute again (a scan added or edited; MLX thread)."""
        now = self.universe.now
        if now is None:
            return ()
        return tuple(self.scans.step(now, counts=self.anchor_ages.step(now)))

    def _frame(self, universe: Snapshot, *, hits: tuple[AlertHit | ScanHit, ...],
               prev: Frame | None,
               received: float | None = None,
               scans: tuple[ScanResult, ...] | None = None) -> Frame:
        """The view's rows of ``universe`` (and the model's picks for the focus)."""
        u = self.universe
        snap = u.rows(universe)
        partial = u.partial()
        picks = self.model.picks(universe if received is not None else None)
        same = prev is not None and prev.snapshot.symbols == snap.symbols
        return Frame(
            snapshot=snap,
            picks=picks,
            picks_source=self.model.note,
            change_pct=output(snap, "change_pct"),
            day_volume=output(snap, "day_volume"),
            rvol=output(snap, "rvol"),
            minute=self.groups[0].minute,
            seq=self._seq,
            received_at=self.clock() if received is None else received,
            hits=hits,
            prev_values=prev.snapshot.values if same and prev is not None else None,
            last_bar_ts=u.last_bar_ts,
            partial=partial,
            data_start=u.data_start if partial else None,
            anchors=self.anchors.levels(),
            bars_per_s=self.rate.per_second(),
            scans=scans if scans is not None else (prev.scans if prev is not None else ()),
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
        now = self.universe.now
        if now is None or not self.groups:
            return None
        self._seq += 1
        self.frame = self._frame(now, hits=(), prev=self.frame)
        return self.frame
