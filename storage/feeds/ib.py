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
  holes an earlier run left, and after every backfill and outage a per-symbol
  check finds and repairs any hole up to the symbol's last closed minute
  (``ib_gaps``);
- live first: symbols already subscribed stream while others wait on pacing
  (the wait, its reason and ETA are ``pacing`` events; ``prioritize`` puts the
  visible symbols first); a symbol whose history lands after its minutes were
  shown is reported ``late`` so the engine can re-warm it;
- a watchdog (which survives its own errors) re-subscribes silent streams and
  treats a gateway that does not answer as a dropped connection;
- forming minutes are never written or emitted as final; symbols beyond the
  market-data lines are marked ``not live``;
- pacing refusals (162) are retried with backoff, then "gave up on SYM" and a
  retry on the given-up symbols' own timer (or at the next recovery); farm
  notices collapse into one line per change; ``stop()`` is bounded in every state.

The layers: ``ib_core`` (state, notices), ``ib_stream`` (answers and updates
into closed minutes), ``ib_recovery`` (the supervisor's step), this module
(the public API, IB's error codes, the watchdog).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Sequence

import numpy as np

from storage import calendar
from storage.feeds import ib_client as ibc
from storage.feeds import ib_farms as farms
from storage.feeds.base import FeedState
from storage.feeds.ib_recovery import RecoveryMixin
from storage.feeds.ib_supervisor import Supervisor


class IBFeed(RecoveryMixin):
    """A live ``BarBatch`` source over TWS / IB Gateway (read-only)."""

    def _wire(self) -> None:
        """Connect the layers (called last by ``FeedCore.__init__``): IB's callbacks,
        the pacer's waits and the recovery supervisor."""
        self.client.on_error(self._on_error)
        self.client.on_disconnect(self._on_disconnect)
        self.pacer.on_wait = self._on_pacing_wait
        config = self.config
        self.supervisor = Supervisor(
            self._recover_once, pending=self._has_work, on_error=self._on_step_error,
            on_step_end=self._notify, sleep=self._sleep,
            initial_s=config.reconnect_initial_s, max_s=config.reconnect_max_s,
        )

    async def start(self) -> None:
        """Connect, backfill and subscribe; returns once minutes stream (or the feed stopped).

        "Live first": when IB's pacing makes some symbols wait, ``start`` returns
        as soon as the others stream; the waiting ones follow (``late`` events).
        """
        if not self._started:  # a second call only waits
            self._started = True
            self._writer.start()
            self._spawn(self.supervisor.run())
            self._spawn(self._watchdog_loop())
            self._need_connect = True
            self._need.update(self._symbols)
            self.supervisor.kick()
        await self._until(
            lambda: self.state in (FeedState.LIVE, FeedState.STALLED, FeedState.DONE)
            or self.terminal is not None or self._waiting_for_gave_up()
        )

    def _waiting_for_gave_up(self) -> bool:
        """Recovery is idle and nothing streams because every symbol that could was
        given up: ``start`` returns (not LIVE), their own retry timer brings them."""
        return (self.gave_up_retry_at is not None and not self._subs and not self._has_work()
                and not self.supervisor.busy)

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
        await self._reads_done(timeout=2.0)
        await self._writer.close(timeout=5.0)
        self._queue.put_nowait(None)
        self._stopped = True
        self.next_attempt_at = self.pacing = self.gave_up_retry_at = None
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
            self._gave_up.discard(s)
            self._retrying.discard(s)
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

    def poke_watchdog(self) -> None:
        """Run the stall check now instead of at the next period."""
        self._poke.set()

    def _on_error(self, req_id: int, code: int, message: str, symbol: str | None) -> None:
        if code in farms.BROKEN or code in farms.OK:
            # Farm notices come in floods: one notice per change, never one per code.
            line = self.farms.update(code, message)
            if line is not None:  # a farm broke (said) or came back (the line shrinks)
                self._event("warning" if code in farms.BROKEN else "info",
                            line or farms.ALL_OK, kind="farm")
            return
        if ibc.is_informational(code):
            return
        if req_id is not None and req_id > 0:
            self._req_errors[req_id] = code
        if code == ibc.CONNECTIVITY_LOST:
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
