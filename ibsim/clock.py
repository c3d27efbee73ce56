"""A hand-driven clock for tests: time moves only when the test says so.

Why not ``VirtualClock`` (``storage.feeds.pacing``), whose ``sleep`` jumps
ahead at once: a recovery test must catch the feed *while* a request waits in
the pacing queue (then kill the gateway under it), so the wait has to last
until the test ends it. ``ManualClock.sleep`` parks the caller until
``advance()`` moves the time past its deadline; ``wait_sleeping()`` lets the
test wait (event-driven) until someone is parked.
"""

from __future__ import annotations

import asyncio


class ManualClock:
    """``clock()`` is ``t``; ``await clock.sleep(s)`` returns once ``advance`` passes ``t + s``."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._parked = asyncio.Event()

    def __call__(self) -> float:
        return self.t

    @property
    def sleeping(self) -> int:
        """How many callers are parked now."""
        return sum(1 for _, f in self._sleepers if not f.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.t + seconds, fut)
        self._sleepers.append(entry)
        self._parked.set()
        try:
            await fut
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        """Move time on and wake every sleeper whose deadline has passed."""
        self.t += seconds
        for due, fut in list(self._sleepers):
            if due <= self.t and not fut.done():
                fut.set_result(None)

    async def wait_sleeping(self, timeout: float = 10.0, n: int = 1) -> None:
        """Wait until at least ``n`` callers are parked (the timeout is only a guard)."""
        while self.sleeping < n:
            self._parked.clear()
            await asyncio.wait_for(self._parked.wait(), timeout)
