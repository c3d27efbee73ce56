"""The IB feed's state and plumbing: what every part of ``IBFeed`` shares.

Why a base class: ``IBFeed`` grew four concerns — the shared state and its
notices (here), turning answers and stream updates into closed minutes
(``ib_stream``), recovery (``ib_recovery``) and the public API with the
watchdog (``ib``). Each layer subclasses the one below, so every module stays
readable on its own and type-checks against the state declared here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from storage.cache import Cache
from storage.feeds import ib_client as ibc
from storage.feeds.base import FeedEvent, FeedState
from storage.feeds.ib_config import IBConfig
from storage.feeds.ib_farms import FarmStatus
from storage.feeds.ib_supervisor import Supervisor
from storage.feeds.ib_writer import CacheWriter
from storage.feeds.minutes import MinuteAssembler
from storage.feeds.pacing import HistoricalPacer
from storage.types import BarBatch

T = TypeVar("T")


class FeedCore:
    """State shared by the IB feed's layers, the gateway's clock, waiting and notices."""

    supervisor: Supervisor  # built by IBFeed (it runs the recovery layer's step)

    def __init__(
        self,
        config: IBConfig,
        symbols: Sequence[str],
        cache: Cache | None = None,
        *,
        api: str | ModuleType = "",
        pacer: HistoricalPacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        emit_forming: bool = False,
    ) -> None:
        self.config, self.cache = config, cache
        self.client = ibc.IBClient(api or config.api)
        self.clock, self._sleep = clock, sleep
        self.pacer = pacer or HistoricalPacer(clock=clock, sleep=sleep)
        self.emit_forming = emit_forming
        self.state = FeedState.DOWN
        self._symbols = tuple(dict.fromkeys(symbols))
        self._asm = MinuteAssembler(self._symbols)
        self.status: dict[str, str] = {}  # live | waiting | not live | unknown | gave up | …
        self.events: collections.deque[FeedEvent] = collections.deque(maxlen=500)
        self.warm_end: np.datetime64 | None = None  # first minute the feed emits live
        self.client_id = config.client_id
        self.next_attempt_at: float | None = None  # wall clock of the next reconnect attempt
        self.pacing: tuple[str, float] | None = None  # (reason, wall-clock ETA) while waiting
        self.terminal: str | None = None  # why the feed gave up for good
        self.late: dict[str, int] = {}  # symbol -> first minute its history came in late
        self.farms = FarmStatus()  # IB's broken data farms and since when
        self._contracts: dict[str, Any] = {}
        self._subs: dict[str, Any] = {}
        self._handlers: dict[str, Callable[[Any, bool], None]] = {}
        self._last_closed: dict[str, int] = {}
        self._last_update: dict[str, float] = {}
        self._req_errors: dict[int, int] = {}
        self._fed: dict[str, int] = {}  # symbol -> last minute the engine has for it
        self._priority: dict[str, float] = {}
        self._told: set[tuple[str, str]] = set()
        self._offset = 0.0  # gateway time - self.clock()
        self._queue: asyncio.Queue[BarBatch | None] = asyncio.Queue()
        self._callbacks: list[Callable[[FeedEvent], None]] = []
        self._state_callbacks: list[Callable[[FeedState], None]] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._writer = CacheWriter(cache, lambda msg: self._event("error", msg))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reads: set[threading.Event] = set()  # cache reads running on worker threads
        self._sym_tasks: dict[str, asyncio.Task[None]] = {}
        self._grace: asyncio.TimerHandle | None = None
        self._forming_soon = False
        self._started = self._stopping = self._stopped = False
        # What recovery still has to do (the supervisor runs while any is set).
        self._need_connect = False
        self._need: set[str] = set()
        self._check_from: int | None = None  # minute an outage began: check holes since
        self._check_due = False  # a backfill round ended: check every symbol for holes
        self._verified: dict[str, int] = {}  # symbol -> first minute not yet checked for holes
        self._gave_up: set[str] = set()
        self._retrying: set[str] = set()  # given-up symbols being tried again
        self._backing_off: set[str] = set()  # symbols waiting out a 162 backoff
        self._paced_streams = 0  # streams the last pacing notice counted
        #: Wall clock of the next attempt at the symbols given up after repeated 162s.
        self.gave_up_retry_at: float | None = None
        self._gave_up_timer: asyncio.Task[None] | None = None
        self._gave_up_rounds = 0  # retries of given-up symbols in a row (the backoff's step)
        self._looked_up: set[str] = set()  # symbols whose cache coverage was read
        self._not_live: set[str] = set()  # beyond the market-data lines: backfilled, not live
        self._connecting = False
        self._ib_down = False
        self._in_use = 0
        self._unexpected = 0
        self._first_round = True
        self._released_once = False
        self._pacing_blocked = False
        self._work = asyncio.Event()
        self._poke = asyncio.Event()
        self._wire()

    def _wire(self) -> None:
        """Connect the layers once the state exists (``IBFeed`` does; the core alone has none)."""

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def next_minute(self) -> np.datetime64 | None:
        """The minute after the last one queued for ``batches()`` (None before ``start``)."""
        upto = self._asm.emitted_upto
        return None if upto is None else np.datetime64(upto + 1, "m")

    @property
    def streaming(self) -> tuple[str, ...]:
        """Symbols with a live stream now."""
        return tuple(s for s in self._symbols if s in self._subs)

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        self._callbacks.append(callback)

    def on_state(self, callback: Callable[[FeedState], None]) -> None:
        self._state_callbacks.append(callback)

    async def batches(self) -> AsyncIterator[BarBatch]:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    async def flush(self) -> None:
        """Wait until every closed bar received so far is in the cache."""
        await self._writer.flush()

    def server_now(self) -> float:
        return self.clock() + self._offset

    async def _sync_time(self) -> None:
        t = await self.client.server_time(self.config.request_timeout_s)
        self._offset = t - self.clock()

    def _server_minute(self) -> int:
        return int(self.server_now() // 60)

    def _hours(self) -> str:
        return "regular" if self.config.use_rth else "extended"

    async def wait_until(self, pred: Callable[[], bool]) -> None:
        """Wait until ``pred()``, re-checked at every state change, notice, answer and
        recovery step (event-driven: for tests, benchmarks and callers that need a
        condition on the feed without polling)."""
        await self._until(pred)

    async def _until(self, pred: Callable[[], bool]) -> None:
        """Wait (event-driven) until ``pred()``; re-checked at every state change and step."""
        if pred():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            await fut
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def _notify(self) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred():
                fut.set_result(None)

    def _set_state(self, state: FeedState) -> None:
        if state is FeedState.LIVE:
            self._released_once = True  # start() returns: the history is read from now on
        if state != self.state:
            self.state = state
            for cb in self._state_callbacks:
                with contextlib.suppress(Exception):
                    cb(state)
        self._notify()

    def _event(
        self, level: str, message: str, symbol: str | None = None, *, kind: str = "",
        until: float | None = None, symbols: tuple[str, ...] = (),
    ) -> None:
        ev = FeedEvent(level, message, symbol, kind=kind, until=until, symbols=symbols)
        self.events.append(ev)
        for cb in self._callbacks:
            with contextlib.suppress(Exception):
                cb(ev)
        self._notify()

    def _tell(self, level: str, sym: str, what: str, message: str) -> None:
        """A per-symbol notice said once per feed (not again at every recovery)."""
        if (what, sym) in self._told:
            return
        self._told.add((what, sym))
        self._event(level, message, sym)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """A cache read on a worker thread. A cancelled caller leaves the thread
        running, so ``stop()`` waits for it (``_reads_done``) before the caller may
        close the cache under it."""
        done = threading.Event()
        self._reads.add(done)

        def run() -> T:
            try:
                return fn(*args)
            finally:
                done.set()

        try:
            return await asyncio.to_thread(run)
        finally:
            if done.is_set():
                self._reads.discard(done)

    async def _reads_done(self, timeout: float) -> None:
        reads = list(self._reads)
        if reads:
            await asyncio.to_thread(lambda: all(e.wait(timeout) for e in reads))
        self._reads.clear()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
