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

Every task of the session (the list switch, the feed loop, picks requests,
model reloads, the data check) is a child of one ``asyncio.TaskGroup`` that
``run`` owns: when the session ends, none outlives it, and the group waits for
each to finish. A child's unexpected error becomes an error notice (as the
feed loop's always did) instead of ending the whole session.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import numpy as np

from storage import calendar
from storage.anchors import Anchor
from storage.errors import AvwapError
from storage.feeds.base import Feed, FeedEvent, FeedSource, FeedState
from storage.tickers import TickerList
from tui.messages import (
    AlertsFired,
    AnchorsChanged,
    FeedNotice,
    FeedStateChanged,
    PicksReady,
    SessionFailed,
    SessionReady,
    SnapshotReady,
    WarmProgress,
)
from tui.runtime.controller import Controller
from tui.runtime.frames import Frame
from tui.runtime.jobs import Job
from tui.runtime.runtime import Runtime
from tui.runtime.warmup import WarmUpCancelled
from tui.views import CandleData

_T = TypeVar("_T")


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
        self._tasks: asyncio.TaskGroup | None = None  # open while ``run`` runs
        self._switch: asyncio.Task[None] | None = None
        self._feed: asyncio.Task[None] | None = None
        self._side: set[asyncio.Task[None]] = set()  # picks requests, model reloads
        #: Symbols shown by find beside the list's own (until the next list switch).
        self.guests: tuple[str, ...] = ()
        self._finished = False  # the replay ran out (a view change does not restart it)
        self._checked: set[str] = set()  # lists whose loaded history was checked
        self._rewarm: asyncio.TimerHandle | None = None
        #: Others' writes to the shared cache (``_watch_others``): the point last
        #: looked at, the warmed history's fingerprint, and "warm symbols are stale".
        self._mark: tuple[int, int] | None = None
        self._base: tuple[np.datetime64, dict[str, tuple[int, int]]] | None = None
        self._base_of: tuple[str, ...] = ()  # the symbols the baseline covers
        self._stale = False
        self._watching: asyncio.Task[None] | None = None  # the baseline or a look at a change
        self._reload: asyncio.Task[None] | None = None  # a model made active
        self._priming: asyncio.Task[None] | None = None  # the model's pending symbols

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the session has not started"
        return self._runtime

    # -- the job ---------------------------------------------------------------
    async def run(self, runtime: Runtime) -> None:
        source = self.controller.source
        source.on_state(self._on_state)
        source.on_event(self._on_event)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                self.switch_list(self.first_list)
                try:
                    await self._closed.wait()
                finally:
                    await self._close(source)
        finally:
            self._tasks = None

    def cancel(self) -> None:
        super().cancel()
        self.controller.cancel()  # a warm-up in progress stops at its next tick
        self._closed.set()

    async def _close(self, source: FeedSource) -> None:
        """Stop every child task and close the feed (the task group then waits for them)."""
        self.controller.cancel()
        if self._rewarm is not None:
            self._rewarm.cancel()
        for t in (self._switch, self._feed, *self._side):
            if t is not None and not t.done():
                t.cancel()
        with contextlib.suppress(Exception):  # closing: a feed error changes nothing now
            await asyncio.wait_for(source.aclose(), 1.0)

    def _start(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """``coro`` as a child of the session's task group (see the module docstring)."""
        assert self._tasks is not None, "the session is not running"
        return self._tasks.create_task(self._guarded(coro))

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Exception as e:  # a bug must not end the session silently: say it
            self.post(FeedNotice("error", f"the console session failed: {type(e).__name__}: {e}"))

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
            self.switch_list(self.list_name, rebuild=True)

    def prioritize(self, symbols: list[str]) -> None:
        """The rows on screen first in the feed's queue (IB under pacing)."""
        self.controller.source.prioritize(symbols)

    # -- what the screen asks --------------------------------------------------
    def switch_list(self, name: str, *, rebuild: bool = False) -> None:
        """Show list ``name`` (the previous switch in progress is dropped).

        Symbols already warm are a view change; new ones warm in the background
        (a replay) while the current list stays live. ``rebuild`` warms the whole
        list again from the cache (history that landed late).
        """
        if self._rewarm is not None:  # this switch warms from the cache: no re-warm after it
            self._rewarm.cancel()
            self._rewarm = None
        if self._switch is not None and not self._switch.done():
            self._switch.cancel()
        if self._tasks is not None:
            self._switch = self._start(self._switch_list(name, rebuild))

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

    # -- replay navigation -------------------------------------------------------
    async def step_one(self) -> Frame | None:
        """Pause the replay (if it runs) and step exactly one minute; the frame is posted.
        None for a live feed or a replay that is over."""
        feed = self.controller.feed
        if feed is None or feed.replay is None:
            return None
        if feed.state is not FeedState.PAUSED:
            feed.replay.pause()
        frame = await self.runtime.executor.run(self.controller.step_next)
        if frame is not None:
            self.post(SnapshotReady(frame))
        return frame

    async def jump(self, target: np.datetime64) -> Frame | None:
        """Show minute ``target`` of the replay: forward by stepping without pacing,
        back by restoring the engines at that session's start and stepping to it.
        Raises ``JumpError`` (one line) for a target the replay cannot reach."""
        from tui.runtime.replay_nav import JumpError

        ctl, ex = self.controller, self.runtime.executor
        feed = ctl.feed
        if feed is None or feed.replay is None:
            raise JumpError("live bars cannot be rewound or skipped")
        replay = feed.replay
        if not ctl.groups:
            raise JumpError("the replay has not started yet")
        now = ctl.groups[0].last_ts
        if now is not None and target == now:
            return ctl.frame
        back = now is not None and target < now
        if back:  # refused before the feed stops: a target it cannot reach changes nothing
            await ex.run(ctl.replay.session_to_rewind, target)
        paused = feed.state is FeedState.PAUSED
        await self._stop_feed()
        try:
            if back:
                first = await ex.run(ctl.replay.rewind_to, target)
                replay.seek(first)
            frame, done = ctl.frame, False
            while not done:
                frame, done = await ex.run(ctl.replay.step_until, target)
                if frame is not None:
                    self.post(SnapshotReady(frame))
            return frame
        finally:
            self._finished = False
            if self.live:
                self._start_feed()
                if paused:
                    replay.pause()

    async def back_to_session_start(self) -> Frame | None:
        """The replay back to the first minute of the session on screen."""
        start = await self.runtime.executor.run(self.controller.replay.session_start)
        return None if start is None else await self.jump(start)

    def request_picks(self, symbol: str) -> None:
        """Focus ``symbol`` for the model's picks; ``PicksReady`` follows (MLX thread)."""
        self._spawn(self._picks(symbol))

    def model_changed(self, symbol: str | None) -> None:
        """A model was made active (or none is): reload it, then send ``PicksReady``."""
        self._reload = asyncio.get_running_loop().create_task(self._reload_model(symbol))
        self._side.add(self._reload)
        self._reload.add_done_callback(self._side.discard)

    async def model_primed(self) -> None:
        """Wait until the model made active has every symbol primed (tests, bench)."""
        for which in ("_reload", "_priming"):  # the reload starts the priming
            task = getattr(self, which)
            while task is not None and not task.done():
                await asyncio.gather(task, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tasks is None:
            coro.close()  # the session has ended: nothing to do it for
            return
        task = self._start(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _picks(self, symbol: str) -> None:
        if self.controller.engine is None:
            return
        picks, note = await self.runtime.executor.run(self.controller.picks_for, symbol)
        self.post(PicksReady(symbol, picks, note))

    async def _reload_model(self, symbol: str | None) -> None:
        """Load the model (the pane says "loading model X…" at once), prime the
        highlighted symbol and show its picks, then the rest between minutes."""
        ctl, ex = self.controller, self.runtime.executor
        note = await ex.run(ctl.load_model, symbol)
        self.post(PicksReady(symbol or "", (), note))
        await ex.run(ctl.prime_model, 1)
        if symbol is not None:
            await self._picks(symbol)
        else:
            self.post(PicksReady("", (), ctl.model.note))
        self._prime_rest()

    def _prime_rest(self) -> None:
        """Prime the model's pending symbols, a chunk per MLX call (restarted if running)."""
        if self._priming is not None and not self._priming.done():
            return
        self._priming = asyncio.get_running_loop().create_task(self._prime_loop())
        self._side.add(self._priming)
        self._priming.add_done_callback(self._side.discard)

    async def _prime_loop(self) -> None:
        """Each chunk is one call on the MLX thread; the feed's minutes, queued behind
        it, run before the next chunk is asked for (the executor keeps their order)."""
        ctl, ex = self.controller, self.runtime.executor
        while await ex.run(ctl.prime_model):
            pass
        focus = ctl.model.focus
        if focus and ctl.engine is not None:
            await self._picks(focus[0])

    async def settled(self) -> None:
        """Wait until the list switch in progress (if any) has finished (tests, bench)."""
        while self._switch is not None and not self._switch.done():
            await asyncio.gather(self._switch, return_exceptions=True)
        while self._watching is not None and not self._watching.done():
            await asyncio.gather(self._watching, return_exceptions=True)

    async def feed_finished(self) -> None:
        """Wait until the feed loop has ended (a replay that ran out; tests)."""
        await self.settled()
        while self._feed is not None and not self._feed.done():
            await asyncio.gather(self._feed, return_exceptions=True)

    async def step_next(self) -> Frame | None:
        """One replayed minute now, without pacing (tests and the benchmark)."""
        frame = await self.runtime.executor.run(self.controller.step_next)
        self._watch_others()
        return frame

    async def add_anchor(self, symbol: str, ts: np.datetime64, label: str = "") -> Anchor:
        """Anchor an AVWAP at ``symbol``'s bar ``ts`` (kept in the cache) and show it now:
        ``AnchorsChanged`` carries the frame with its values. ``AnchorError`` (one line)
        when the cache refuses it (no bar there, a duplicate, a read-only cache)."""
        anchor, frame = await self.runtime.executor.run(
            self.controller.add_anchor, symbol, ts, label)
        self.post(AnchorsChanged(anchor.symbol, frame))
        return anchor

    async def delete_anchor(self, anchor_id: int) -> None:
        """Delete a custom anchor (and its alerts); ``AnchorsChanged`` follows."""
        anchor, frame = await self.runtime.executor.run(
            self.controller.delete_anchor, anchor_id)
        self.post(AnchorsChanged(anchor.symbol, frame))

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
    async def _switch_list(self, name: str, rebuild: bool = False) -> None:
        ctl, ex = self.controller, self.runtime.executor
        if self._stale:  # another process changed bars the universe was warmed on
            rebuild, self._stale = True, False
        try:
            tl, present, missing = await ex.run(ctl.resolve_list, name)
        except AvwapError as e:
            await self._fail(str(e))
            return
        if rebuild:
            await self._rebuild(tl, present, missing)
            return
        if ctl.groups and not ctl.covers(present):
            new = tuple(s for s in present if s not in ctl.symbols)
            feed = ctl.source.companion(new)  # a replay: warm them while this list stays live
            if feed is not None and not await self._grow(feed, tl.name, len(present)):
                return
        if ctl.groups and ctl.covers(present):  # every symbol warm: a view change
            self.guests = ()
            frame = await ex.run(ctl.set_view, tl, present, missing)
            self._ready(tl.name, present, missing, frame)
            return
        await self._rebuild(tl, present, missing)

    async def _grow(self, feed: Feed, list_name: str, n: int) -> bool:
        """Warm ``feed``'s symbols into the universe in chunks between live minutes
        (False when that failed: the current list stays as it was)."""
        ctl, ex = self.controller, self.runtime.executor
        self.post(WarmProgress(0.0, list_name, n, background=True))
        try:
            await asyncio.to_thread(feed.load)  # DuckDB, off the MLX thread
            grow = await ex.run(ctl.grow, feed.symbols, feed.panel)
            while (fraction := await ex.run(grow.advance)) is not None:
                self.post(WarmProgress(fraction, list_name, n, background=True))
        except WarmUpCancelled:
            return False
        except AvwapError as e:
            await self._fail(str(e))
            return False
        return True

    async def _rebuild(self, tl: TickerList, present: tuple[str, ...],
                       missing: tuple[str, ...]) -> None:
        """A new universe on ``tl`` (the first list, or a live feed's new list)."""
        ctl, ex = self.controller, self.runtime.executor
        resume_at = None
        if ctl.frame is not None:
            resume_at = ctl.frame.snapshot.ts + np.timedelta64(1, "m")
        await self._stop_feed()
        self.runtime.gc.thaw()  # the previous session's objects become collectable again
        self.post(WarmProgress(0.0, tl.name, len(present)))

        loop = asyncio.get_running_loop()
        check = [tl.name not in self._checked]

        def progress(f: float) -> None:
            self.post(WarmProgress(f, tl.name, len(present)))
            if check[0]:  # the history is loaded: check it beside the warm-up
                check[0] = False
                loop.call_soon_threadsafe(self._check_once, tl.name, present)

        try:
            frame = await ex.run(
                lambda: ctl.prepare(tl, present, missing, resume_at=resume_at, progress=progress))
        except WarmUpCancelled:
            return
        except AvwapError as e:
            await self._fail(str(e))
            return
        self.runtime.gc.settle()
        self.guests, self._finished = (), False
        self._base = self._mark = None  # a new universe: a new baseline
        self._ready(tl.name, present, missing, frame)

    def _ready(self, name: str, present: tuple[str, ...], missing: tuple[str, ...],
               frame: Frame | None) -> None:
        self.list_name = name
        self.post(SessionReady(name, (*present, *self.guests), tuple(missing), frame))
        if self.live and (self._feed is None or self._feed.done()) and not self._finished:
            self._start_feed()
        self._prime_rest()  # a model's symbols not primed by the warm-up (a no-op without)
        self._check_once(name, present)
        if self._base is None or self._base_of != self.controller.symbols:
            # a view change keeps the universe and its baseline: no scan of the history
            self._watch(self._baseline())

    # -- other processes' writes to the shared cache -------------------------------
    def _watch(self, coro: Coroutine[Any, Any, None]) -> None:
        """A child of the session (like ``_spawn``) that ``settled`` waits for."""
        if self._tasks is None:
            coro.close()
            return
        self._watching = self._start(coro)
        self._side.add(self._watching)
        self._watching.add_done_callback(self._side.discard)

    async def _baseline(self) -> None:
        """What the warmed history looks like now (to tell others' changes later)."""
        ctl = self.controller
        # Through the minute shown, or the warm-up's last before any (a replay that has
        # not started): read at the switch, not beside the first live minute.
        until = ctl.frame.snapshot.ts if ctl.frame is not None else ctl.universe.last_ts
        if until is None or not ctl.symbols:
            return
        symbols = ctl.symbols
        mark = ctl.cache.mark()
        try:
            base = await self._read_once(ctl.cache.fingerprint, symbols, until)
        except AvwapError:
            return  # the cache is busy: the next others' write looks again
        self._mark, self._base, self._base_of = mark, (until, base), symbols

    def _watch_others(self) -> None:
        """After each minute: did another process write to the cache? (8 bytes read)"""
        if self._base is None and (self._watching is None or self._watching.done()):
            self._watch(self._baseline())  # no minute had been stepped at the switch
            return
        if self._mark is not None and self.controller.cache.changed_elsewhere(self._mark):
            self._mark = None  # looked at once per change
            self._watch(self._others_wrote())

    async def _others_wrote(self) -> None:
        """Another process wrote: anchors are read again at the next minute; bars it
        changed under symbols on screen warm the list again from the cache now, under
        other warm symbols at the next list switch (``_stale``)."""
        ctl, ex = self.controller, self.runtime.executor
        mark = ctl.cache.mark()
        await ex.run(ctl.anchors.invalidate)
        if self._base is None:
            self._mark = mark
            return
        until, base = self._base
        try:
            now = await self._read_once(ctl.cache.fingerprint, ctl.symbols, until)
        except AvwapError:
            self._mark = mark
            return
        changed = {s for s in ctl.symbols if now.get(s) != base.get(s)}
        self._mark = mark
        if changed & set(ctl.view):
            self._rewarm_soon()
        elif changed:
            self._stale = True

    async def _read_once(self, read: Callable[..., _T], *args: Any) -> _T:
        """``read(*args)`` on a worker thread (a scan of the whole history), then the
        cache's connection let go.

        Why: DuckDB keeps the blocks a scan read in its buffer pool while the
        connection is open (up to the cache's memory limit), and the console's own
        scans are rare: the fingerprint of the warmed history and the data check
        read all of it once (~90 MB of blocks for the ``all`` list), then nothing
        for minutes. Closing the connection hands those blocks back; the next
        read opens it again (a few ms).
        """
        cache = self.controller.cache

        def once() -> _T:
            try:
                return read(*args)
            finally:
                cache.release()  # a no-op while another thread is inside a read

        return await asyncio.to_thread(once)

    # -- found symbols ---------------------------------------------------------
    def show_symbol(self, symbol: str) -> None:
        """Show ``symbol`` (found by ``/``) as a guest row of the current list, warming
        it first when it is new; a ``SessionReady`` with the new rows follows."""
        if self._switch is not None and not self._switch.done():
            self._switch.cancel()
        if self._tasks is not None:
            self._switch = self._start(self._show(symbol))

    async def _show(self, symbol: str) -> None:
        ctl, ex = self.controller, self.runtime.executor
        tl = ctl.universe.ticker_list
        if tl is None:
            return
        present = tuple(s for s in tl.symbols if s in ctl.view)
        if symbol not in ctl.symbols:
            feed = ctl.source.companion((symbol,))
            if feed is None:
                await self._fail(f"{symbol} is not in the list {tl.name!r}: add it to the "
                                 "list to stream it live")
                return
            if not await self._grow(feed, tl.name, len(ctl.view) + 1):
                return
        if symbol not in present and symbol not in self.guests:
            self.guests = (*self.guests, symbol)
        missing = ctl.universe.missing
        frame = await ex.run(ctl.set_view, tl, present, missing, self.guests)
        self._ready(tl.name, present, missing, frame)

    def _check_once(self, name: str, symbols: tuple[str, ...]) -> None:
        """``_check_data`` once per list and run (the data do not change).

        A new universe starts it as soon as its history is loaded, beside the
        warm-up (it reads DuckDB on a worker thread, ~1 s of CPU for the ``all``
        list), so it is over before the live minutes start rather than slowing
        the first of them; a view change starts it at once.
        """
        if name not in self._checked:
            self._checked.add(name)
            self._spawn(self._check_data(tuple(symbols)))

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
            # Through the loaded panel's last minute: a live session under way is not
            # missing the minutes still to come.
            note = await self._read_once(loaded_data_note, self.controller.cache, symbols,
                                         start, end, feed.panel.ts[-1])
        except AvwapError:
            return  # the check is advice; a failing read must not disturb the session
        if note:
            self.post(FeedNotice("warning", note, "data_quality"))

    async def _fail(self, error: str) -> None:
        """Say why a switch failed (and keep the previous list running)."""
        no_data = self.controller.engine is None and await asyncio.to_thread(self._cache_is_empty)
        self.post(SessionFailed(error, no_data))
        if self.controller.feed is not None and self.live and not self._finished and (
                self._feed is None or self._feed.done()):
            self._start_feed()  # keep the previous list running

    def _cache_is_empty(self) -> bool:
        """True when the cache has no bar at all (a worker thread: DuckDB, no MLX; asked
        only while nothing is loaded, so the cache is not in use on the MLX thread)."""
        ctl = self.controller
        if ctl.source.fills_cache:
            return False  # a live feed fills it itself
        try:
            return ctl.cache.bar_count() == 0
        except Exception:
            return False

    async def _stop_feed(self) -> None:
        task, self._feed = self._feed, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])  # its end, without taking our own cancel for it

    def _start_feed(self) -> None:
        if self._tasks is not None:
            self._feed = self._start(self._run_feed())

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
                self._watch_others()
                if frame.hits:
                    self.post(AlertsFired(frame.hits))
        except AvwapError as e:
            self.post(FeedNotice("error", str(e)))
        except Exception as e:  # a bug must not freeze the console silently: say it
            self.post(FeedNotice("error", f"the live minutes stopped: {type(e).__name__}: {e}"))
        self._finished = feed.state is FeedState.DONE
        self.post(FeedStateChanged(feed.state))

