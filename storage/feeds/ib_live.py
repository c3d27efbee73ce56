"""The IB feed as the console's feed: one IB connection per console, a feed per ticker list.

Why an adapter: the console speaks the one ``Feed`` contract
(``storage.feeds.base``: ``load()`` returns the history the engine warms on,
``panel``, ``batches()``, ``state``) and builds a new feed for every ticker list
through a ``FeedSource`` called on its MLX thread. ``IBFeed`` is asyncio-only and
owns a socket to the gateway, so:

- ``IBLiveSession`` is that source. It owns one ``IBFeed`` for the whole
  console run; a list switch becomes ``IBFeed.set_symbols`` on the same
  connection (a second connection with the same clientId would be refused).
- ``LiveIBFeed.load()`` is called on the session thread; it runs the IB work
  (connect, backfill into the cache, or the list switch) as a coroutine on the
  event loop the session is bound to (the Textual app's loop, where ib_async's
  ``connectAsync`` and its callbacks live) and blocks only the session thread
  until it is done. Then it reads the history from the DuckDB cache up to the
  first minute the feed will emit, so nothing is stepped twice or skipped.
- ``batches()`` passes on ``IBFeed``'s closed minutes, dropping any that the
  history already covers or that were assembled for a previous list.

Live bars cannot be sped up or paused: ``LiveIBFeed.replay`` is ``None``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from storage import calendar
from storage.cache import Cache
from storage.errors import AvwapError
from storage.feeds.base import FeedEvent, FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.ib_config import IBConfig
from storage.types import BarBatch, Panel

T = TypeVar("T")


class IBFeedError(AvwapError):
    """The live IB feed could not be started or was closed while starting."""


class IBLiveSession:
    """One IB connection for a console run: the console's ``FeedSource`` for live bars."""

    #: The feed backfills the cache itself: symbols need no cached bars beforehand.
    fills_cache = True

    def __init__(
        self,
        config: IBConfig,
        cache: Cache,
        *,
        history_sessions: int = 19,
        api: str | ModuleType = "",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.history_sessions = max(0, int(history_sessions))
        self.hours = "regular" if config.use_rth else "extended"
        self.api = api
        self.feed: IBFeed | None = None
        self._loop = loop
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._state_cbs: list[Callable[[FeedState], None]] = []
        self._event_cbs: list[Callable[[FeedEvent], None]] = []
        self._closed = False

    # -- wiring ----------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the IB client runs on (the app's); set before the first load."""
        self._loop = loop

    def on_state(self, callback: Callable[[FeedState], None]) -> None:
        """``callback(state)`` on the event loop at every feed state change."""
        self._state_cbs.append(callback)
        if self.feed is not None:
            self.feed.on_state(callback)

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        """``callback(event)`` on the event loop for every feed notice."""
        self._event_cbs.append(callback)
        if self.feed is not None:
            self.feed.on_event(callback)

    @property
    def state(self) -> FeedState:
        return self.feed.state if self.feed is not None else FeedState.CONNECTING

    def __call__(self, symbols: tuple[str, ...], resume_at: np.datetime64 | None) -> LiveIBFeed:
        """The feed factory: ``resume_at`` is ignored (live resumes at the live minute)."""
        return LiveIBFeed(self, symbols)

    # -- running IB work from the session thread -------------------------------
    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` on the bound loop and wait for it (never on the loop's thread)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("IBLiveSession.bind(loop) must be called before the first load")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("LiveIBFeed.load() blocks: call it off the event loop's thread")
        if self._closed:
            raise IBFeedError("the IB session is closed")
        fut = asyncio.run_coroutine_threadsafe(_call(work), loop)
        self._pending.add(fut)
        try:
            return fut.result()
        except concurrent.futures.CancelledError:
            raise IBFeedError("the IB session was closed while connecting") from None
        finally:
            self._pending.discard(fut)

    async def open(self, symbols: Sequence[str]) -> np.datetime64:
        """Connect and backfill (first list) or switch symbols; the first minute to stream."""
        if self.feed is None:
            feed = IBFeed(self.config, symbols, self.cache, api=self.api)
            for scb in self._state_cbs:
                feed.on_state(scb)
            for ecb in self._event_cbs:
                feed.on_event(ecb)
            self.feed = feed
            try:
                await feed.start()
            except BaseException:
                self.feed = None
                await feed.stop()
                raise
        elif tuple(symbols) != self.feed.symbols:
            await self.feed.set_symbols(list(symbols))
        await self.feed.flush()  # every bar before the cut is in the cache
        cut = self.feed.next_minute
        if cut is None:
            raise IBFeedError("the IB feed started without a live minute")
        return cut

    def companion(self, symbols: tuple[str, ...]) -> None:
        """Live IB subscribes per list: a list with new symbols restarts the feed on it."""
        return None

    def prioritize(self, symbols: Sequence[str]) -> None:
        """The rows on screen backfill first when IB's pacing makes requests wait."""
        if self.feed is not None:
            self.feed.prioritize(symbols)

    async def aclose(self) -> None:
        """Cancel a pending connect, stop streaming and disconnect (on the loop)."""
        self._closed = True
        for fut in list(self._pending):
            fut.cancel()
        if self.feed is not None and self.feed.state is not FeedState.DONE:
            await self.feed.stop()

    # -- history ---------------------------------------------------------------
    def history(self, symbols: Sequence[str], cut: np.datetime64) -> Panel:
        """Cached sessions (``history_sessions`` + the current one) before minute ``cut``."""
        last = cut.astype("datetime64[m]") - np.timedelta64(1, "m")
        end = _exchange_date(last)
        dates = calendar.previous_sessions(end, self.history_sessions + 1)
        first = dates[0].astype(object) if len(dates) else end
        panel = self.cache.load_panel(symbols, first, end, self.hours)
        stop = int(np.searchsorted(panel.ts.astype("datetime64[m]"), cut, side="left"))
        return panel.slice_time(0, stop)


class LiveIBFeed:
    """The ``Feed`` of one ticker list, over the session's one ``IBFeed``."""

    def __init__(self, session: IBLiveSession, symbols: Sequence[str]) -> None:
        self.session = session
        self._symbols = tuple(symbols)
        self._panel: Panel | None = None
        self._cut: np.datetime64 | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def state(self) -> FeedState:
        return self.session.state

    @property
    def replay(self) -> None:
        """Live bars arrive when IB sends them: no speed, pause or stepping."""
        return None

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        """Notices come from the session's one ``IBFeed`` (``IBLiveSession.on_event``)."""
        self.session.on_event(callback)

    def load(self) -> Panel:
        """Backfill through IB, then read the history up to the live minute (blocking)."""
        symbols = self._symbols
        self._cut = self.session.run(lambda: self.session.open(symbols))
        self._panel = self.session.history(symbols, self._cut)
        return self._panel

    @property
    def panel(self) -> Panel:
        if self._panel is None:
            raise RuntimeError("LiveIBFeed.load() has not run")
        return self._panel

    def history(self) -> Panel:
        return self.panel

    @property
    def first_live_minute(self) -> np.datetime64 | None:
        """The first minute ``batches()`` yields (the history ends just before it)."""
        return self._cut

    async def start(self) -> None:
        """Nothing to do: ``load()`` connected and subscribed already."""

    async def stop(self) -> None:
        await self.session.aclose()

    async def batches(self) -> AsyncIterator[BarBatch]:
        feed = self.session.feed
        if feed is None or self._cut is None:
            raise RuntimeError("LiveIBFeed.load() has not run")
        async for batch in feed.batches():
            if batch.symbols != self._symbols or batch.ts < self._cut:
                continue  # assembled for a previous list, or already in the history
            yield batch


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _exchange_date(minute: np.datetime64) -> dt.date:
    """The exchange (New York) date of a UTC minute."""
    utc = minute.astype("datetime64[s]").astype(object).replace(tzinfo=dt.UTC)
    return utc.astimezone(ZoneInfo(calendar.EXCHANGE_TZ)).date()
