"""The IB feed's cache writer: closed bars to DuckDB off the event loop, in batches.

Why a task of its own: a DuckDB upsert takes milliseconds and the event loop
also carries the screen and the socket, so rows are collected and written by
one task through ``asyncio.to_thread``. A write that fails is reported and
streaming goes on (upserts make a later rewrite of the same minutes harmless).
``close()`` is bounded: stopping the feed never waits on a stuck write.

A minute handed to the engine is written a moment later (``kick(delay)``), not
at once: the upsert's Python part holds the interpreter lock, and written while
the engine steps that minute it slowed the step by about a fifth
(``bench/ib_feed.py``). ``flush()`` writes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import numpy as np

from storage.cache import Cache, bars_table

Row = tuple[str, int, float, float, float, float, float]


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
                try:
                    await asyncio.to_thread(self.cache.write_bars, table, source="ib")
                except Exception as e:  # keep streaming; the screen shows the problem
                    self._on_error(f"cache write failed: {e}")
            if not self._rows:
                self._idle.set()
