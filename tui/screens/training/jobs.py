"""The Training screen's jobs: export the window's bars, then run the CLI in a child process.

Why export: the console keeps its DuckDB cache open (the IB feed writes to it),
and DuckDB then lets no other process open that file. So each precheck or
training first copies the bars it needs (the symbols, the window plus the
sessions the features warm on) into a file of its own (``Cache.export``, a few
hundred milliseconds for the curated list), off the MLX thread, and the child
``avwap precheck --json`` / ``avwap train --progress-json`` reads that copy.
The child runs the same code as the CLI; its JSON lines arrive as
``JobProgress`` messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from storage import calendar
from storage.cache import Cache
from storage.errors import CacheError
from tui.runtime.jobs import ProcessJob

if TYPE_CHECKING:
    from tui.runtime.runtime import Runtime

#: Sessions exported before the window: the builder warms every output on up to 7.
WARM_SESSIONS = 10


def export_window(cache: Cache, path: Path, symbols: Sequence[str], days: int,
                  end: dt.date | None = None) -> int:
    """Copy ``symbols``' bars of the last ``days`` sessions (+ warm-up) to ``path``; rows."""
    latest = cache.latest(symbols)
    if not latest:
        raise CacheError("the cache has no bars for these symbols; seed it with "
                         "`avwap demo-data`, `avwap sync` or `avwap import-csv`")
    if end is None:
        last = max(latest.values())
        end = calendar.exchange_dates(np.array([last]))[0].astype(dt.date)
    dates = calendar.previous_sessions(end, days + WARM_SESSIONS)
    start = dates[0].astype(dt.date) - dt.timedelta(days=1) if len(dates) else None
    return cache.export(path, symbols, start)


class ExportThenRun(ProcessJob):
    """``export_window`` to ``db``, then the child ``argv_for(db)`` (see the module docstring)."""

    def __init__(self, name: str, cache: Cache, db: Path, symbols: Sequence[str], days: int,
                 argv_for: Callable[[str], list[str]], *, end: dt.date | None = None,
                 output: Path | None = None, nice: int = 0) -> None:
        super().__init__(name, [], output=output, nice=nice)
        self.cache, self.db, self.symbols, self.days, self.end = cache, db, symbols, days, end
        self.argv_for = argv_for
        self.rows = 0

    async def run(self, runtime: Runtime) -> None:
        self.rows = await asyncio.to_thread(export_window, self.cache, self.db, self.symbols,
                                            self.days, self.end)
        if self.cancel_requested:
            return
        self.argv = self.argv_for(str(self.db))
        await super().run(runtime)
