"""The Interactive Brokers feed: backfill the cache, then stream closed minutes as BarBatches.

Live minutes come from ``reqHistoricalData(keepUpToDate=True)`` on 1-minute
bars (why not 5-second real-time bars: see ``docs/ib.md``). One request per
symbol both backfills (today and ``backfill_days`` prior sessions, or only the
gap since the cache's last bar) and then streams; ``formatDate=2`` makes every
stamp UTC. The forming bar is resent as it changes and replaces itself
(``MinuteAssembler``); each closed minute goes to the engine as one BarBatch
and to the DuckDB cache (upserts, so a resent bar never duplicates).

A trader runs IB Gateway all day, so the feed expects trouble: requests go
through the pacing queue; a dropped socket reconnects with backoff (a quick
reconnect may meet "clientId already in use"), re-subscribes and fills the gap
(bars of the missed minutes are emitted in order); 1100/1101/1102 and silent
stalls are detected; a symbol IB rejects is reported while the others go on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from storage import calendar
from storage.cache import Cache, bars_table
from storage.feeds import ib_client as ibc
from storage.feeds.base import FeedEvent, FeedState
from storage.feeds.ib_config import IBConfig
from storage.feeds.minutes import MinuteAssembler, Ohlcv
from storage.feeds.pacing import HistoricalPacer
from storage.types import BarBatch, as_dt64

Row = tuple[str, int, float, float, float, float, float]


class IBFeed:
    """A ``BarFeed`` over TWS / IB Gateway (read-only)."""

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
        self.status: dict[str, str] = {}  # symbol -> live | backfilled | unknown | …
        self.events: collections.deque[FeedEvent] = collections.deque(maxlen=500)
        self.warm_end: np.datetime64 | None = None  # first minute the feed emits live
        self.client_id = config.client_id
        self._contracts: dict[str, Any] = {}
        self._subs: dict[str, Any] = {}
        self._handlers: dict[str, Callable[[Any, bool], None]] = {}
        self._last_closed: dict[str, int] = {}
        self._last_update: dict[str, float] = {}
        self._last_error: dict[str, int] = {}
        self._offset = 0.0  # gateway time - self.clock()
        self._queue: asyncio.Queue[BarBatch | None] = asyncio.Queue()
        self._callbacks: list[Callable[[FeedEvent], None]] = []
        self._state_callbacks: list[Callable[[FeedState], None]] = []
        self._rows: list[Row] = []
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._grace: asyncio.TimerHandle | None = None
        self._forming_soon = False
        self._stopping = False
        self._recovering: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- API
    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def next_minute(self) -> np.datetime64 | None:
        """The minute after the last one queued for ``batches()`` (None before ``start``)."""
        upto = self._asm.emitted_upto
        return None if upto is None else np.datetime64(upto + 1, "m")

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        self._callbacks.append(callback)

    def on_state(self, callback: Callable[[FeedState], None]) -> None:
        self._state_callbacks.append(callback)

    async def start(self) -> None:
        """Connect, qualify, backfill and subscribe; returns when the feed is live."""
        self._writer = self._spawn(self._writer_loop())
        await self._connect()
        await self._round(self._symbols)
        self._spawn(self._watchdog_loop())

    async def stop(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            if t is not asyncio.current_task() and t is not self._writer:
                t.cancel()
        for sym in list(self._subs):
            self._unsubscribe(sym)
        self.client.disconnect()
        if self._writer is not None:
            await self.flush()
            self._writer.cancel()
        self._queue.put_nowait(None)
        self._set_state(FeedState.DONE)

    async def set_symbols(self, symbols: list[str]) -> None:
        """Unsubscribe symbols no longer wanted and backfill + subscribe the new ones."""
        new = tuple(dict.fromkeys(symbols))
        removed = [s for s in self._symbols if s not in new]
        added = [s for s in new if s not in self._symbols]
        for s in removed:
            self._unsubscribe(s)
            self.status.pop(s, None)
        self._symbols = new
        self._asm.set_symbols(new)
        self._event("info", f"ticker list switched: {len(removed)} removed, {len(added)} added")
        if added and self.client.is_connected():
            await self._round(added)

    async def batches(self) -> AsyncIterator[BarBatch]:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    async def flush(self) -> None:
        """Wait until every closed bar received so far is in the cache."""
        if self._rows:
            self._dirty.set()
        await self._idle.wait()

    # --------------------------------------------------------- connecting
    async def _connect(self) -> None:
        cfg = self.config
        delay, in_use = cfg.reconnect_initial_s, 0
        self._set_state(FeedState.CONNECTING)
        while not self._stopping:
            try:
                await self.client.connect(cfg.host, cfg.port, self.client_id, cfg.connect_timeout_s)
                await self._sync_time()
                self._event("info", f"connected to {cfg.host}:{cfg.port} "
                            f"(clientId {self.client_id}, {self.client.name}, read-only)")
                return
            except ibc.ClientIdInUse:
                in_use += 1
                self._event("warning", f"clientId {self.client_id} is still in use")
                if in_use >= 2:  # the old session lingers: take the next id
                    self.client_id += 1
                    in_use = 0
                    self._event("warning", f"switching to clientId {self.client_id}")
            except (OSError, TimeoutError, ConnectionError) as e:
                why = str(e) or type(e).__name__
                self._event("warning", f"cannot reach {cfg.host}:{cfg.port}: {why}")
            self._set_state(FeedState.DOWN)
            await self._sleep(delay)
            delay = min(delay * 2, cfg.reconnect_max_s)
            self._set_state(FeedState.CONNECTING)

    async def _sync_time(self) -> None:
        self._offset = await self.client.server_time() - self.clock()

    def server_now(self) -> float:
        return self.clock() + self._offset

    def _on_disconnect(self) -> None:
        if self._stopping:
            return
        self._event("error", "connection to the gateway lost; reconnecting")
        self._drop_streams()
        self._set_state(FeedState.DOWN)
        self._recover(reconnect=True)

    def _recover(self, reconnect: bool) -> None:
        if self._recovering is not None and not self._recovering.done():
            return
        self._recovering = self._spawn(self._recover_run(reconnect))

    async def _recover_run(self, reconnect: bool) -> None:
        if reconnect:
            await self._connect()
        else:
            for sym in list(self._subs):
                self._unsubscribe(sym)
            await self._sync_time()
        await self._round(self._symbols)

    def _drop_streams(self) -> None:
        self._subs.clear()
        self._handlers.clear()
        self._asm.live.clear()
        self._asm.forming.clear()

    # ----------------------------------------------------------- backfill
    async def _round(self, symbols: Sequence[str]) -> None:
        """Qualify, backfill (or fill the gap) and subscribe ``symbols``; emission waits."""
        self._set_state(FeedState.BACKFILLING)
        self._asm.hold = True
        try:
            await self._sync_time()
            if self._asm.emitted_upto is None:
                # The first round backfills the cache (the engine warms from it);
                # batches start with the minute forming now.
                self._asm.emitted_upto = int(self.server_now() // 60) - 1
                self.warm_end = np.datetime64(self._asm.emitted_upto + 1, "m")
            todo = [s for s in symbols if s not in self._contracts]
            found = await asyncio.gather(*(self.client.qualify(s) for s in todo))
            for sym, contract in zip(todo, found, strict=True):
                if contract is None:
                    self.status[sym] = "unknown"
                    self._event("error", f"{sym}: unknown symbol (IB error 200); skipped", sym)
                else:
                    self._contracts[sym] = contract
            ok = [s for s in self._symbols if s in self._contracts]
            lines = self.config.market_data_lines
            live = set(ok[:lines])
            over = [s for s in symbols if s in self._contracts and s not in live]
            if over:
                self._event("warning", f"{len(over)} symbols exceed the {lines} market-data "
                            "lines: backfilled, not streamed")
            if self.cache is not None:
                latest = await asyncio.to_thread(self.cache.latest, list(symbols))
                for s, t in latest.items():
                    m = int(as_dt64(t).astype(np.int64))
                    self._last_closed[s] = max(self._last_closed.get(s, m), m)
            want = [s for s in symbols if s in self._contracts]
            await asyncio.gather(*(self._subscribe(s, live=s in live) for s in want))
        finally:
            self._asm.hold = False
        if not self._stopping:
            self._set_state(FeedState.LIVE)
            self._emit_ready()

    def _duration(self, since: int | None) -> str:
        """The IB duration covering the bars after minute ``since`` (or the full window)."""
        full = f"{self.config.backfill_days + 1} D"
        if since is None:
            return full
        secs = self.server_now() - since * 60
        if secs <= 0:
            return "60 S"
        if secs < 86_400 - 120:
            return f"{(math.ceil(secs / 60) + 1) * 60} S"
        start = np.datetime64(since, "m").astype("datetime64[D]").astype(object)
        end = np.datetime64(int(self.server_now()), "s").astype("datetime64[D]").astype(object)
        n = len(calendar.sessions(start, end))
        return f"{n} D" if n <= self.config.backfill_days + 1 else full

    async def _subscribe(self, sym: str, live: bool) -> None:
        duration = self._duration(self._last_closed.get(sym))
        bars, code = None, None
        for _attempt in range(3):
            self._last_error.pop(sym, None)
            async with self.pacer.slot(sym, (sym, duration, live)):
                bars = await self.client.history(
                    self._contracts[sym], duration, keep_up_to_date=live,
                    use_rth=self.config.use_rth,
                )
            code = self._last_error.get(sym)
            if code != ibc.PACING:
                break
            self._event("warning", f"{sym}: pacing violation reported by IB; retrying", sym)
        if code is not None and not bars:
            self.status[sym] = "no permission" if code in ibc.NO_PERMISSION else f"error {code}"
            if code in ibc.NO_PERMISSION:
                self._event("error", f"{sym}: no market data permission (IB {code})", sym)
            if live and bars is not None:
                self.client.cancel(bars)
            return
        if bars is None:
            return
        server_min = int(self.server_now() // 60)
        rows: list[Row] = []
        forming: tuple[int, Ohlcv] | None = None
        for i, b in enumerate(bars):
            m = ibc.utc_minute(b.date)
            bar = (b.open, b.high, b.low, b.close, b.volume)
            if live and i == len(bars) - 1 and m >= server_min:
                forming = (m, bar)
            else:
                rows.append((sym, m, *bar))
                self._asm.add_closed(sym, m, bar)
        if rows:
            self._last_closed[sym] = max(self._last_closed.get(sym, rows[-1][1]), rows[-1][1])
            self._write(rows)
        self.status[sym] = "live" if live else "backfilled"
        if not live:
            return
        self._subs[sym] = bars
        self._asm.live.add(sym)
        if forming is not None:
            self._asm.forming[sym] = forming
        self._last_update[sym] = self.clock()

        def handler(bars_: Any, _new: bool, sym: str = sym) -> None:
            self._on_bar(sym, bars_[-1])

        self._handlers[sym] = handler
        bars.updateEvent += handler

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
            self._queue.put_nowait(self._asm.pop_batch(m))
        if self._rows:
            self._dirty.set()
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

    # -------------------------------------------------------------- errors
    def _on_error(self, req_id: int, code: int, message: str, symbol: str | None) -> None:
        if ibc.is_informational(code):
            return
        if symbol:
            self._last_error[symbol] = code
        if code in ibc.WARNING_CODES:
            self._event("warning", f"IB {code}: {message}", symbol)
        elif code == ibc.CONNECTIVITY_LOST:
            self._event("error", "IB lost its connection to the servers (1100)")
            self._set_state(FeedState.DOWN)
        elif code in (ibc.RESTORED_DATA_LOST, ibc.RESTORED_DATA_KEPT):
            self._event("info", f"IB connectivity restored ({code}); re-subscribing")
            self._recover(reconnect=False)
        elif code == ibc.MAX_TICKERS and symbol:
            self._event("error", f"{symbol}: no market-data line left (IB 101)", symbol)
        elif code not in (ibc.UNKNOWN_SYMBOL, ibc.CLIENT_ID_IN_USE, *ibc.NO_PERMISSION):
            self._event("error", f"IB {code}: {message}", symbol)

    def _on_pacing_wait(self, seconds: float, why: str) -> None:
        self._event("info", f"pacing: waiting {seconds:.1f} s ({why})")

    # ------------------------------------------------------------ watchdog
    async def _watchdog_loop(self) -> None:
        period = max(0.5, min(5.0, self.config.stall_after_s / 3))
        while not self._stopping:
            await self._sleep(period)
            await self.check_stalls()

    async def check_stalls(self) -> list[str]:
        """Re-subscribe streams silent for ``stall_after_s`` while the market is open."""
        if self.state not in (FeedState.LIVE, FeedState.STALLED) or not self._market_open():
            return []
        now = self.clock()
        live = sorted(self._asm.live)
        stale = [s for s in live if now - self._last_update.get(s, now) > self.config.stall_after_s]
        if not stale:
            return []
        if len(stale) == len(live):
            self._set_state(FeedState.STALLED)
            self._event("warning", "no bar updates from IB: stream stalled; re-subscribing")
        else:
            self._event("warning", f"{len(stale)} streams stalled ({', '.join(stale[:5])}…); "
                        "re-subscribing")
        for s in stale:
            self._unsubscribe(s)
            self._last_update[s] = now
        self._asm.hold = True
        try:
            await self._sync_time()
            await asyncio.gather(*(self._subscribe(s, live=True) for s in stale))
        finally:
            self._asm.hold = False
        self._emit_ready()
        return stale

    def _market_open(self) -> bool:
        m = np.array([int(self.server_now() // 60)], "datetime64[m]")
        g = calendar.describe_minutes(m)
        mos, length = int(g.minute_of_session[0]), int(g.session_minutes[0])
        if self.config.use_rth:
            return 0 <= mos < length
        return -330 <= mos < length + 240

    # --------------------------------------------------------------- cache
    def _write(self, rows: list[Row]) -> None:
        if self.cache is None:
            return
        self._rows.extend(rows)
        self._idle.clear()
        if self._asm.hold or not self._asm.pending:
            self._dirty.set()  # else the write waits until the minute is handed over

    async def _writer_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            rows, self._rows = self._rows, []
            if rows and self.cache is not None:
                sym, ts, o, h, lo, c, v = zip(*rows, strict=True)
                table = bars_table(
                    np.array(sym, dtype=object), np.array(ts, "datetime64[m]"),
                    np.array(o), np.array(h), np.array(lo), np.array(c), np.array(v),
                )
                try:
                    await asyncio.to_thread(self.cache.write_bars, table, source="ib")
                except Exception as e:  # keep streaming; the screen shows the problem
                    self._event("error", f"cache write failed: {e}")
            if not self._rows:
                self._idle.set()

    # ------------------------------------------------------------- helpers
    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _set_state(self, state: FeedState) -> None:
        if state == self.state:
            return
        self.state = state
        for cb in self._state_callbacks:
            cb(state)

    def _event(self, level: str, message: str, symbol: str | None = None) -> None:
        ev = FeedEvent(level, message, symbol)
        self.events.append(ev)
        for cb in self._callbacks:
            with contextlib.suppress(Exception):
                cb(ev)
