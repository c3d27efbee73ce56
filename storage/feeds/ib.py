"""The Interactive Brokers feed: backfill the cache, then stream closed minutes as BarBatches.

Live minutes come from ``reqHistoricalData(keepUpToDate=True)`` on 1-minute
bars (why not 5-second real-time bars: see ``docs/ib.md``). One request per
symbol both backfills (today and ``backfill_days`` prior sessions, or only the
gap since the cache's last final bar) and then streams; ``formatDate=2`` makes
every stamp UTC. The forming bar is resent as it changes and replaces itself
(``MinuteAssembler``); each closed minute goes to the engine as one BarBatch
and to the DuckDB cache (upserts, so a resent bar never duplicates).

A trader runs IB Gateway all day, so the feed is built around trouble:

- one ``Supervisor`` owns recovery (connect, re-subscribe, repair); a fault
  records what is needed and restarts it, so the feed ends LIVE,
  DOWN-and-retrying (``next_attempt_at``) or at a stated ``terminal`` error;
- a request's duration is computed when it is sent (after its pacing wait)
  from the cache's last final bar of that symbol, start-up reaches back to
  holes an earlier run left, and after every outage a per-symbol check finds
  and repairs any hole since the outage began (``ib_gaps``);
- live first: symbols already subscribed stream while others wait on pacing
  (the wait, its reason and ETA are ``pacing`` events; ``prioritize`` puts the
  visible symbols first); a symbol whose history lands after its minutes were
  shown is reported ``late`` so the engine can re-warm it;
- a watchdog (which survives its own errors) re-subscribes silent streams and
  treats a gateway that does not answer as a dropped connection;
- forming minutes are never written or emitted as final; symbols beyond the
  market-data lines are marked ``not live``;
- pacing refusals (162) are retried with backoff, then "gave up on SYM" and a
  retry at the next recovery; ``stop()`` is bounded in every state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from storage import calendar
from storage.cache import Cache
from storage.feeds import ib_client as ibc
from storage.feeds import ib_gaps as gaps
from storage.feeds.base import FeedEvent, FeedState
from storage.feeds.ib_config import IBConfig
from storage.feeds.ib_supervisor import Supervisor
from storage.feeds.ib_writer import CacheWriter, Row
from storage.feeds.minutes import MinuteAssembler, Ohlcv
from storage.feeds.pacing import HistoricalPacer, Ticket
from storage.types import BarBatch, as_dt64

#: Attempts of one request that IB refuses with 162 before the feed gives up on the symbol.
PACING_TRIES = 3
#: Unexpected (non-network) recovery failures in a row that end the feed.
MAX_UNEXPECTED = 5
#: A pacing wait longer than this releases a round's hold: live symbols stream meanwhile.
HOLD_RELEASE_WAIT_S = 1.0
_DEAD = ("unknown", "no permission")


class IBFeed:
    """A live ``BarBatch`` source over TWS / IB Gateway (read-only)."""

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
        self.client.on_error(self._on_error)
        self.client.on_disconnect(self._on_disconnect)
        self.clock, self._sleep = clock, sleep
        self.pacer = pacer or HistoricalPacer(clock=clock, sleep=sleep)
        self.pacer.on_wait = self._on_pacing_wait
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
        self._sym_tasks: dict[str, asyncio.Task[None]] = {}
        self._grace: asyncio.TimerHandle | None = None
        self._forming_soon = False
        self._stopping = self._stopped = False
        # What recovery still has to do (the supervisor runs while any is set).
        self._need_connect = False
        self._need: set[str] = set()
        self._check_from: int | None = None  # minute an outage began: check holes since
        self._gave_up: set[str] = set()
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
        self.supervisor = Supervisor(
            self._recover_once, pending=self._has_work, on_error=self._on_step_error,
            on_step_end=self._notify, sleep=sleep,
            initial_s=config.reconnect_initial_s, max_s=config.reconnect_max_s,
        )

    # ----------------------------------------------------------------- API
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

    async def start(self) -> None:
        """Connect, backfill and subscribe; returns once minutes stream (or the feed stopped).

        "Live first": when IB's pacing makes some symbols wait, ``start`` returns
        as soon as the others stream; the waiting ones follow (``late`` events).
        """
        self._writer.start()
        self._spawn(self.supervisor.run())
        self._spawn(self._watchdog_loop())
        self._need_connect = True
        self._need.update(self._symbols)
        self.supervisor.kick()
        await self._until(
            lambda: self.state in (FeedState.LIVE, FeedState.STALLED, FeedState.DONE)
            or self.terminal is not None
        )

    async def settled(self) -> None:
        """Wait until every wanted symbol is subscribed (or given up) and recovery is idle."""
        await self._until(
            lambda: self._stopping or self.terminal is not None or (
                not self._has_work() and not self.supervisor.busy
                and not any(not t.done() for t in self._sym_tasks.values())
                and self.state in (FeedState.LIVE, FeedState.STALLED)
            )
        )

    async def stop(self) -> None:
        """Stop streaming and disconnect; bounded in every state (nothing here can hang)."""
        if self._stopped:
            return
        self._stopping = True
        self.pacer.close()
        me = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not me]
        for t in tasks:
            t.cancel()
        for sym in list(self._subs):
            self._unsubscribe(sym)
        self.client.disconnect()
        if self._grace is not None:
            self._grace.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        await self._writer.close(timeout=5.0)
        self._queue.put_nowait(None)
        self._stopped = True
        self._set_state(FeedState.DONE)

    async def set_symbols(self, symbols: list[str]) -> None:
        """Unsubscribe symbols no longer wanted; backfill + subscribe the new ones.

        Returns when the new symbols stream, wait on pacing, or the feed is down.
        """
        new = tuple(dict.fromkeys(symbols))
        removed = [s for s in self._symbols if s not in new]
        added = [s for s in new if s not in self._symbols]
        for s in removed:
            self._unsubscribe(s)
            self.status.pop(s, None)
            self._need.discard(s)
            task = self._sym_tasks.pop(s, None)
            if task is not None:
                task.cancel()
        self._symbols = new
        self._asm.set_symbols(new)
        self._event("info", f"ticker list switched: {len(removed)} removed, {len(added)} added")
        if not added:
            return
        self._need.update(added)
        self._work.set()
        self.supervisor.kick()
        await self._until(
            lambda: self._stopping or self._pacing_blocked
            or self.state in (FeedState.DOWN, FeedState.CONNECTING)
            or all(s not in self._need and (s not in self._sym_tasks or self._sym_tasks[s].done())
                   for s in added)
        )

    def prioritize(self, symbols: Sequence[str]) -> None:
        """Backfill ``symbols`` (the ones on screen) first, in this order."""
        self._priority = {s: float(i) for i, s in enumerate(symbols)}
        prio: dict[Hashable, float] = {s: p for s, p in self._priority.items()}
        self.pacer.set_priority(prio)

    async def batches(self) -> AsyncIterator[BarBatch]:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    async def flush(self) -> None:
        """Wait until every closed bar received so far is in the cache."""
        await self._writer.flush()

    def poke_watchdog(self) -> None:
        """Run the stall check now instead of at the next period."""
        self._poke.set()

    def server_now(self) -> float:
        return self.clock() + self._offset

    # ------------------------------------------------------------ recovery
    def _has_work(self) -> bool:
        if self._stopping or self.terminal is not None:
            return False
        if self._ib_down and not self._need_connect:
            return False  # IB's own outage (1100): wait for 1101/1102
        return self._need_connect or bool(self._need) or self._check_from is not None

    def _wanted(self) -> list[str]:
        return [s for s in self._symbols if self.status.get(s) not in _DEAD]

    async def _recover_once(self) -> None:
        """One supervisor step: connect if needed, subscribe what is needed, repair holes."""
        if self._need_connect or not self.client.is_connected():
            await self._connect_once()
        if self._need:
            await self._round()
        if self._check_from is not None and not self._need:
            await self._repair()
        self._unexpected = 0
        if not self._stopping and self.client.is_connected() and self.state in (
            FeedState.DOWN, FeedState.CONNECTING, FeedState.BACKFILLING
        ):
            self._set_state(FeedState.LIVE)

    async def _connect_once(self) -> None:
        cfg = self.config
        self._need_connect = True
        self._set_state(FeedState.CONNECTING)
        self._connecting = True
        try:
            await self.client.connect(cfg.host, cfg.port, self.client_id, cfg.connect_timeout_s)
        finally:
            self._connecting = False
        self._need_connect = False
        self._ib_down = False
        self._in_use = 0
        self.next_attempt_at = None
        was_down = not self._first_round
        await self._sync_time()
        self._drop_streams()
        self._need.update(self._wanted())
        self._retry_gave_up()
        self._event("info", f"connected to {cfg.host}:{cfg.port} "
                    f"(clientId {self.client_id}, {self.client.name}, read-only)")
        if was_down:
            self._event("warning", f"reconnected to {cfg.host}:{cfg.port}; re-subscribing",
                        kind="restored")

    def _on_step_error(self, exc: BaseException, delay: float) -> bool:
        """Retry after ``delay`` (True) or stop for good (False, ``terminal`` says why)."""
        if self._stopping:
            return False
        cfg = self.config
        if not self.client.is_connected():
            self._need_connect = True
        elif isinstance(exc, TimeoutError):  # connected but not answering: a frozen gateway
            self._lost("the gateway does not answer")
        first = self.state not in (FeedState.DOWN, FeedState.CONNECTING) or (
            self.next_attempt_at is None
        )
        if isinstance(exc, ibc.ClientIdInUse):
            self._in_use += 1
            msg = (f"clientId {self.client_id} is in use: another console or API client "
                   "may be connected with that client id")
            if self._in_use >= 2:  # not a lingering session of ours: take the next id
                self.client_id += 1
                self._in_use = 0
                msg += f"; switching to clientId {self.client_id}"
            first = True
        elif isinstance(exc, (OSError, TimeoutError, ConnectionError)):
            why = str(exc) or type(exc).__name__
            msg = f"cannot reach {cfg.host}:{cfg.port}: {why}"
        else:
            self._unexpected += 1
            if self._unexpected >= MAX_UNEXPECTED:
                self.terminal = f"the IB feed stopped: {type(exc).__name__}: {exc}"
                self.next_attempt_at = None
                self._set_state(FeedState.DOWN)
                self._event("error", self.terminal, kind="terminal")
                return False
            msg = f"recovery failed ({type(exc).__name__}: {exc})"
            first = True
        self.next_attempt_at = time.time() + delay
        if self._need_connect:
            self._set_state(FeedState.DOWN)
        self._event("warning" if first else "info", f"{msg}; next attempt in {delay:.1f} s",
                    kind="retry", until=self.next_attempt_at)
        return True

    def _on_disconnect(self) -> None:
        if self._stopping or self._connecting:
            return  # a failed login raises in _connect_once; stop() disconnects on purpose
        self._lost("connection to the gateway lost")

    def _lost(self, why: str) -> None:
        """The connection is gone (or useless): drop streams and reconnect from scratch."""
        if self._need_connect and self.state in (FeedState.DOWN, FeedState.CONNECTING):
            return  # already recovering from this outage
        self._outage()
        self._need_connect = True
        self._drop_streams()
        self._need.update(self._wanted())
        self._set_state(FeedState.DOWN)
        self._event("error", f"{why}; reconnecting", kind="down")
        if self.client.is_connected():
            self.client.disconnect()
        self.supervisor.interrupt()

    def _outage(self) -> None:
        """Remember where an outage began: the hole check after recovery starts there."""
        upto = self._asm.emitted_upto
        if upto is not None:
            self._check_from = upto if self._check_from is None else min(self._check_from, upto)
        self._retry_gave_up()

    def _retry_gave_up(self) -> None:
        self._need.update(self._gave_up)
        self._gave_up.clear()

    def _drop_streams(self) -> None:
        self._subs.clear()
        self._handlers.clear()
        self._asm.live.clear()
        self._asm.forming.clear()

    async def _sync_time(self) -> None:
        t = await self.client.server_time(self.config.request_timeout_s)
        self._offset = t - self.clock()

    def _server_minute(self) -> int:
        return int(self.server_now() // 60)

    # -------------------------------------------------------------- rounds
    async def _round(self) -> None:
        """Subscribe every needed symbol; the hold on emission lasts until they all
        answered or a pacing wait begins (live first)."""
        released = False
        self._pacing_blocked = False
        if self.state not in (FeedState.LIVE, FeedState.STALLED):
            self._set_state(FeedState.BACKFILLING)
        self._asm.hold = True
        try:
            await self._sync_time()
            if self._asm.emitted_upto is None:
                # The first round backfills the cache (the engine warms from it);
                # batches start with the minute forming now.
                self._asm.emitted_upto = self._server_minute() - 1
                self.warm_end = np.datetime64(self._asm.emitted_upto + 1, "m")
            self._first_round = False
            while not self._stopping:
                self._need &= set(self._symbols)
                todo = [s for s in self._symbols if s in self._need and self._idle(s)]
                self._need.difference_update(todo)
                if todo:
                    await self._launch(todo)
                self._raise_failed()
                running = [t for t in self._sym_tasks.values() if not t.done()]
                queued = set(self.pacer.waiting())
                in_flight = [
                    s for s, t in self._sym_tasks.items() if not t.done() and s not in queued
                ]
                if not released and not in_flight and (self._pacing_blocked or not running):
                    released = True
                    self._release_hold(live=True)
                if not running and not self._need:
                    break
                self._work.clear()
                waiter = asyncio.ensure_future(self._work.wait())
                try:
                    await asyncio.wait([*running, waiter], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
        except BaseException:
            for t in self._sym_tasks.values():
                t.cancel()
            raise
        finally:
            if not released:
                self._release_hold(live=False)

    def _raise_failed(self) -> None:
        """A subscription that failed on the connection fails the round (the supervisor
        then reconnects or retries); its symbol is already back in ``_need``."""
        for sym, t in list(self._sym_tasks.items()):
            if t.done() and not t.cancelled() and t.exception() is not None:
                del self._sym_tasks[sym]
                raise t.exception()  # type: ignore[misc]

    def _idle(self, sym: str) -> bool:
        t = self._sym_tasks.get(sym)
        return t is None or t.done()

    def _release_hold(self, live: bool) -> None:
        self._asm.hold = False
        streams = bool(self._subs) or not any(not t.done() for t in self._sym_tasks.values())
        if live and streams and not self._stopping and self.client.is_connected() and (
            self.state is not FeedState.STALLED
        ):
            self._set_state(FeedState.LIVE)
        self._emit_ready()

    async def _launch(self, todo: list[str]) -> None:
        """Qualify ``todo``, then start one paced subscription task per symbol."""
        fresh = [s for s in todo if s not in self._contracts]
        try:
            found = await asyncio.gather(*(self.client.qualify(s) for s in fresh))
        except BaseException:
            self._need.update(todo)  # not started: still needed
            raise
        for sym, contract in zip(fresh, found, strict=True):
            if contract is None:
                self.status[sym] = "unknown"
                self._tell("error", sym, "unknown",
                           f"{sym}: unknown symbol (IB error 200); skipped")
            else:
                self._contracts[sym] = contract
        ok = [s for s in todo if s in self._contracts and s in self._symbols]
        qualified = [s for s in self._symbols if s in self._contracts]
        lines = self.config.market_data_lines
        live = set(qualified[:lines])
        over = [s for s in ok if s not in live]
        self._not_live = {s for s in qualified if s not in live}
        news = [s for s in over if ("not live", s) not in self._told]
        if news:
            self._told.update(("not live", s) for s in news)
            self._event("warning", f"{len(news)} symbols exceed the {lines} market-data lines: "
                        "backfilled, not live (no minutes streamed)", kind="not_live",
                        symbols=tuple(news))
        unseen = [s for s in ok if s not in self._looked_up]
        if unseen and self.cache is not None:
            # First time this session: reach back to the cache's last bar or its first hole.
            since = await asyncio.to_thread(self._cached_since, unseen)
            self._looked_up.update(unseen)
            for s, m in since.items():
                self._last_closed.setdefault(s, m)
        ok.sort(key=lambda s: self._priority.get(s, float("inf")))
        for s in ok:
            self.status[s] = "waiting"
            self._sym_tasks[s] = self._spawn(self._subscribe(s, live=s in live))

    def _cached_since(self, symbols: list[str]) -> dict[str, int]:
        """Per symbol, the minute a start-up request must reach back to (after it):
        the last cached bar, or just before the first hole in the backfill window."""
        assert self.cache is not None
        latest = {s: int(as_dt64(t).astype(np.int64)) for s, t in
                  self.cache.latest(symbols).items()}
        now = self._server_minute()
        lo = gaps.window_start(now, self.config.backfill_days)
        ranges = {s: (lo, min(m, now - 1)) for s, m in latest.items()}
        holes = gaps.first_holes(self.cache, ranges, self._hours())
        return {s: (holes[s] - 1 if s in holes else m) for s, m in latest.items()}

    async def _repair(self) -> None:
        """After an outage: per symbol, find holes since it began and fetch them again."""
        since, self._check_from = self._check_from, None
        if since is None or self.cache is None:
            return
        await self.flush()
        ranges = {
            s: (since, self._last_closed[s]) for s in self._symbols
            if s in self._last_closed and s in self._contracts and self.status.get(s) in (
                "live", "not live", "backfilled")
        }
        holes = await asyncio.to_thread(gaps.first_holes, self.cache, ranges, self._hours())
        if not holes:
            return
        self._event("info", f"repairing holes since the outage: {', '.join(sorted(holes))}",
                    kind="repair", symbols=tuple(sorted(holes)))
        tasks = [self._spawn(self._subscribe(s, live=False, since=h - 1)) for s, h in holes.items()]
        await asyncio.gather(*tasks)

    def _hours(self) -> str:
        return "regular" if self.config.use_rth else "extended"

    # --------------------------------------------------------- a request
    def _since(self, sym: str, since: int | None) -> int | None:
        return since if since is not None else self._last_closed.get(sym)

    def _request(self, sym: str, live: bool, since: int | None) -> tuple[Any, ...]:
        """The request as sent now: its duration reaches back to the last final bar."""
        duration = gaps.duration_since(
            self._since(sym, since), self.server_now(), self.config.backfill_days
        )
        end = "" if live else gaps.end_string(self._server_minute())
        return (sym, live, duration, end)

    async def _subscribe(self, sym: str, live: bool, since: int | None = None) -> None:
        """Backfill ``sym`` since its last final bar (``since`` overrides) and, if ``live``,
        stream it; pacing refusals are retried with backoff, then given up."""
        try:
            if live:
                self._unsubscribe(sym)
            bars, code = None, None
            backoff = self.pacer.rules.identical_window_s
            for attempt in range(1, PACING_TRIES + 1):
                ticket: Ticket
                async with self.pacer.slot(sym, lambda: self._request(sym, live, since)) as ticket:
                    if ticket.waited_s > 0.5:
                        await self._sync_time()  # the wait was long: "now" moved on
                    req = self._request(sym, live, since)
                    ticket.request = req
                    loop = asyncio.get_running_loop()
                    sent = loop.time()
                    bars = await self.client.history(
                        self._contracts[sym], req[2], keep_up_to_date=live,
                        use_rth=self.config.use_rth, end=req[3],
                        timeout=self.config.history_timeout_s,
                    )
                    code = self._req_errors.pop(getattr(bars, "reqId", -1), None)
                    if not bars and code is None and (
                        loop.time() - sent >= self.config.history_timeout_s * 0.99
                    ):  # the library gives up silently (an empty answer): say it
                        raise TimeoutError(f"{sym}: the historical request timed out")
                    if code == ibc.PACING:
                        self.pacer.refund(ticket)  # refused: IB did not count it, nor do we
                if code != ibc.PACING:
                    break
                if attempt < PACING_TRIES:
                    self._event("warning", f"{sym}: pacing violation reported by IB (162); "
                                f"retrying in {backoff:.0f} s", sym, kind="pacing")
                    await self.pacer.sleep(backoff)
                    backoff *= 2
            if code == ibc.PACING:
                self.status[sym] = "gave up"
                self._gave_up.add(sym)
                self._event("warning", f"gave up on {sym} after {PACING_TRIES} pacing violations "
                            "(IB 162); retrying at the next recovery", sym, kind="gave_up")
                return
            if code is not None and not bars:
                self._refused(sym, code, bars if live else None)
                return
            if bars is not None:
                self._take(sym, bars, live)
        except (ConnectionError, OSError):
            self._need.add(sym)  # the connection went: the reconnect subscribes it again
            raise
        except TimeoutError:
            self._need.add(sym)
            raise
        finally:
            self._work.set()
            self._pacing_done()
            self._notify()

    def _refused(self, sym: str, code: int, bars: Any) -> None:
        if code in ibc.NO_PERMISSION:
            self.status[sym] = "no permission"
            self._tell("error", sym, "no permission",
                       f"{sym}: no market data permission (IB {code})")
        elif code == ibc.UNKNOWN_SYMBOL:
            self.status[sym] = "unknown"
            self._tell("error", sym, "unknown", f"{sym}: unknown symbol (IB error 200); skipped")
        else:
            self.status[sym] = f"error {code}"
        if bars is not None:
            self.client.cancel(bars)

    def _take(self, sym: str, bars: Any, live: bool) -> None:
        """Write an answer's closed bars, hand the unseen ones to the assembler, and stream."""
        server_min = self._server_minute()
        if sym not in self._fed and not self._released_once and self.warm_end is not None:
            self._fed[sym] = int(self.warm_end.astype(np.int64)) - 1  # in the engine's history
        fed = self._fed.get(sym, -1)
        rows: list[Row] = []
        forming: tuple[int, Ohlcv] | None = None
        late: list[int] = []
        for i, b in enumerate(bars):
            m = ibc.utc_minute(b.date)
            bar = (b.open, b.high, b.low, b.close, b.volume)
            if m >= server_min:  # still forming: never final
                if live and i == len(bars) - 1:
                    forming = (m, bar)
                continue
            rows.append((sym, m, *bar))
            if not self._asm.add_closed(sym, m, bar) and m > fed:
                late.append(m)
        if rows:
            self._last_closed[sym] = max(self._last_closed.get(sym, rows[-1][1]), rows[-1][1])
            self._write(rows)
        if late:
            self.late[sym] = min(self.late.get(sym, late[0]), late[0])
            self._event("info", f"{sym}: {len(late)} minutes arrived after they were shown "
                        "(re-warm it from the cache)", sym, kind="late")
        if not live:
            if sym in self._not_live:
                self.status[sym] = "not live"
            elif sym not in self._subs:
                self.status[sym] = "backfilled"
            return
        self.status[sym] = "live"
        self._subs[sym] = bars
        self._asm.live.add(sym)
        if forming is not None:
            self._asm.forming[sym] = forming
        self._last_update[sym] = self.clock()

        def handler(bars_: Any, _new: bool, sym: str = sym) -> None:
            self._on_bar(sym, bars_[-1])

        self._handlers[sym] = handler
        bars.updateEvent += handler
        if not self._asm.hold and self.state is FeedState.BACKFILLING:
            self._set_state(FeedState.LIVE)  # the first stream after a pacing wait
        self._emit_ready()

    def _unsubscribe(self, sym: str) -> None:
        bars = self._subs.pop(sym, None)
        handler = self._handlers.pop(sym, None)
        if bars is not None:
            if handler is not None:
                bars.updateEvent -= handler
            if self.client.is_connected():
                self.client.cancel(bars)
        self._asm.live.discard(sym)
        self._asm.forming.pop(sym, None)

    # -------------------------------------------------------------- stream
    def _on_bar(self, sym: str, b: Any) -> None:
        m = ibc.utc_minute(b.date)
        self._last_update[sym] = self.clock()
        closed = self._asm.update(sym, m, (b.open, b.high, b.low, b.close, b.volume))
        if self.state == FeedState.STALLED:
            self._set_state(FeedState.LIVE)
        if closed is not None:
            cm, bar = closed
            self._last_closed[sym] = max(self._last_closed.get(sym, cm), cm)
            self._write([(sym, cm, *bar)])
            self._emit_ready()
        elif self.emit_forming and not self._forming_soon:
            self._forming_soon = True
            asyncio.get_running_loop().call_soon(self._emit_forming)

    def _emit_ready(self, force_through: int | None = None) -> None:
        for m in self._asm.complete(force_through):
            batch = self._asm.pop_batch(m)
            for s, ok in zip(batch.symbols, batch.valid, strict=True):
                if ok:
                    self._fed[s] = m
            self._queue.put_nowait(batch)
            self._notify()
        self._writer.kick()
        if self._asm.pending and self._grace is None and not self._asm.hold:
            first = min(self._asm.pending)
            self._grace = asyncio.get_running_loop().call_later(
                self.config.close_grace_s, self._grace_expired, first
            )

    def _grace_expired(self, minute: int) -> None:
        self._grace = None
        self._emit_ready(force_through=minute)

    def _emit_forming(self) -> None:
        self._forming_soon = False
        batch = self._asm.forming_batch()
        if batch is not None:
            self._queue.put_nowait(batch)

    def _write(self, rows: list[Row]) -> None:
        # A minute still pending is written when it is handed over (or on flush).
        self._writer.add(rows, now=self._asm.hold or not self._asm.pending)

    # -------------------------------------------------------------- errors
    def _on_error(self, req_id: int, code: int, message: str, symbol: str | None) -> None:
        if ibc.is_informational(code):
            return
        if req_id is not None and req_id > 0:
            self._req_errors[req_id] = code
        if code in ibc.WARNING_CODES:
            self._event("warning", f"IB {code}: {message}", symbol)
        elif code == ibc.CONNECTIVITY_LOST:
            self._outage()
            self._ib_down = True
            self._set_state(FeedState.DOWN)
            self._event("error", "IB lost its connection to the servers (1100); waiting for it",
                        kind="down")
        elif code == ibc.RESTORED_DATA_LOST:
            self._event("warning", "IB connectivity restored (1101, data lost); re-subscribing",
                        kind="restored")
            self._ib_down = False
            self._outage()
            for sym in list(self._subs):
                self._unsubscribe(sym)
            self._need.update(self._wanted())
            self._work.set()
            self.supervisor.kick()
        elif code == ibc.RESTORED_DATA_KEPT:
            self._event("warning", "IB connectivity restored (1102, data kept)", kind="restored")
            self._ib_down = False
            self._outage()
            self.supervisor.kick()
        elif code == ibc.MAX_TICKERS and symbol:
            self._tell("error", symbol, "101", f"{symbol}: no market-data line left (IB 101)")
        elif code not in (ibc.UNKNOWN_SYMBOL, ibc.CLIENT_ID_IN_USE, ibc.PACING,
                          *ibc.NO_PERMISSION):
            self._event("error", f"IB {code}: {message}", symbol)

    def _on_pacing_wait(self, seconds: float, why: str) -> None:
        waiting = tuple(str(s) for s in self.pacer.waiting())
        until = time.time() + seconds
        self.pacing = (why, until)
        if seconds > HOLD_RELEASE_WAIT_S:
            self._pacing_blocked = True
            self._work.set()
        self._event(
            "warning" if seconds >= 5 else "info",
            f"pacing: {len(waiting)} symbol(s) wait {_fmt_s(seconds)} for IB's limit ({why}); "
            "subscribed symbols keep streaming", kind="pacing", until=until, symbols=waiting,
        )
        self._notify()

    def _pacing_done(self) -> None:
        if self.pacing is not None and not self.pacer.waiting():
            self.pacing = None
            self._event("info", "pacing: every waiting request is sent", kind="pacing_done")

    def _tell(self, level: str, sym: str, what: str, message: str) -> None:
        """A per-symbol notice said once per feed (not again at every recovery)."""
        if (what, sym) in self._told:
            return
        self._told.add((what, sym))
        self._event(level, message, sym)

    # ------------------------------------------------------------ watchdog
    async def _watchdog_loop(self) -> None:
        period = max(0.5, min(5.0, self.config.stall_after_s / 3))
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), period)
            self._poke.clear()
            try:
                await self.check_stalls()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the watchdog must outlive its own failures
                self._event("warning", f"stall check failed ({type(e).__name__}: {e}); "
                            "checking again", kind="watchdog")

    async def check_stalls(self) -> list[str]:
        """Re-subscribe streams silent for ``stall_after_s`` while the market is open;
        when all are silent and the gateway does not answer, reconnect."""
        if self.state not in (FeedState.LIVE, FeedState.STALLED) or not self._market_open():
            return []
        now = self.clock()
        live = sorted(s for s in self._asm.live if self._idle(s))
        stale = [s for s in live if now - self._last_update.get(s, now) > self.config.stall_after_s]
        if not stale:
            return []
        if len(stale) == len(live):
            self._set_state(FeedState.STALLED)
            self._event("warning", "no bar updates from IB: stream stalled; checking the gateway")
            try:
                await self._sync_time()
            except (TimeoutError, ConnectionError, OSError):
                self._lost("the gateway does not answer (frozen?)")
                return stale
        else:
            self._event("warning", f"{len(stale)} streams stalled ({', '.join(stale[:5])}…); "
                        "re-subscribing")
        self._outage()
        for s in stale:
            self._unsubscribe(s)
            self._last_update[s] = now
        self._need.update(stale)
        self._work.set()
        self.supervisor.kick()
        return stale

    def _market_open(self) -> bool:
        m = np.array([self._server_minute()], "datetime64[m]")
        g = calendar.describe_minutes(m)
        mos, length = int(g.minute_of_session[0]), int(g.session_minutes[0])
        if self.config.use_rth:
            return 0 <= mos < length
        return -330 <= mos < length + 240

    # ------------------------------------------------------------- helpers
    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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


def _fmt_s(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
