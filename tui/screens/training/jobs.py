"""The Training screen's jobs: the CLI in a child process, on the console's own cache.

The cache is shared by every process (``storage.sharing``): the child
``avwap precheck --json`` / ``avwap train --progress-json`` opens the same file
the console writes its live minutes to, and reads the bars it needs while the
console goes on (its minute writes wait their turn, nothing is copied). The
child runs the same code as the CLI; its JSON lines arrive as ``JobProgress``
messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage import events
from storage.cache import Cache
from storage.errors import CacheError
from tui.runtime.jobs import ProcessJob

if TYPE_CHECKING:
    from tui.runtime.runtime import Runtime


def check_bars(cache: Cache, symbols: Sequence[str]) -> None:
    """A clear line before a child starts on symbols the cache has no bars for."""
    if not cache.latest(symbols):
        raise CacheError("the cache has no bars for these symbols; seed it with "
                         "`avwap demo-data`, `avwap sync` or `avwap import-csv`")


class RunOnCache(ProcessJob):
    """The child ``argv_for(cache path)`` (see the module docstring)."""

    def __init__(self, name: str, cache: Cache, symbols: Sequence[str], days: int,
                 argv_for: Callable[[str], list[str]], *, end: dt.date | None = None,
                 output: Path | None = None, nice: int = 0) -> None:
        super().__init__(name, [], output=output, nice=nice)
        self.cache, self.symbols, self.days, self.end = cache, symbols, days, end
        self.argv_for = argv_for

    async def run(self, runtime: Runtime) -> None:
        await asyncio.to_thread(check_bars, self.cache, self.symbols)
        if self.cancel_requested:
            return
        self.argv = self.argv_for(str(self.cache.path))
        await super().run(runtime)


class PrecheckOnCache(RunOnCache):
    """``avwap precheck --json`` on the cache: its one JSON object is the report."""

    def event_of(self, obj: dict[str, Any], line: str) -> events.Event:
        return events.Report(obj)
