"""ReplayFeed: any cache replayed as if it were live, at 1×, 10×, 60× or max speed.

Why it exists: the demo, the tests and the benchmark all need a live-looking
stream without a broker. The feed loads one Panel (warm-up sessions + the
sessions to replay) with ``Cache.load_panel`` and yields ``panel.batch(t)`` one
minute at a time. Pacing goes through an injectable ``clock``/``sleep`` pair so
tests step it deterministically without ever sleeping: at speed ``k`` a minute
takes ``60/k`` seconds of ``clock``; ``speed=None`` ("max") never waits.

The minutes before the replay start are ``history()``: the caller warms its
engine on them, then consumes ``batches()`` (async, paced) or ``next_batch()``
(synchronous, unpaced). ``resume_at`` starts the replay at a given minute (the
minutes before it become history), which is how a symbol-list switch continues
where the previous list was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import numpy as np

from storage import calendar
from storage.cache import Cache
from storage.errors import CacheError
from storage.feeds.base import FeedEvent, FeedState, ReplayControls
from storage.types import BarBatch, Panel, as_dt64

#: Speeds the console cycles through; ``None`` is "max" (no waiting).
SPEEDS: tuple[float | None, ...] = (1.0, 10.0, 60.0, None)
#: Longest single wait, so speed changes and pauses apply promptly.
MAX_NAP_S = 0.25


def speed_label(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}×"


def parse_speed(text: str) -> float | None:
    """``"10"``, ``"10x"``, ``"10×"`` or ``"max"`` to a speed (``None`` = max)."""
    t = text.strip().lower().rstrip("x×")
    if t in ("max", "ma", "inf"):
        return None
    value = float(t)
    if value <= 0:
        raise ValueError("speed must be positive")
    return value


def auto_warm_sessions(replay_day: np.datetime64) -> int:
    """Sessions to warm on by default: back to the replay day's week start, at least one.

    Warming steps the engine minute by minute, so it costs time per minute of
    history; the week start keeps the session, day and week anchors exact and
    every rolling indicator (longest window: a few hundred bars) warmed.
    """
    day = as_dt64(replay_day, "D")
    monday = day - ((day.astype(np.int64) + 3) % 7)
    prior = calendar.sessions(monday.astype(object), (day - 1).astype(object))
    return max(1, len(prior))


class ReplayFeed:
    """A ``Feed`` over cached bars, with ``ReplayControls`` (see the module docstring)."""

    def __init__(
        self,
        cache: Cache,
        symbols: Sequence[str],
        *,
        end: dt.date | None = None,
        sessions: int = 1,
        warm_sessions: int | None = None,
        speed: float | None = 1.0,
        resume_at: np.datetime64 | None = None,
        limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        hours: str = "regular",
    ) -> None:
        self.cache = cache
        self._symbols = tuple(symbols)
        self.end = end
        self.sessions = max(1, int(sessions))
        self.warm_sessions = warm_sessions
        self._speed = speed
        self.resume_at = resume_at
        self.limit = limit  # replay at most this many minutes (tests, benchmarks)
        self.clock = clock
        self.sleep = sleep
        self.hours = hours
        self._state = FeedState.CONNECTING
        self._callbacks: list[Callable[[FeedEvent], None]] = []
        self._state_callbacks: list[Callable[[FeedState], None]] = []
        self._panel: Panel | None = None
        self._start = 0  # first replayed minute index
        self._pos = 0  # next minute index to deliver
        self._anchor: tuple[float, int] | None = None  # (clock, pos) pacing reference
        self._resume = asyncio.Event()
        self._resume.set()
        self._stopped = False

    # -- loading ---------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def state(self) -> FeedState:
        return self._state

    @state.setter
    def state(self, value: FeedState) -> None:
        if value is not self._state:
            self._state = value
            for cb in self._state_callbacks:
                cb(value)

    @property
    def replay(self) -> ReplayControls:
        """A replay has every replay control (``Feed.replay``)."""
        return self

    def on_state(self, callback: Callable[[FeedState], None]) -> None:
        self._state_callbacks.append(callback)

    def load(self) -> Panel:
        """Read the panel (blocking: call it off the UI thread). Returns the history."""
        end = self.end
        if end is None:
            info = self.cache.info()
            if info["last"] is None:
                raise CacheError(f"the cache {self.cache.path} holds no bars to replay")
            end = _exchange_date(info["last"])
        replay_dates = calendar.previous_sessions(end, self.sessions)
        if len(replay_dates) == 0:
            raise CacheError(f"no trading session on or before {end} to replay")
        warm = self.warm_sessions
        if warm is None:
            warm = auto_warm_sessions(replay_dates[0])
        dates = calendar.previous_sessions(end, self.sessions + max(0, warm))
        self.state = FeedState.BACKFILLING
        panel = self.cache.load_panel(  # float32: the engine's dtype, half the memory
            self._symbols, dates[0].astype(object), dates[-1].astype(object), self.hours,
            np.float32,
        )
        first_replay = np.datetime64(
            calendar.minute_grid(
                replay_dates[0].astype(object), replay_dates[0].astype(object), self.hours
            ).ts[0],
            "m",
        )
        start_ts = first_replay if self.resume_at is None else max(first_replay, self.resume_at)
        ts = panel.ts.astype("datetime64[m]")
        self._panel = panel
        self._start = self._pos = int(np.searchsorted(ts, start_ts, side="left"))
        self._anchor = None
        return self.history()

    @property
    def panel(self) -> Panel:
        if self._panel is None:
            raise RuntimeError("ReplayFeed.load() has not run")
        return self._panel

    def history(self) -> Panel:
        """The minutes before the replay start (what an engine warms on)."""
        return self.panel.slice_time(0, self._start)

    @property
    def position(self) -> int:
        """Minutes delivered so far (0 before the first replayed minute)."""
        return self._pos - self._start

    @property
    def remaining(self) -> int:
        stop = len(self.panel.ts)
        if self.limit is not None:
            stop = min(stop, self._start + self.limit)
        return stop - self._pos

    @property
    def replay_ts(self) -> np.ndarray:
        return self.panel.ts[self._start :]

    # -- control ---------------------------------------------------------------
    @property
    def speed(self) -> float | None:
        return self._speed

    @speed.setter
    def speed(self, value: float | None) -> None:
        self._speed = value
        self._anchor = None  # re-anchor pacing: a speed change never causes a jump

    def pause(self) -> None:
        if self.state not in (FeedState.DONE, FeedState.DOWN):
            self.state = FeedState.PAUSED
            self._resume.clear()
            self._emit("info", "replay paused")

    def resume(self) -> None:
        if self.state is FeedState.PAUSED:
            self.state = FeedState.LIVE
            self._anchor = None
            self._resume.set()
            self._emit("info", "replay resumed")

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        self._callbacks.append(callback)

    def _emit(self, level: str, message: str, symbol: str | None = None) -> None:
        ev = FeedEvent(level, message, symbol)
        for cb in self._callbacks:
            cb(ev)

    # -- Feed ------------------------------------------------------------------
    async def start(self) -> None:
        if self._panel is None:
            self.load()
        self._stopped = False
        self.state = FeedState.LIVE

    async def stop(self) -> None:
        self._stopped = True
        self._resume.set()
        self.state = FeedState.DONE

    async def set_symbols(self, symbols: list[str]) -> None:
        """Replay other symbols from the current minute on (reloads the panel)."""
        here = self.panel.ts[min(self._pos, len(self.panel.ts) - 1)] if self._panel else None
        self._symbols = tuple(symbols)
        self.resume_at = here
        self.load()

    @property
    def next_ts(self) -> np.datetime64 | None:
        """The minute ``next_batch`` delivers next (None when the replay is over)."""
        stop = len(self.panel.ts) if self.limit is None else min(len(self.panel.ts),
                                                                  self._start + self.limit)
        return None if self._pos >= stop else as_dt64(self.panel.ts[self._pos])

    def seek(self, ts: np.datetime64) -> None:
        """Deliver ``ts`` (the first minute at or after it) next: a jump or a step back.

        Minutes before the replay's first are history, never delivered: the
        position stays at or after the replay start.
        """
        panel = self.panel
        t = int(np.searchsorted(panel.ts.astype("datetime64[m]"), as_dt64(ts)))
        self._pos = max(self._start, min(t, len(panel.ts)))
        self._anchor = None
        if self.state is FeedState.DONE and self._pos < len(panel.ts):
            self.state = FeedState.PAUSED if not self._resume.is_set() else FeedState.LIVE

    def next_batch(self) -> BarBatch | None:
        """The next minute without pacing (``None`` when the replay is over)."""
        panel = self.panel
        stop = len(panel.ts) if self.limit is None else min(len(panel.ts),
                                                             self._start + self.limit)
        if self._pos >= stop:
            if self.state is not FeedState.DONE:
                self.state = FeedState.DONE
                self._emit("info", "replay finished")
            return None
        batch = panel.batch(self._pos)
        self._pos += 1
        return batch

    def _delay(self) -> float:
        """Seconds to wait before delivering minute ``_pos`` at the current speed."""
        if self._speed is None:
            return 0.0
        now = self.clock()
        if self._anchor is None:
            self._anchor = (now, self._pos)
            return 0.0
        t0, p0 = self._anchor
        return t0 + (self._pos - p0) * 60.0 / self._speed - now

    async def batches(self) -> AsyncIterator[BarBatch]:
        if self._panel is None:
            await self.start()
        if self.state is FeedState.BACKFILLING or self.state is FeedState.CONNECTING:
            self.state = FeedState.LIVE
        while not self._stopped:
            if not self._resume.is_set():
                await self._resume.wait()
                continue
            delay = self._delay()
            if delay > 0:
                # Short naps, re-paced each time: a speed change or a pause takes
                # effect at once even at 1× (a minute is 60 s there).
                await self.sleep(min(delay, MAX_NAP_S))
                continue
            await self.sleep(0)  # let the loop breathe at max speed
            if self._stopped:
                break
            batch = self.next_batch()
            if batch is None:
                return
            yield batch


class ReplaySource:
    """The ``FeedSource`` of replays: a ``ReplayFeed`` per list over one cache.

    Every feed it builds reports its state and notices to the callbacks given
    here, so the console subscribes once for the whole run.
    """

    fills_cache = False

    def __init__(self, cache: Cache, **options: object) -> None:
        self.cache = cache
        self.options = options  # ReplayFeed keyword arguments (sessions, speed, end …)
        self._state_cbs: list[Callable[[FeedState], None]] = []
        self._event_cbs: list[Callable[[FeedEvent], None]] = []
        self._feeds: list[ReplayFeed] = []

    def __call__(self, symbols: tuple[str, ...], resume_at: np.datetime64 | None) -> ReplayFeed:
        feed = ReplayFeed(self.cache, symbols, resume_at=resume_at,
                          **self.options)  # type: ignore[arg-type]
        for scb in self._state_cbs:
            feed.on_state(scb)
        for ecb in self._event_cbs:
            feed.on_event(ecb)
        self._feeds = [feed]  # the previous list's feed is stopped by the console
        return feed

    def on_state(self, callback: Callable[[FeedState], None]) -> None:
        self._state_cbs.append(callback)

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        self._event_cbs.append(callback)

    async def aclose(self) -> None:
        for feed in self._feeds:
            await feed.stop()

    def companion(self, symbols: tuple[str, ...]) -> ReplayFeed:
        """A feed of ``symbols`` over the same minutes as this source's feeds (the same
        options and cache), never started nor stopped: its ``load()`` gives the panel
        new symbols join a running replay with."""
        return ReplayFeed(self.cache, symbols, **self.options)  # type: ignore[arg-type]

    def prioritize(self, symbols: Sequence[str]) -> None:
        """A replay reads every symbol at once: nothing to put first."""


def _exchange_date(ts: np.datetime64) -> dt.date:
    """The exchange (New York) date of a UTC minute."""
    from zoneinfo import ZoneInfo

    utc = as_dt64(ts).astype("datetime64[s]").astype(object).replace(tzinfo=dt.UTC)
    return utc.astimezone(ZoneInfo(calendar.EXCHANGE_TZ)).date()
