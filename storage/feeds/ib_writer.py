"""The IB feed's cache writer: closed bars to DuckDB off the event loop, in batches.

Why a task of its own: a DuckDB upsert takes milliseconds and the event loop
also carries the screen and the socket, so rows are collected and written by
one task through ``asyncio.to_thread``. ``close()`` is bounded: stopping the
feed never waits on a stuck write.

The cache is shared with other processes (``storage.sharing``): while another
one writes (`avwap sync` from cron), a minute cannot be written at once. The
writer never waits long on a fresh minute's account: it tries for
``FIRST_WAIT_S``; if the cache is busy (or a write fails) the rows are kept,
in order, and written later — with the next minute, or by a retry
``RETRY_AFTER_S`` later whose wait queues behind the other writer (which then
lets the file go after its current chunk) — so no minute is lost (upserts make a later
rewrite of the same minutes harmless). ``timings`` records each attempt
as (milliseconds, rows kept for later, first try) for the benchmark.

A minute handed to the engine is written a moment later (``kick(delay)``), not
at once: the upsert's Python part holds the interpreter lock, and written while
the engine steps that minute it slowed the step by about a fifth
(``bench/ib_feed.py``). ``flush()`` writes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import numpy as np

from storage.cache import Cache, CacheBusy, bars_table

Row = tuple[str, int, float, float, float, float, float]

#: A fresh minute's write waits this long for the cache, then is kept for later.
FIRST_WAIT_S = 0.02
#: Kept rows are tried again this often, each try queueing this long.
RETRY_AFTER_S = 1.0
RETRY_WAIT_S = 5.0


class CacheWriter:
    """Collects ``Row``s (symbol, epoch minute, o, h, l, c, v) and upserts them."""

    def __init__(self, cache: Cache | None, on_error: Callable[[str], None]) -> None:
        self.cache = cache
        self._on_error = on_error
        self._rows: list[Row] = []
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._kept = False  # rows are waiting from an earlier try
        self._said = False
        self._retry: asyncio.TimerHandle | None = None
        self._retry_due = False
        self.timings: list[tuple[float, bool, bool]] = []
        self._tried = asyncio.Event()
        self._later: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._task is None and self.cache is not None:
            self._task = asyncio.ensure_future(self._loop())

    def add(self, rows: list[Row], now: bool) -> None:
        """Queue ``rows``; ``now`` False lets them wait for the next write (or a flush)."""
        if self.cache is None or not rows:
            return
        self._rows.extend(rows)
        self._idle.clear()
        if now:
            self._dirty.set()

    def kick(self, delay: float = 0.0) -> None:
        """Write what is queued now, or in ``delay`` seconds (one pending timer)."""
        if not self._rows:
            return
        if delay <= 0:
            self._dirty.set()
        elif self._later is None:
            self._later = asyncio.get_running_loop().call_later(delay, self._due)

    def _due(self) -> None:
        self._later = None
        self._dirty.set()

    async def flush(self) -> None:
        """Wait until every queued row is in the cache."""
        if self._task is None or self._task.done():
            return
        if self._rows:
            self._dirty.set()
        await self._idle.wait()

    async def next_attempt(self) -> tuple[float, bool, bool]:
        """The next write attempt's (milliseconds, rows kept for later, a fresh minute's
        first try rather than a retry of kept rows) (tests, benchmark)."""
        self._tried.clear()
        await self._tried.wait()
        return self.timings[-1]

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (at most ``timeout`` seconds), then end the task."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        if self._rows:
            self._on_error(f"cache write not finished at stop: {len(self._rows)} bars dropped")
        if self._retry is not None:
            self._retry.cancel()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait({self._task}, timeout=1.0)

    async def _loop(self) -> None:
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
                # A fresh minute never waits long; the retry timer's try queues
                # behind the other writer (which then lets go after its chunk).
                wait = RETRY_WAIT_S if self._retry_due else FIRST_WAIT_S
                self._retry_due = False
                t0 = time.perf_counter()
                try:
                    await asyncio.to_thread(self.cache.write_bars, table, source="ib", wait=wait)
                except Exception as e:  # keep the rows; the screen shows the problem once
                    self._keep(rows, e)
                else:
                    self._kept = self._said = False
                    if self._retry is not None:
                        self._retry.cancel()
                first = wait == FIRST_WAIT_S
                self.timings.append(((time.perf_counter() - t0) * 1e3, self._kept, first))
                del self.timings[:-4096]
                self._tried.set()
            if not self._rows:
                self._idle.set()

    def _keep(self, rows: list[Row], error: Exception) -> None:
        """Put ``rows`` back before any newer ones and try again in ``RETRY_AFTER_S``."""
        self._rows[:0] = rows
        self._kept = True
        if not isinstance(error, CacheBusy) and not self._said:
            self._on_error(f"cache write failed (kept, retrying): {error}")
            self._said = True
        if self._retry is not None:
            self._retry.cancel()
        self._retry = asyncio.get_running_loop().call_later(RETRY_AFTER_S, self._retry_now)

    def _retry_now(self) -> None:
        self._retry_due = True
        self._dirty.set()
