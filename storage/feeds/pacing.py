"""A queue that paces IB historical-data requests so the gateway never refuses them.

IB cancels a historical request (error 162, "pacing violation") when a client
makes more than 60 in ten minutes, six or more for one contract within two
seconds, an identical one within 15 seconds, or has more than 50 open. The
feed sends every historical request through ``HistoricalPacer.slot()``, which
waits (and says so through ``on_wait``) instead of letting IB refuse.

Why a dispatcher rather than a lock: requests carry a priority (the symbols on
screen go first, ``set_priority``), a request that one rule blocks (same
contract, identical) must not hold back the others, and a request's content
may depend on *when* it is sent: ``request`` can be a callable, evaluated at
the moment the request is admitted, so the feed computes a backfill's
duration after the pacing wait, never before it. A request IB refused anyway
is ``refund``-ed: it does not count against the budget.

The clock and the sleep are injected, so the rules are tested on a
``VirtualClock`` in microseconds instead of real ten-minute windows.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PacingRules:
    """IB's historical-data pacing rules (the simulator enforces the same ones)."""

    max_per_window: int = 60
    window_s: float = 600.0
    max_same_contract: int = 5  # six or more within two seconds is a violation
    same_contract_window_s: float = 2.0
    identical_window_s: float = 15.0
    max_open: int = 50


class VirtualClock:
    """A monotonic clock whose ``sleep`` advances time instead of waiting."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass(eq=False)
class Ticket:
    """An admitted request: when it was sent and what it was (``request`` evaluated)."""

    t: float
    contract: Hashable
    request: Hashable
    waited_s: float = 0.0


@dataclass(eq=False)
class _Waiter:
    priority: float
    seq: int
    contract: Hashable
    request: Hashable | Callable[[], Hashable]
    since: float
    fut: asyncio.Future[Ticket] = field(repr=False)

    def key(self) -> Hashable:
        r = self.request
        return r() if callable(r) else r


class HistoricalPacer:
    """Admits historical requests by priority (then arrival) as fast as IB's rules allow."""

    def __init__(
        self,
        rules: PacingRules | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_wait: Callable[[float, str], None] | None = None,
        margin_s: float = 0.05,
    ) -> None:
        self.rules = rules or PacingRules()
        self.clock, self.sleep, self.on_wait = clock, sleep, on_wait
        self.margin_s = margin_s
        self._sent: collections.deque[Ticket] = collections.deque()
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._open = 0
        self._kick = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._priority: dict[Hashable, float] = {}
        #: (reason, clock time the wait ends) while requests wait on a rule, else None.
        self.blocked: tuple[str, float] | None = None
        self.waits = 0
        self.waited_s = 0.0

    # ------------------------------------------------------------------ state
    @property
    def open(self) -> int:
        return self._open

    @property
    def counted(self) -> int:
        """Requests that count against the budget now (sent in the current window)."""
        self._delay(None, None)  # drops the ones that left the window
        return len(self._sent)

    def waiting(self) -> list[Hashable]:
        """Contracts with a request in the queue, in the order they would go."""
        live = [w for w in self._waiting if not w.fut.done()]
        return [w.contract for w in sorted(live, key=lambda w: (w.priority, w.seq))]

    def set_priority(self, priorities: Mapping[Hashable, float]) -> None:
        """Lower goes first; applies to queued requests and to later ones for these contracts."""
        self._priority = dict(priorities)
        for w in self._waiting:
            w.priority = self._priority.get(w.contract, w.priority)
        self._kick.set()

    # ------------------------------------------------------------- requests
    async def acquire(
        self,
        contract: Hashable,
        request: Hashable | Callable[[], Hashable],
        priority: float | None = None,
    ) -> Ticket:
        """Wait for a request's turn; a callable ``request`` is evaluated on admission."""
        loop = asyncio.get_running_loop()
        prio = self._priority.get(contract, math.inf) if priority is None else priority
        w = _Waiter(prio, next(self._seq), contract, request, self.clock(), loop.create_future())
        self._waiting.append(w)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        self._kick.set()
        try:
            return await w.fut
        except asyncio.CancelledError:
            if w.fut.done() and not w.fut.cancelled():  # admitted as we were cancelled
                self.release()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiting.remove(w)
            self._kick.set()

    def release(self) -> None:
        self._open = max(0, self._open - 1)
        self._kick.set()

    def refund(self, ticket: Ticket) -> None:
        """IB refused this request (162): it never counted on IB's side, so not here either."""
        with contextlib.suppress(ValueError):
            self._sent.remove(ticket)
        self._kick.set()

    @asynccontextmanager
    async def slot(
        self,
        contract: Hashable,
        request: Hashable | Callable[[], Hashable],
        priority: float | None = None,
    ) -> AsyncIterator[Ticket]:
        """Hold one paced request open for the duration of the ``async with``."""
        ticket = await self.acquire(contract, request, priority)
        try:
            yield ticket
        finally:
            self.release()

    def close(self) -> None:
        """Stop dispatching; queued requests are cancelled."""
        if self._runner is not None:
            self._runner.cancel()
        for w in self._waiting:
            if not w.fut.done():
                w.fut.cancel()
        self.blocked = None

    # ----------------------------------------------------------- dispatcher
    def _delay(self, contract: Hashable, request: Hashable) -> tuple[float, str]:
        """Seconds until a request for (contract, request) is allowed, and why."""
        r, now = self.rules, self.clock()
        while self._sent and now - self._sent[0].t >= r.window_s:
            self._sent.popleft()
        delay, why = 0.0, ""
        if len(self._sent) >= r.max_per_window:
            t = self._sent[len(self._sent) - r.max_per_window].t
            delay, why = t + r.window_s - now, f"{r.max_per_window} requests per {r.window_s:g} s"
        same = [
            k.t for k in self._sent
            if k.contract == contract and now - k.t < r.same_contract_window_s
        ]
        if len(same) >= r.max_same_contract:
            d = same[len(same) - r.max_same_contract] + r.same_contract_window_s - now
            if d > delay:
                delay, why = d, f"{r.max_same_contract + 1} requests for one contract in 2 s"
        ident = [k.t for k in self._sent if k.request == request and
                 now - k.t < r.identical_window_s]
        if ident:
            d = max(ident) + r.identical_window_s - now
            if d > delay:
                delay, why = d, "identical request within 15 s"
        return delay, why

    async def _run(self) -> None:
        while True:
            self._kick.clear()
            queue = sorted(
                (w for w in self._waiting if not w.fut.done()), key=lambda w: (w.priority, w.seq)
            )
            if not queue:
                self.blocked = None
                return
            if self._open >= self.rules.max_open:
                self._note(0.0, f"{self.rules.max_open} requests open")
                await self._kick.wait()
                continue
            soonest, reason = math.inf, ""
            for w in queue:
                key = w.key()
                delay, why = self._delay(w.contract, key)
                if delay <= 0:
                    now = self.clock()
                    ticket = Ticket(now, w.contract, key, now - w.since)
                    self._sent.append(ticket)
                    self._open += 1
                    w.fut.set_result(ticket)
                    break
                if delay < soonest:
                    soonest, reason = delay, why
            else:
                self._note(soonest + self.margin_s, reason)
                await self._pause(soonest + self.margin_s)
                continue
            if not any(not w.fut.done() for w in self._waiting):
                self.blocked = None
            await asyncio.sleep(0)  # let the admitted request go out before the next decision

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the queue changes first (a new, urgent or refunded request)."""
        t0 = self.clock()
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        kicked = asyncio.ensure_future(self._kick.wait())
        try:
            await asyncio.wait({sleeper, kicked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            kicked.cancel()
        self.waited_s += max(0.0, self.clock() - t0)

    def _note(self, seconds: float, why: str) -> None:
        until = self.clock() + seconds
        prev = self.blocked
        self.blocked = (why, until)
        if prev is not None and prev[0] == why and abs(prev[1] - until) < 1.0:
            return  # the same wait, re-evaluated: say it once
        self.waits += 1
        if self.on_wait is not None:
            self.on_wait(seconds, why)


