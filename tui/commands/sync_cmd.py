"""``avwap sync``: bring minute bars from the user's PostgreSQL into the cache.

Why a thin command: the work (planning, streaming, validation, commits) is in
``storage.pg_sync`` so the TUI can run the same code in a worker and show the
same events; this module only turns options into a ``Selection``, renders the
events (a rich progress bar on a terminal, one plain line per committed chunk
otherwise) and prints the summary.

Ctrl-C: the first asks the sync to stop after the chunk being written (exit
130, saying what was kept); the second leaves at once with ``os._exit(130)``:
no exception unwinds through DuckDB or the ADBC reader threads (which gave
tracebacks and crashes), and the cache stays consistent because the open
DuckDB transaction is simply never committed (as after ``kill -9``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from storage.cache import Cache
from storage.errors import ConfigError
from storage.pg_config import PgSource
from storage.pg_source import PgSession
from storage.pg_sync import (
    Selection,
    SyncEvent,
    SyncReport,
    explain,
    merge_symbols,
    symbols_of,
    sync_events,
)
from storage.tickers import load_list
from tui.commands.common import config_of, db_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sync",
        help="copy minute bars from PostgreSQL into the cache",
        parents=[common],
        description=(
            "Copy the minute bars the cache lacks from the PostgreSQL table in the [pg] config "
            "section (DSN from $AVWAP_PG_DSN or [pg] dsn). Incremental: each symbol starts at "
            "its newest cached bar minus [pg] overlap_minutes. Bad rows are kept in "
            "rejected_bars with their reason (see `avwap cache rejected`). Ctrl-C stops after "
            "the current chunk and keeps what was committed."
        ),
    )
    p.add_argument(
        "--tickers",
        metavar="LIST",
        help="'all' (default: every symbol in the source), a list name such as 'curated', "
        "or a ticker list file",
    )
    p.add_argument("--symbols", help="comma-separated symbols (added to --tickers)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--days", type=int, metavar="N", help="only bars of the last N days")
    when.add_argument("--since", metavar="DATE", help="only bars from DATE (YYYY-MM-DD, UTC)")
    p.add_argument(
        "--full",
        action="store_true",
        help="ignore what the cache holds and re-read everything selected (repair, backfill)",
    )
    p.add_argument(
        "--chunk-rows", type=int, metavar="N", help="rows per commit (config: chunk_rows)"
    )
    p.add_argument(
        "--overlap-minutes", type=int, metavar="N", help="re-read window (config: overlap_minutes)"
    )
    p.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="most connections to the server at once (config: max_connections, default 2)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="show the server's plan for the read (EXPLAIN) and exit; reads and writes nothing",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "plain", "none"),
        default="auto",
        help="progress display (auto: a bar on a terminal, plain lines otherwise)",
    )
    p.set_defaults(func=run)


def selection_of(args: argparse.Namespace) -> Selection:
    listed: tuple[str, ...] | None = None
    if args.tickers and args.tickers != "all":
        listed = load_list(args.tickers).symbols
    symbols = merge_symbols(listed, symbols_of(args.symbols))
    since: dt.datetime | None = None
    if args.days is not None:
        if args.days <= 0:
            raise ConfigError("--days must be a positive number of days")
        since = Selection.days_ago(args.days)
    elif args.since:
        try:
            day = dt.date.fromisoformat(args.since)
        except ValueError:
            raise ConfigError(f"--since {args.since!r} is not a date like 2024-01-31") from None
        since = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return Selection(symbols=symbols, since=since, full=bool(args.full))


def source_of(args: argparse.Namespace) -> PgSource:
    src = PgSource.from_section(config_of(args).section("pg"))
    changes: dict[str, Any] = {}
    if args.chunk_rows is not None:
        if args.chunk_rows < 1:
            raise ConfigError("--chunk-rows must be at least 1")
        changes["chunk_rows"] = args.chunk_rows
    if args.overlap_minutes is not None:
        if args.overlap_minutes < 0:
            raise ConfigError("--overlap-minutes must be 0 or more")
        changes["overlap_minutes"] = args.overlap_minutes
    if getattr(args, "max_connections", None) is not None:
        if args.max_connections < 1:
            raise ConfigError("--max-connections must be at least 1")
        changes["max_connections"] = args.max_connections
    return dataclasses.replace(src, **changes) if changes else src


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed / 1e6:,.2f} M rows/s" if speed else "— rows/s", style="cyan")


#: DuckDB's buffer pool during a sync: the writes stream through it, and the
#: reader threads hold a few chunks beside it (peak RSS under 400 MB).
SYNC_MEMORY_LIMIT = "64MB"


class _CtrlC:
    """SIGINT while a sync runs: the first sets ``stop``, the second exits at once.

    Messages go straight to fd 2 (``os.write``): a handler may run while the
    main thread is inside a print.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.chunks = 0
        self.previous: Any = None

    def __enter__(self) -> _CtrlC:
        self.previous = signal.signal(signal.SIGINT, self._hit)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def _hit(self, signum: int, frame: FrameType | None) -> None:
        if not self.stop.is_set():
            self.stop.set()
            _say("avwap: Ctrl-C: stopping after the current chunk (Ctrl-C again to abort now)")
            return
        _say(
            f"avwap: aborted by a second Ctrl-C: {self.chunks} committed chunk(s) are kept, "
            "the chunk being written is discarded. Run `avwap sync` again to continue."
        )
        os._exit(130)


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


def run(args: argparse.Namespace) -> int:
    src = source_of(args)
    sel = selection_of(args)
    src.require_dsn()
    out = Console()
    mode = args.progress
    if mode == "auto":
        mode = "bar" if out.is_terminal else "plain"
    stop = threading.Event()
    report: SyncReport | None = None
    with _CtrlC(stop) as ctrl_c:
        if mode == "plain":
            print(f"sync: connecting to PostgreSQL for {src.qualified}", flush=True)
        # The source first: a server that cannot be reached or a table that does
        # not match is reported before the cache (file, directories) is touched.
        session = PgSession(src).open()
        try:
            with Cache(db_of(args), memory_limit=SYNC_MEMORY_LIMIT) as cache:
                if args.explain:
                    return _explain(out, cache, src, sel, session)
                events = _counting(sync_events(cache, src, sel, stop=stop, session=session), ctrl_c)
                if mode == "bar":
                    report = _with_bar(events, out)
                else:
                    for ev in events:
                        report = ev.report
                        if mode == "plain":
                            _plain(ev)
                cache.checkpoint()
        finally:
            session.close()
    assert report is not None
    _summary(out, report)
    if report.stopped:
        t = report.result
        _say(
            f"avwap: sync stopped by Ctrl-C after {report.chunks} committed chunk(s): "
            f"{t.received:,} rows read, {t.written:,} bars written, {t.rejected:,} rejected; "
            "what was committed is kept. Run `avwap sync` again to continue."
        )
        return 130
    return 0


def _counting(events: Iterator[SyncEvent], ctrl_c: _CtrlC) -> Iterator[SyncEvent]:
    """Pass events on, keeping the committed chunk count where Ctrl-C can say it."""
    for ev in events:
        ctrl_c.chunks = ev.chunks
        yield ev


def _explain(out: Console, cache: Cache, src: PgSource, sel: Selection, session: PgSession) -> int:
    session.close()  # explain() opens its own, like a sync would
    streams = explain(cache, src, sel)
    index = "yes" if session.info.indexed else "no (each run scans the whole table)"
    out.print(
        f"sync plan for {src.qualified}: {len(streams)} stream(s); "
        f"index on (symbol, time): {index}",
        markup=False,
    )
    for i, (stream, plan) in enumerate(streams, 1):
        est = f"{stream.estimate:,}" if stream.estimate is not None else "unknown"
        out.print(f"stream {i}: about {est} rows", markup=False)
        for line in plan:
            out.print("  " + line, markup=False, highlight=False, soft_wrap=True)
    return 0


def _plain(ev: SyncEvent) -> None:
    if ev.kind == "start":
        est = f"about {ev.total:,} rows" if ev.total is not None else "row count unknown"
        line = f"sync: reading {ev.report.table} ({est})"
    elif ev.kind == "chunk":
        line = (
            f"sync: chunk {ev.chunks} committed: {ev.rows_read:,} rows read, "
            f"{ev.rows_per_s:,.0f} rows/s, at {ev.last_symbol}"
        )
    else:
        line = f"sync: {ev.kind}: {ev.rows_read:,} rows in {ev.elapsed_s:.1f} s"
    print(line, flush=True)


def _with_bar(events: object, console: Console) -> SyncReport | None:
    report: SyncReport | None = None
    columns = (
        TextColumn("[bold]sync[/] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=None)
        for ev in events:  # type: ignore[attr-defined]
            report = ev.report
            total = ev.total if ev.total is None else max(ev.total, ev.rows_read)
            bar.update(
                task, completed=ev.rows_read, total=total, description=escape(ev.last_symbol or "")
            )
            if ev.kind in ("done", "stopped"):
                bar.update(task, total=ev.rows_read, completed=ev.rows_read)
    return report


SUMMARY_ROWS = 20


def _summary(console: Console, r: SyncReport) -> None:
    table = Table(title=f"Sync summary · {r.table} · {r.rows_read:,} rows in {r.seconds:.1f} s")
    cols = ("symbol", "read", "new", "changed", "unchanged", "duplicates", "removed", "rejected",
            "reasons")
    for col in cols:
        table.add_column(col, justify="left" if col in ("symbol", "reasons") else "right")
    # Every row read is accounted for: read = new + changed + unchanged +
    # duplicates (a key the source holds twice) + rejected. "changed" counts
    # cached rows whose values really changed, "unchanged" the re-read overlap.
    # Every symbol with something to say (rejected or removed rows), the first
    # SUMMARY_ROWS of the others; the rest in one line (650 rows of rich table
    # cost seconds and tell nothing).
    noted = [(s, st) for s, st in sorted(r.per_symbol.items()) if st.rejected or st.removed]
    clean = [(s, st) for s, st in sorted(r.per_symbol.items()) if not (st.rejected or st.removed)]
    shown, rest = clean[:SUMMARY_ROWS], clean[SUMMARY_ROWS:]

    def figures(read: int, written: int, replaced: int, unchanged: int, removed: int,
                rejected: int) -> list[str]:
        dups = read - written - rejected
        return [f"{read:,}", f"{written - replaced - unchanged:,}", f"{replaced:,}",
                f"{unchanged:,}", f"{dups:,}", f"{removed:,}", f"{rejected:,}"]

    for sym, st in sorted(noted + shown):
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(st.rejected_by_reason.items()))
        table.add_row(
            escape(sym),
            *figures(st.read, st.written, st.replaced, st.unchanged, st.removed, st.rejected),
            escape(reasons) or "—",
            style="yellow" if st.rejected else "",
        )
    if rest:
        table.add_row(
            f"… {len(rest):,} more",
            *figures(*(sum(getattr(st, f) for _, st in rest)
                       for f in ("read", "written", "replaced", "unchanged", "removed",
                                 "rejected"))),
            "—",
            style="dim",
        )
    t = r.result
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(t.rejected_by_reason.items()))
    table.add_section()
    table.add_row(
        "total",
        *figures(t.received, t.written, t.replaced, t.unchanged, t.removed, t.rejected),
        escape(reasons) or "—",
        style="bold",
    )
    console.print(table)
    if not r.per_symbol:
        console.print("Nothing new in the source.")
    if t.removed:
        console.print(
            f"--full: removed {t.removed:,} cached bar(s) the source no longer has "
            "(inside each symbol's span read)."
        )
    sys.stdout.flush()
