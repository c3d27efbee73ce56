"""A queue that paces IB historical-data requests so the gateway never refuses them.

IB cancels a historical request (error 162, "pacing violation") when a client
makes more than 60 in ten minutes, six or more for one contract within two
seconds, an identical one within 15 seconds, or has more than 50 open. The
feed sends every historical request through ``HistoricalPacer.slot()``, which
waits (and says so through ``on_wait``) instead of letting IB refuse.

The clock and the sleep are injected, so the rules are tested on a
``VirtualClock`` in microseconds instead of real ten-minute windows.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass


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


class HistoricalPacer:
    """Admits historical requests in FIFO order as fast as IB's rules allow."""

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
        self._sent: collections.deque[tuple[float, Hashable, Hashable]] = collections.deque()
        self._lock = asyncio.Lock()
        self._open = 0
        self._released = asyncio.Event()
        self.waits = 0
        self.waited_s = 0.0

    @property
    def open(self) -> int:
        return self._open

    def _delay(self, contract: Hashable, request: Hashable) -> tuple[float, str]:
        """Seconds until a request for (contract, request) is allowed, and why."""
        r, now = self.rules, self.clock()
        while self._sent and now - self._sent[0][0] >= r.window_s:
            self._sent.popleft()
        delay, why = 0.0, ""
        if len(self._sent) >= r.max_per_window:
            t = self._sent[len(self._sent) - r.max_per_window][0]
            delay, why = t + r.window_s - now, f"{r.max_per_window} requests per {r.window_s:g} s"
        same = [t for t, c, _ in self._sent if c == contract and now - t < r.same_contract_window_s]
        if len(same) >= r.max_same_contract:
            d = same[len(same) - r.max_same_contract] + r.same_contract_window_s - now
            if d > delay:
                delay, why = d, f"{r.max_same_contract + 1} requests for one contract in 2 s"
        ident = [t for t, _, q in self._sent if q == request and now - t < r.identical_window_s]
        if ident:
            d = max(ident) + r.identical_window_s - now
            if d > delay:
                delay, why = d, "identical request within 15 s"
        return delay, why

    async def acquire(self, contract: Hashable, request: Hashable) -> None:
        async with self._lock:  # FIFO: one request decides at a time
            while True:
                if self._open >= self.rules.max_open:
                    self._note(0.0, f"{self.rules.max_open} requests open")
                    self._released.clear()
                    await self._released.wait()
                    continue
                delay, why = self._delay(contract, request)
                if delay <= 0:
                    break
                self._note(delay + self.margin_s, why)
                self.waited_s += delay + self.margin_s
                await self.sleep(delay + self.margin_s)
            self._sent.append((self.clock(), contract, request))
            self._open += 1

    def release(self) -> None:
        self._open = max(0, self._open - 1)
        self._released.set()

    @asynccontextmanager
    async def slot(self, contract: Hashable, request: Hashable) -> AsyncIterator[None]:
        """Hold one paced request open for the duration of the ``async with``."""
        await self.acquire(contract, request)
        try:
            yield
        finally:
            self.release()

    def _note(self, seconds: float, why: str) -> None:
        self.waits += 1
        if self.on_wait is not None:
            self.on_wait(seconds, why)
