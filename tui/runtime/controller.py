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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from engine.incremental import IncrementalEngine
from engine.snapshot import Snapshot
from storage import calendar
from storage.cache import Cache
from storage.errors import AvwapError, CacheError
from storage.feeds.base import Feed, FeedSource
from storage.tickers import TickerList, load_list
from storage.types import SEGMENT_KINDS, BarBatch, Panel
from tui.alerts import AlertBook, AlertHit
from tui.runtime.memory import release_memory

if TYPE_CHECKING:
    from models.live import LiveSelector

#: Series kept per minute of today for the chart (besides the close).
CHART_NAMES: tuple[str, ...] = (
    "avwap_session", "avwap_session_up1", "avwap_session_dn1",
    "avwap_session_up2", "avwap_session_dn2", "avwap_day",
)
SESSION_MINUTES = 390


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


#: Sessions stepped minute by minute at the end of a warm-up: enough for every
#: bar-sequence indicator's window (780 regular bars > 200); the rest is exact.
WARM_STEP_SESSIONS = 2


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
    ) -> None:
        self.cache = cache
        #: Sessions the engine steps minute by minute at the end of the history
        #: (None: ``WARM_STEP_SESSIONS``). The AVWAP anchors and the relative-volume
        #: history are warmed exactly from the whole history whatever this is.
        self.engine_warm = engine_warm
        self._cancel = threading.Event()
        self.source = source
        self.names = tuple(names) if names is not None else None
        self.clock = clock
        self.user_dir = user_dir
        self.alerts = AlertBook()
        #: The active model's live selector (``models.live.LiveSelector``) for the
        #: current symbols, and what the Indicators pane says about it.
        self.selector: LiveSelector | None = None
        self.model_note = "no model active: default ranking"
        #: Symbols whose picks each step computes (the highlighted one).
        self.focus: tuple[str, ...] = ()
        self.ticker_list: TickerList | None = None
        self.missing: tuple[str, ...] = ()
        self.feed: Feed | None = None
        self.engine: IncrementalEngine | None = None
        self.symbols: tuple[str, ...] = ()
        self.frame: Frame | None = None
        self._seq = 0
        self._started_before: dict[str, int] = {}
        self.data_start: np.datetime64 | None = None
        self._rate: deque[tuple[float, int]] = deque()
        self._reset_day(0)

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
        """Build the feed and the engine for ``symbols`` and warm it (blocking)."""
        self.symbols = tuple(symbols)
        feed = self.source(self.symbols, resume_at)
        history = feed.load()
        release_memory()
        engine = IncrementalEngine(self.symbols, self.names)
        self.ticker_list, self.missing, self.feed, self.engine = tl, tuple(missing), feed, engine
        self.frame = None
        self._reset_day(len(self.symbols))
        self._started_before = segments_started_before(feed.panel)
        self.data_start = feed.panel.ts[0] if len(feed.panel.ts) else None
        if len(history.ts) == 0:
            return None
        # Warm on the sessions before today in one call; step today's minutes so
        # the chart and the day totals have them.
        # "Today" is the replay's first day: minutes of it already in the history
        # (a list switch mid-session) are stepped one by one below.
        sess = history.segments["session"]
        full = feed.panel
        first_day = full.segments["day"][min(len(history.ts), len(full.ts) - 1)]
        today = int(np.searchsorted(history.segments["day"], first_day, side="left"))
        prior = history.slice_time(0, today)
        steps = self.engine_warm if self.engine_warm is not None else WARM_STEP_SESSIONS

        def tick(fraction: float) -> None:
            if self._cancel.is_set():
                raise WarmUpCancelled
            if progress:
                progress(fraction * 0.95)

        if len(prior.ts):
            engine.warm(prior, step_sessions=max(steps, 1), progress=tick)
            self._session = int(sess[today - 1]) if today else None
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

    def _reset_day(self, s: int) -> None:
        self._last_bar_ts: np.datetime64 | None = None
        self._session = None
        self._chart = np.full((1 + len(CHART_NAMES), s, SESSION_MINUTES), np.nan, np.float32)
        self._minute = 0

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
                if history is None and self.feed is not None and self.frame is not None:
                    panel = self.feed.panel
                    stop = int(np.searchsorted(panel.ts, self.frame.snapshot.ts, side="right"))
                    history = panel.slice_time(0, stop)
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
        """Advance the engine one minute and derive the frame (blocking)."""
        assert self.engine is not None
        received = self.clock()
        sess = int(batch.segments["session"])
        if self._session is not None and sess != self._session and sess >= 0:
            self._chart[:] = np.nan
            self._minute = 0
        if sess >= 0:
            self._session = sess
        prev = self.frame
        snap = self.engine.step(batch)
        m = int(batch.minute_of_session)
        if 0 <= m < SESSION_MINUTES:
            self._chart[0, :, m] = snap.last
            for k, name in enumerate(CHART_NAMES, start=1):
                if name in snap.names:
                    self._chart[k, :, m] = snap.column(name)
            self._minute = max(self._minute, m + 1)
        hits = tuple(self.alerts.evaluate(snap))
        if batch.valid.any():
            self._last_bar_ts = batch.ts
        partial = tuple(k for k, sid in self._started_before.items()
                        if int(batch.segments[k]) == sid)
        self._seq += 1
        self._count_rate(received, int(np.count_nonzero(batch.valid)))
        picks = self._picks(snap)
        frame = Frame(
            snapshot=snap,
            picks=picks,
            picks_source=self.model_note,
            change_pct=_output(snap, "change_pct"),
            day_volume=_output(snap, "day_volume"),
            rvol=_output(snap, "rvol"),
            minute=self._minute,
            seq=self._seq,
            received_at=received,
            hits=hits,
            prev_values=None if prev is None else prev.snapshot.values,
            last_bar_ts=self._last_bar_ts,
            partial=partial,
            data_start=self.data_start if partial else None,
        )
        self.frame = frame
        return frame

    def step_next(self) -> Frame | None:
        """Pull the next minute from a replay without pacing and step it (tests, bench)."""
        replay = self.feed.replay if self.feed is not None else None
        batch = replay.next_batch() if replay is not None else None
        return None if batch is None else self.step(batch)

    # -- what panes read -------------------------------------------------------
    def chart_series(self, symbol: str) -> dict[str, np.ndarray]:
        """Today's close and chart levels for ``symbol`` up to the current minute."""
        if symbol not in self.symbols:
            return {}
        i = self.symbols.index(symbol)
        n = self._minute
        out = {"close": self._chart[0, i, :n].copy()}
        for k, name in enumerate(CHART_NAMES, start=1):
            out[name] = self._chart[k, i, :n].copy()
        return out

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
