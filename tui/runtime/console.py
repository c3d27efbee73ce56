"""The live console session as a runtime job: list switches, warm-ups and the feed loop.

Why a job and not the screen: the session is the console's longest work (it
runs for the whole day) and every call it makes into the engine must run on the
runtime's one MLX thread. The screen only asks (``switch_list``, ``set_speed``,
``toggle_pause``) and renders the messages it gets back: ``WarmProgress``,
``SessionReady``/``SessionFailed``, ``SnapshotReady`` (collapsing under
bursts), ``AlertsFired``, and the feed's ``FeedStateChanged``/``FeedNotice``
(IB callbacks arrive as messages, never as widget calls).

A list switch cancels the previous switch and the running feed loop, warms the
engine on the new list (resuming a replay at the minute after the last one
shown), then starts the new feed loop. A failed switch keeps the previous list
running.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import numpy as np

from storage import calendar
from storage.errors import AvwapError
from storage.feeds.base import FeedEvent, FeedSource, FeedState
from tui.messages import (
    AlertsFired,
    FeedNotice,
    FeedStateChanged,
    PicksReady,
    SessionFailed,
    SessionReady,
    SnapshotReady,
    WarmProgress,
)
from tui.runtime.controller import Controller, Frame, WarmUpCancelled
from tui.runtime.jobs import Job
from tui.runtime.runtime import Runtime
from tui.views import CandleData


class ConsoleSession(Job):
    """The console's live session (see the module docstring)."""

    kind = "console"
    #: Quiet seconds after the last "late" notice before the list is re-warmed.
    rewarm_delay_s = 5.0

    def __init__(self, controller: Controller, list_name: str, *, live: bool = True,
                 speed: float | None = 1.0) -> None:
        super().__init__("console")
        self.controller = controller
        self.first_list = list_name
        self.live = live
        self.speed = speed
        self.list_name: str | None = None
        self._runtime: Runtime | None = None
        self._closed = asyncio.Event()
        self._switch: asyncio.Task[None] | None = None
        self._feed: asyncio.Task[None] | None = None
        self._side: set[asyncio.Task[None]] = set()  # picks requests, model reloads
        self._rewarm: asyncio.TimerHandle | None = None

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the session has not started"
        return self._runtime

    # -- the job ---------------------------------------------------------------
    async def run(self, runtime: Runtime) -> None:
        source = self.controller.source
        source.on_state(self._on_state)
        source.on_event(self._on_event)
        self.switch_list(self.first_list)
        try:
            await self._closed.wait()
        finally:
            await self._close(source)

    def cancel(self) -> None:
        super().cancel()
        self.controller.cancel()  # a warm-up in progress stops at its next tick
        self._closed.set()

    async def _close(self, source: FeedSource) -> None:
        self.controller.cancel()
        if self._rewarm is not None:
            self._rewarm.cancel()
        tasks = [t for t in (self._switch, self._feed, *self._side)
                 if t is not None and not t.done()]
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):  # closing: a feed error changes nothing now
            await asyncio.wait_for(source.aclose(), 1.0)
            if tasks:
                await asyncio.wait(tasks, timeout=0.5)

    def _on_state(self, state: FeedState) -> None:
        self.post(FeedStateChanged(state))

    def _on_event(self, event: FeedEvent) -> None:
        self.post(FeedNotice(event.level, event.message, event.kind, event.until))
        if event.kind == "late" and self.list_name is not None:
            self._rewarm_soon()

    def _rewarm_soon(self) -> None:
        """Symbols whose history landed after their first live minutes were stepped
        without it: warm the list again from the cache, once the burst of such
        notices is over (the previous list keeps streaming meanwhile)."""
        if self._rewarm is not None:
            self._rewarm.cancel()
        loop = asyncio.get_running_loop()
        self._rewarm = loop.call_later(self.rewarm_delay_s, self._do_rewarm)

    def _do_rewarm(self) -> None:
        self._rewarm = None
        if self._switch is not None and not self._switch.done():
            return  # a switch in progress warms from the cache anyway
        if self.list_name is not None and not self.cancel_requested:
            self.switch_list(self.list_name)

    def prioritize(self, symbols: list[str]) -> None:
        """The rows on screen first in the feed's queue (IB under pacing)."""
        self.controller.source.prioritize(symbols)

    # -- what the screen asks --------------------------------------------------
    def switch_list(self, name: str) -> None:
        """Load list ``name`` and restart the feed on it (the previous switch is dropped)."""
        if self._rewarm is not None:  # this switch warms from the cache: no re-warm after it
            self._rewarm.cancel()
            self._rewarm = None
        if self._switch is not None and not self._switch.done():
            self._switch.cancel()
        self._switch = asyncio.get_running_loop().create_task(self._switch_list(name))

    def set_speed(self, speed: float | None) -> bool:
        """Replay speed (``None`` = max); False for a live feed, which cannot change it."""
        self.speed = speed
        feed = self.controller.feed
        if feed is not None and feed.replay is not None:
            feed.replay.speed = speed
            return True
        return False

    def toggle_pause(self) -> FeedState | None:
        """Pause or resume a replay; ``None`` for a live feed (nothing to pause)."""
        feed = self.controller.feed
        if feed is None or feed.replay is None:
            return None
        if feed.state is FeedState.PAUSED:
            feed.replay.resume()
        else:
            feed.replay.pause()
        return feed.state

    def request_picks(self, symbol: str) -> None:
        """Focus ``symbol`` for the model's picks; ``PicksReady`` follows (MLX thread)."""
        self._spawn(self._picks(symbol))

    def model_changed(self, symbol: str | None) -> None:
        """A model was made active (or none is): reload it, then send ``PicksReady``."""
        self._spawn(self._reload_model(symbol))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _picks(self, symbol: str) -> None:
        if self.controller.engine is None:
            return
        picks, note = await self.runtime.executor.run(self.controller.picks_for, symbol)
        self.post(PicksReady(symbol, picks, note))

    async def _reload_model(self, symbol: str | None) -> None:
        note = await self.runtime.executor.run(self.controller.attach_selector)
        if symbol is not None:
            await self._picks(symbol)
        else:
            self.post(PicksReady("", (), note))

    async def settled(self) -> None:
        """Wait until the list switch in progress (if any) has finished (tests, bench)."""
        while self._switch is not None and not self._switch.done():
            await asyncio.gather(self._switch, return_exceptions=True)

    async def feed_finished(self) -> None:
        """Wait until the feed loop has ended (a replay that ran out; tests)."""
        await self.settled()
        while self._feed is not None and not self._feed.done():
            await asyncio.gather(self._feed, return_exceptions=True)

    async def step_next(self) -> Frame | None:
        """One replayed minute now, without pacing (tests and the benchmark)."""
        return await self.runtime.executor.run(self.controller.step_next)

    async def candles(self, symbol: str, sessions: int | None = 1, *,
                      since: np.datetime64 | None = None) -> CandleData:
        """The chart's bars and AVWAP levels of ``symbol`` (MLX thread): the last
        ``sessions`` sessions (None: all loaded), or with ``since`` only the bars
        after it, levelled from the current frame (``tui.runtime.candles``)."""
        from tui.runtime import candles as c

        ctl = self.controller
        if since is not None:
            after = since
            return await self.runtime.executor.run(lambda: c.candle_tail(ctl, symbol, after))
        return await self.runtime.executor.run(lambda: c.build_candles(ctl, symbol, sessions))

    # -- internals -------------------------------------------------------------
    async def _switch_list(self, name: str) -> None:
        ctl, ex = self.controller, self.runtime.executor
        try:
            tl, present, missing = await ex.run(ctl.resolve_list, name)
        except AvwapError as e:
            self._failed(str(e))
            return
        resume_at = None
        if ctl.frame is not None:
            resume_at = ctl.frame.snapshot.ts + np.timedelta64(1, "m")
        await self._stop_feed()
        self.runtime.gc.thaw()  # the previous session's objects become collectable again
        self.post(WarmProgress(0.0, tl.name, len(present)))

        def progress(f: float) -> None:
            self.post(WarmProgress(f, tl.name, len(present)))

        try:
            frame = await ex.run(
                lambda: ctl.prepare(tl, present, missing, resume_at=resume_at, progress=progress))
        except WarmUpCancelled:
            return
        except AvwapError as e:
            self._failed(str(e))
            return
        self.runtime.gc.settle()
        first = self.list_name != tl.name
        self.list_name = tl.name
        self.post(SessionReady(tl.name, tuple(present), tuple(missing), frame))
        if self.live:
            self._start_feed()
        if first:
            self._spawn(self._check_data(tuple(present)))

    async def _check_data(self, symbols: tuple[str, ...]) -> None:
        """Once per list: one notice when the loaded history has data problems
        (missing sessions or minutes, bars after an early close, non-minute
        spacing). DuckDB reads on a worker thread: no MLX, and the console's
        minutes keep flowing on the MLX thread meanwhile."""
        from storage.quality import loaded_data_note

        feed = self.controller.feed
        if feed is None or not len(feed.panel.ts):
            return
        dates = calendar.exchange_dates(feed.panel.ts[[0, -1]])
        start, end = (d.astype(dt.date) for d in dates)
        try:
            note = await asyncio.to_thread(loaded_data_note, self.controller.cache, symbols,
                                           start, end)
        except AvwapError:
            return  # the check is advice; a failing read must not disturb the session
        if note:
            self.post(FeedNotice("warning", note, "data_quality"))

    def _failed(self, error: str) -> None:
        self.post(SessionFailed(error))
        if self.controller.feed is not None and self.live and (
                self._feed is None or self._feed.done()):
            self._start_feed()  # keep the previous list running

    async def _stop_feed(self) -> None:
        task, self._feed = self._feed, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _start_feed(self) -> None:
        self._feed = asyncio.get_running_loop().create_task(self._run_feed())

    async def _run_feed(self) -> None:
        ctl, ex = self.controller, self.runtime.executor
        feed = ctl.feed
        if feed is None:
            return
        if feed.replay is not None:
            feed.replay.speed = self.speed
        await feed.start()
        self.post(FeedStateChanged(feed.state))
        try:
            async for batch in feed.batches():
                frame = await ex.run(ctl.step, batch)
                self.post(SnapshotReady(frame))
                if frame.hits:
                    self.post(AlertsFired(frame.hits))
        except AvwapError as e:
            self.post(FeedNotice("error", str(e)))
        self.post(FeedStateChanged(feed.state))
