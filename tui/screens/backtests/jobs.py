"""A backtest from the screen: the child runs on the console's own cache and saves there.

Why a child process: the backtester is one call (not cut into chunks) that
takes seconds to minutes; on the MLX thread it would hold up the live
session's minutes. The child is ``avwap backtest --request JSON --progress-json``
(as ``avwap train --progress-json`` is the Training screen's); its lines are
``storage.events`` (``backtest_step``, then ``backtest_done``), posted as
``JobProgress``. The cache is shared by every process (``storage.sharing``):
the child reads the bars from the file the console writes its minutes to and
saves its run there (one transaction); its id is posted as ``events.Saved``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from storage import events
from storage.cache import Cache
from storage.errors import CacheError
from tui.messages import JobProgress
from tui.runtime.jobs import ProcessJob, cli_argv
from tui.screens.backtests.request import BacktestRequest

if TYPE_CHECKING:
    from tui.runtime.runtime import Runtime

NAME = "backtest"


def resolve_dates(cache: Cache, req: BacktestRequest) -> BacktestRequest:
    """Fill empty dates with the cache's range for the symbols (as ``avwap backtest`` does)."""
    if req.start and req.end:
        return req
    cov = [c for c in cache.coverage(list(req.symbols)) if c.first is not None and c.last]
    if not cov:
        raise CacheError(f"the cache has no bars for {', '.join(req.symbols[:5])}"
                         f"{' …' if len(req.symbols) > 5 else ''}")
    first = min(c.first for c in cov if c.first is not None).astype(dt.datetime).date()
    last = max(c.last for c in cov if c.last is not None).astype(dt.datetime).date()
    return replace(req, start=req.start or first.isoformat(), end=req.end or last.isoformat())


class BacktestJob(ProcessJob):
    """See the module docstring; ``saved_id`` is the run's id in the console's cache."""

    def __init__(self, cache: Cache, req: BacktestRequest) -> None:
        super().__init__(NAME, [])
        self.cache, self.req = cache, req
        self.saved_id: int | None = None
        self.child_id: int | None = None

    def event_of(self, obj: dict[str, Any], line: str) -> events.Event:
        ev = super().event_of(obj, line)
        if isinstance(ev, events.BadLine):
            self.log.append(ev.message)  # one clear line; the job's error if the child fails
        elif isinstance(ev, events.BacktestDone):
            self.child_id = ev.run_id
        return ev

    async def run(self, runtime: Runtime) -> None:
        self.req = await asyncio.to_thread(resolve_dates, self.cache, self.req)
        if self.cancel_requested:
            return
        self.argv = [*cli_argv(), "--db", str(self.cache.path), "backtest", "--request",
                     self.req.to_json(), "--progress-json"]
        await super().run(runtime)
        if self.cancel_requested or self.child_id is None:
            return
        self.saved_id = self.child_id
        self.post(JobProgress(self.name, events.Saved(self.saved_id)))
