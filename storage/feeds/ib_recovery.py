"""Recovery: connect, subscribe under IB's pacing, repair holes — one step at a time.

``Supervisor`` runs ``_recover_once`` while anything is needed (a connection,
symbols to (re)subscribe, a hole check after an outage). A round subscribes
every needed symbol through the pacing queue; emission is held until they all
answered or a pacing wait begins (live first). A request's duration is taken
when it is sent, from the symbol's last final bar; at a symbol's first request
of the session it reaches back to the cache's first hole. Faults (``_lost``)
record what is needed and restart the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import numpy as np

from storage.feeds import ib_client as ibc
from storage.feeds import ib_gaps as gaps
from storage.feeds.base import FeedState
from storage.feeds.ib_stream import StreamMixin
from storage.feeds.pacing import Ticket
from storage.types import as_dt64

#: Attempts of one request that IB refuses with 162 before the feed gives up on the symbol.
PACING_TRIES = 3
#: Unexpected (non-network) recovery failures in a row that end the feed.
MAX_UNEXPECTED = 5
#: A pacing wait longer than this releases a round's hold: live symbols stream meanwhile.
HOLD_RELEASE_WAIT_S = 1.0
#: Symbols given up after repeated 162s are retried on their own timer: first after
#: this many seconds, then doubling each time they are given up again, at most the max.
GAVE_UP_RETRY_S = 60.0
GAVE_UP_RETRY_MAX_S = 600.0
_DEAD = ("unknown", "no permission")


class RecoveryMixin(StreamMixin):
    """The supervisor's step and everything it calls."""

    def _has_work(self) -> bool:
        if self._stopping or self.terminal is not None:
            return False
        if self._ib_down and not self._need_connect:
            return False  # IB's own outage (1100): wait for 1101/1102
        return (self._need_connect or bool(self._need) or self._check_due
                or self._check_from is not None)

    def _wanted(self) -> list[str]:
        return [s for s in self._symbols if self.status.get(s) not in _DEAD]

    async def _recover_once(self) -> None:
        """One supervisor step: connect if needed, subscribe what is needed, repair holes."""
        if self._need_connect or not self.client.is_connected():
            await self._connect_once()
        if self._need:
            await self._round()
        if (self._check_due or self._check_from is not None) and not self._need:
            await self._repair()
        self._unexpected = 0
        if not self._stopping and self.client.is_connected() and self.state in (
            FeedState.DOWN, FeedState.CONNECTING, FeedState.BACKFILLING
        ) and self._streams_or_none_can():
            self._set_state(FeedState.LIVE)
        elif self.state in (FeedState.DOWN, FeedState.CONNECTING) and self.client.is_connected():
            self._set_state(FeedState.BACKFILLING)  # connected, nothing streams yet

    def _streams_or_none_can(self) -> bool:
        """LIVE is shown only with a stream (or when no symbol could ever stream:
        unknown, no permission or beyond the market-data lines)."""
        return bool(self._subs) or not any(
            s not in self._not_live and self.status.get(s) not in _DEAD for s in self._symbols
        )

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
        # Minutes waiting for some symbols are held until the reconnect's answers fill
        # them, rather than handed over partial when the close grace runs out.
        self._asm.hold = True
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
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
        """A recovery retries the given-up symbols now (their own timer is dropped)."""
        if self._gave_up_timer is not None:
            self._gave_up_timer.cancel()
            self._gave_up_timer = None
        self.gave_up_retry_at = None
        self._need.update(self._gave_up)
        self._retrying.update(self._gave_up)
        self._gave_up.clear()

    def _schedule_gave_up_retry(self) -> float:
        """The given-up symbols' own retry (not only at the next fault): after
        ``GAVE_UP_RETRY_S``, doubling while they keep being given up; the wall
        clock of the attempt is returned (and kept in ``gave_up_retry_at``)."""
        if self._gave_up_timer is None or self._gave_up_timer.done():
            delay = min(GAVE_UP_RETRY_S * 2 ** self._gave_up_rounds, GAVE_UP_RETRY_MAX_S)
            self.gave_up_retry_at = time.time() + delay
            self._gave_up_timer = self._spawn(self._gave_up_retry(delay))
        assert self.gave_up_retry_at is not None
        return self.gave_up_retry_at

    async def _gave_up_retry(self, delay: float) -> None:
        await self.pacer.sleep(delay)
        self._gave_up_timer = None
        self._gave_up_rounds += 1
        if self.client.is_connected():
            # The wait was long: read the gateway's clock again before the requests
            # are built (a failure here is the connection's: recovery handles it).
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await self._sync_time()
        self._retry_gave_up()
        self._work.set()
        self.supervisor.kick()

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
                queued = set(self.pacer.waiting()) | self._backing_off
                in_flight = [
                    s for s, t in self._sym_tasks.items() if not t.done() and s not in queued
                ]
                if not released and not in_flight and (self._pacing_blocked or not running):
                    released = True
                    self._release_hold(live=True)
                if not running and not self._need:
                    self._check_due = True  # every backfill is checked for holes
                    if not self._gave_up:
                        self._gave_up_rounds = 0
                    break
                self._work.clear()
                waiter = asyncio.ensure_future(self._work.wait())
                try:
                    await asyncio.wait([*running, waiter], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
        except BaseException:
            for sym, t in self._sym_tasks.items():
                if not t.done():
                    t.cancel()
                    self._need.add(sym)  # not subscribed: the next step does it
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
        if not live and self._need_connect:
            return  # the round died with the connection: the next round fills these minutes
        self._asm.hold = False
        if live and self._subs and not self._stopping and self.client.is_connected() and (
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
            since = await self._read(self._cached_since, unseen)
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
        """After every backfill round and every outage: per symbol, find the first hole
        in the cache since its last check (at first, since the backfill window's start)
        up to the last minute it has closed, and fetch from there again.

        The upper end is the symbol's own closed minute (the one before its forming
        bar), never a minute a stale clock projected, so a minute that closed while
        an answer was on its way is checked too. A hole IB cannot fill (a minute
        without trades) is fetched once: the check then moves past it.
        """
        since, self._check_from = self._check_from, None
        self._check_due = False
        if self.cache is None:
            return
        await self.flush()
        lo = gaps.window_start(self._server_minute(), self.config.backfill_days)
        ranges: dict[str, tuple[int, int]] = {}
        for s in self._symbols:
            if s not in self._contracts or self.status.get(s) not in (
                    "live", "not live", "backfilled"):
                continue
            hi = self._closed_through(s)
            if hi is None:
                continue
            a = self._verified.get(s, lo)
            ranges[s] = (a if since is None else min(a, since), hi)
        holes = await self._read(gaps.first_holes, self.cache, ranges, self._hours())
        if holes:
            self._event("info", f"repairing holes: {', '.join(sorted(holes))}",
                        kind="repair", symbols=tuple(sorted(holes)))
            tasks = [self._spawn(self._subscribe(s, live=False, since=h - 1))
                     for s, h in holes.items()]
            await asyncio.gather(*tasks)
        for s, (_, hi) in ranges.items():
            self._verified[s] = max(self._verified.get(s, hi + 1), hi + 1)

    def _closed_through(self, sym: str) -> int | None:
        """The last minute ``sym`` has closed: the one before its forming bar while it
        streams, else its last closed bar (None before any)."""
        forming = self._asm.forming.get(sym)
        if forming is not None:
            return forming[0] - 1
        return self._last_closed.get(sym)

    def _since(self, sym: str, since: int | None) -> int | None:
        return since if since is not None else self._last_closed.get(sym)

    def _request(self, sym: str, live: bool, since: int | None) -> tuple[Any, ...]:
        """The request as sent now: its duration reaches back to the last final bar."""
        duration = gaps.duration_since(
            self._since(sym, since), self.server_now(), self.config.backfill_days
        )
        end = None if live else self._server_minute()
        return (sym, live, duration, "" if end is None else gaps.end_string(end), end)

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
                    at = time.time() + backoff
                    self._event("warning", f"{sym}: IB refused a request (162, pacing "
                                f"violation); retrying at {_clock(at)} ({backoff:.0f} s backoff)",
                                sym, kind="pacing", until=at)
                    # Live first: the round does not hold the others' minutes for it.
                    self._backing_off.add(sym)
                    self._pacing_blocked = True
                    self._work.set()
                    try:
                        await self.pacer.sleep(backoff)
                    finally:
                        self._backing_off.discard(sym)
                    backoff *= 2
                    await self._sync_time()  # "now" moved on during the backoff
            if code == ibc.PACING:
                self.status[sym] = "gave up"
                self._gave_up.add(sym)
                at = self._schedule_gave_up_retry()
                self._event("warning", f"gave up on {sym} after {PACING_TRIES} pacing violations "
                            f"(IB 162); next attempt at {_clock(at)}", sym, kind="gave_up",
                            until=at, symbols=tuple(sorted(self._gave_up)))
                return
            if code is not None and not bars:
                self._refused(sym, code, bars if live else None)
                return
            if bars is not None:
                self._take(sym, bars, live, req[4])
        except (ConnectionError, OSError, TimeoutError):
            self._need.add(sym)  # the connection went: the reconnect subscribes it again
            raise
        except Exception as e:  # one symbol's failure must not stop the others
            self.status[sym] = "error"
            self._gave_up.add(sym)
            at = self._schedule_gave_up_retry()
            self._tell("error", sym, "failed", f"{sym}: subscription failed "
                       f"({type(e).__name__}: {e}); next attempt at {_clock(at)}")
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

    def _on_pacing_wait(self, seconds: float, why: str) -> None:
        until = time.time() + seconds
        self.pacing = (why, until)
        if seconds > HOLD_RELEASE_WAIT_S:
            self._pacing_blocked = True
            self._work.set()
        self._pacing_notice("warning" if seconds >= 5 else "info")
        self._notify()

    def _pacing_notice(self, level: str) -> None:
        """The pacing wait as it is now: how many wait, until when (a time of day, true
        for the whole wait; the status bar counts down to ``until``), and whether
        anything streams meanwhile."""
        if self.pacing is None:
            return
        why, until = self.pacing
        waiting = tuple(str(s) for s in self.pacer.waiting())
        n = len(self._subs)
        meanwhile = "the subscribed ones keep streaming" if n else "nothing streams until then"
        self._paced_streams = n
        self._event(
            level, f"IB pacing: {len(waiting)} symbol(s) wait until {_clock(until)} for IB's "
            f"limit ({why}); {meanwhile}", kind="pacing", until=until, symbols=waiting,
        )

    def _pacing_done(self) -> None:
        if self.pacing is not None and not self.pacer.waiting():
            self.pacing = None
            self._event("info", "IB pacing: every waiting request is sent", kind="pacing_done")


def _clock(wall: float) -> str:
    """A wall-clock time as the user's local HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(wall))


