"""A backtest from the screen: export the bars, run the child, copy the saved run back.

Why a child process: the backtester is one call (not cut into chunks) that
takes seconds to minutes; on the MLX thread it would hold up the live
session's minutes. The child is ``avwap backtest --request JSON --progress-json``
(as ``avwap train --progress-json`` is the Training screen's); its lines are
``storage.events`` (``backtest_step``, then ``backtest_done``), posted as
``JobProgress``. The console keeps its DuckDB cache open, so the child reads
an exported copy of the bars (``Cache.export``) and saves its run there; the
finished run is then copied into the console's cache (``storage.results``,
one transaction) and its new id posted as ``events.Saved``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from storage import events
from storage.cache import Cache
from storage.errors import CacheError
from storage.results import load_run, save_run
from storage.types import RunTables
from tui.messages import JobProgress
from tui.runtime.jobs import ProcessJob
from tui.screens.backtests.request import BacktestRequest
from tui.screens.training.request import cli_argv

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


def export_bars(cache: Cache, db: Path, req: BacktestRequest) -> int:
    start = dt.date.fromisoformat(str(req.start)) - dt.timedelta(days=1)
    end = dt.date.fromisoformat(str(req.end)) + dt.timedelta(days=2)
    return cache.export(db, list(req.symbols), start, end)


def copy_run(src: Path, run_id: int, cache: Cache) -> int:
    """Copy run ``run_id`` of the file ``src`` into ``cache``; its new id there."""
    with Cache(src, read_only=True) as c:
        saved = load_run(c, run_id)
    run = {k: v for k, v in saved.run.items() if k not in ("run_id", "created_at")}
    return save_run(cache, RunTables(run=run, stats=saved.stats, trades=saved.trades,
                                    equity=saved.equity))


class BacktestJob(ProcessJob):
    """See the module docstring; ``saved_id`` is the run's id in the console's cache."""

    def __init__(self, cache: Cache, req: BacktestRequest) -> None:
        super().__init__(NAME, [])
        self.cache, self.req = cache, req
        self.tmp = Path(tempfile.mkdtemp(prefix="avwap-backtest-"))
        self.saved_id: int | None = None
        self.child_id: int | None = None

    def _line(self, raw: bytes) -> None:
        if raw.lstrip().startswith(b"{"):
            try:
                ev = events.decode(raw)
            except events.EventError as e:
                self.log.append(str(e))  # one clear line; the job's error if the child fails
                return
            if isinstance(ev, events.BacktestDone):
                self.child_id = ev.run_id
        super()._line(raw)

    async def run(self, runtime: Runtime) -> None:
        db = self.tmp / "bars.duckdb"
        try:
            self.post(JobProgress(self.name, events.BacktestStep("exporting bars", 0.0).to_dict()))
            self.req = await asyncio.to_thread(resolve_dates, self.cache, self.req)
            await asyncio.to_thread(export_bars, self.cache, db, self.req)
            if self.cancel_requested:
                return
            self.argv = [*cli_argv(), "--db", str(db), "backtest", "--request",
                         self.req.to_json(), "--progress-json"]
            await super().run(runtime)
            if self.cancel_requested or self.child_id is None:
                return
            self.saved_id = await asyncio.to_thread(copy_run, db, self.child_id, self.cache)
            self.post(JobProgress(self.name, events.Saved(self.saved_id).to_dict()))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
