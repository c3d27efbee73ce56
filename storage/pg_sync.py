"""PostgreSQL → DuckDB sync: bring into the cache what it lacks, chunk by chunk.

Why it is safe to kill at any moment: each stream reads its symbols in
(symbol, ts) order and every chunk is written with one ``Cache.write_bars``
call, which is one DuckDB transaction. So whatever survives a crash is, for
every symbol, a complete prefix of what that run would have written. The next
run starts each symbol again at its newest cached bar minus
``overlap_minutes``, which lies inside that prefix: nothing is skipped (no
holes) and re-read bars replace themselves (no duplicates: ``write_bars``
upserts on (symbol, ts)). Bars refused as "in the future" never enter the
cache, so they can never move that resume point.

Duplicate keys in the source: among the valid rows with the same (symbol, ts)
the one with the greatest (open, high, low, close, volume) wins
(``pg_rows.settle``; a key is never split across chunks).

Deletes: an incremental run never deletes. A ``full`` run mirrors the source
inside what it read: for each symbol the source holds, cache rows between the
symbol's first and newest row read that the source no longer has (or holds
only as an invalid row) are deleted, and counted (``removed``). Symbols the
source does not hold and bars outside that span are left alone (the cache may
hold bars from other sources: CSV imports, the live feed).

Rows the cache refuses (NULLs, high < low, …) and rows refused here
(``pg_rows``: ±infinity, DST gaps, future bars, values that do not convert,
volumes ≥ 2^53) go to ``rejected_bars`` with their reason, once. ``stop`` set
(Ctrl-C) ends the run after the chunk being written is committed.

Large reads are split into up to ``max_connections`` symbol ranges read in
parallel, each on its own connection (its chunks still in order).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from storage.cache import Cache, SymbolCounts, WriteResult
from storage.pg_config import PgSource
from storage.pg_rows import Mirror, Prepared, chunks, prepare
from storage.pg_source import PgSession, ReadPlan, Stream, read_batches
from storage.types import MINUTE_US

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Below this many estimated rows one stream is enough (a second connection
#: costs more than it brings).
PARALLEL_MIN_ROWS = 500_000


@dataclass(frozen=True)
class Selection:
    """Which bars to sync.

    ``symbols``: explicit symbols, or ``None`` for every symbol in the source.
    ``since``: earliest bar to fetch (UTC ``datetime``), or ``None`` for all
    history. ``full``: ignore the cache's newest bars and fetch everything from
    ``since`` (a repair or backfill; mirrors deletes, see the module doc);
    otherwise incremental.
    """

    symbols: tuple[str, ...] | None = None
    since: dt.datetime | None = None
    full: bool = False

    @staticmethod
    def days_ago(days: int, now: dt.datetime | None = None) -> dt.datetime:
        now = now or dt.datetime.now(dt.UTC)
        return now - dt.timedelta(days=days)


#: Per symbol: rows read, written (incl. replaced), replaced, removed, rejected by reason.
SymbolStats = SymbolCounts


@dataclass
class SyncReport:
    """The whole run: totals (``result``), per symbol, and how it ended."""

    table: str
    source_tag: str
    result: WriteResult = field(default_factory=WriteResult)
    per_symbol: dict[str, SymbolStats] = field(default_factory=dict)
    chunks: int = 0
    seconds: float = 0.0
    stopped: bool = False
    streams: int = 1

    @property
    def rows_read(self) -> int:
        return self.result.received

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SyncEvent:
    """A progress event. ``kind``: ``start`` (``total`` is the planner's estimate
    of rows to read, maybe ``None``), ``chunk`` (a chunk was committed),
    ``done`` or ``stopped`` (the run ended; ``report`` is final)."""

    kind: str
    rows_read: int
    total: int | None
    chunks: int
    elapsed_s: float
    last_symbol: str | None
    report: SyncReport

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.elapsed_s if self.elapsed_s > 0 else 0.0


def plan_for(cache: Cache, session: PgSession, src: PgSource, sel: Selection) -> ReadPlan:
    """Per symbol, where to start: newest cached bar minus the overlap (or the floor)."""
    floor = _us(sel.since) if sel.since is not None else None
    starts: dict[str, int | None] = {}
    if not sel.full:
        overlap = src.overlap_minutes * MINUTE_US
        for sym, newest in cache.latest(sel.symbols).items():
            start = int(newest.astype("datetime64[us]").astype(np.int64)) - overlap
            starts[sym] = start if floor is None else max(start, floor)
    if sel.symbols is not None:
        for sym in sel.symbols:
            starts.setdefault(sym, floor)
        return ReadPlan(starts=starts, floor=floor)
    if not starts:
        return ReadPlan(starts=None, floor=floor)  # every symbol, every row from the floor
    if session.info.indexed:
        # The source's symbols from the index (cheap): new ones read from the floor,
        # cached ones no longer in the source not asked for at all.
        listed = session.source_symbols()
        return ReadPlan(starts={s: starts.get(s, floor) for s in listed}, floor=floor)
    return ReadPlan(starts=starts, floor=floor, others=True)


def _us(t: dt.datetime) -> int:
    """UTC epoch microseconds of ``t`` (a naive ``t`` is taken as UTC)."""
    t = t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def plan_streams(cache: Cache, session: PgSession, src: PgSource, sel: Selection) -> list[Stream]:
    """The SELECT(s) a sync of ``sel`` will run, with the planner's estimates."""
    plan = plan_for(cache, session, src, sel)
    streams = session.streams(plan, 1)
    total = streams[0].estimate or 0
    parts = stream_count(src)
    if parts > 1 and total >= PARALLEL_MIN_ROWS:
        split = session.streams(plan, parts)
        if len(split) > 1:
            streams = split
    return streams


def stream_count(src: PgSource) -> int:
    """Streams for a large read: ``max_connections``, but one per two local cores.

    Why the cores: a stream keeps about one core busy decoding and validating
    on this side (and one on the server's); on a two-core machine a second
    stream only adds contention and memory (``bench/sync.py``: one stream was
    faster there).
    """
    return max(1, min(src.max_connections, (os.cpu_count() or 1) // 2))


def explain(cache: Cache, src: PgSource, sel: Selection) -> list[tuple[Stream, list[str]]]:
    """What ``sync_events`` would ask the server, and the server's plan for it."""
    with PgSession(src) as session:
        return [(s, session.explain(s.sql)) for s in plan_streams(cache, session, src, sel)]


def sync_events(
    cache: Cache,
    src: PgSource,
    sel: Selection,
    *,
    stop: threading.Event | None = None,
    session: PgSession | None = None,
    now: dt.datetime | None = None,
) -> Iterator[SyncEvent]:
    """Run a sync, yielding progress events; the last is ``done`` or ``stopped``.

    Raises ``SourceError``/``ConfigError`` before writing anything when the
    source cannot be reached or does not match the config. ``session``: an
    open ``PgSession`` (the CLI connects before it opens the cache); it is
    closed here once the plan is made.
    """
    t0 = time.perf_counter()
    report = SyncReport(
        table=src.qualified, source_tag=f"pg {src.qualified} {uuid.uuid4().hex[:8]}"
    )
    now = now or dt.datetime.now(dt.UTC)
    not_after = _us(now) + src.future_minutes * MINUTE_US

    def event(kind: str, total: int | None = None, last: str | None = None) -> SyncEvent:
        report.seconds = time.perf_counter() - t0
        return SyncEvent(kind, report.rows_read, total, report.chunks, report.seconds, last, report)

    with session or PgSession(src) as ses:
        streams = plan_streams(cache, ses, src, sel)
    report.streams = len(streams)
    estimates = [s.estimate for s in streams]
    total = None if None in estimates else sum(e or 0 for e in estimates)
    yield event("start", total)
    if stop is not None and stop.is_set():
        report.stopped = True
    else:
        with _Readers(src, streams, not_after, mirror=sel.full) as readers:
            for ready in readers:
                _write_chunk(cache, ready, report)
                yield event("chunk", total, ready.last_symbol)
                if stop is not None and stop.is_set():
                    report.stopped = True
                    break
    yield event("stopped" if report.stopped else "done", total)


def run_sync(
    cache: Cache,
    src: PgSource,
    sel: Selection,
    *,
    stop: threading.Event | None = None,
    on_event: Callable[[SyncEvent], None] | None = None,
    now: dt.datetime | None = None,
) -> SyncReport:
    """``sync_events`` run to the end; returns the final report."""
    last: SyncEvent | None = None
    for ev in sync_events(cache, src, sel, stop=stop, now=now):
        last = ev
        if on_event is not None:
            on_event(ev)
    assert last is not None
    return last.report


# ── internals ────────────────────────────────────────────────────────────────


class _Readers:
    """One thread per stream: read, chunk and prepare; chunks meet in one queue.

    Reading, converting and DuckDB's writes overlap (ADBC, Arrow and DuckDB
    release the GIL). At most ``depth`` prepared chunks per stream wait, so
    memory stays bounded. Each stream's chunks arrive in its own order (one
    producer per stream, a FIFO queue), which is all kill safety needs. On
    close the streams are cancelled on the server (``adbc_cancel`` is the
    thread-safe libpq cancel) and the threads joined before returning.
    """

    def __init__(
        self,
        src: PgSource,
        streams: Sequence[Stream],
        not_after: int,
        *,
        mirror: bool,
        depth: int = 1,
    ) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth * len(streams))
        self._halt = threading.Event()
        self._cancels: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._open = len(streams)
        self._threads = [
            threading.Thread(
                target=self._work,
                args=(src, s.sql, not_after, Mirror() if mirror else None),
                name=f"pg-sync-read-{i}",
                daemon=True,
            )
            for i, s in enumerate(streams)
        ]

    def __enter__(self) -> _Readers:
        for t in self._threads:
            t.start()
        return self

    def __iter__(self) -> Iterator[Prepared]:
        while self._open:
            item = self._q.get()
            if item is None:
                self._open -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item

    def _put(self, item: object) -> bool:
        while not self._halt.is_set():
            with contextlib.suppress(queue.Full):
                self._q.put(item, timeout=0.1)
                return True
        return False

    def _work(self, src: PgSource, sql: str, not_after: int, mirror: Mirror | None) -> None:
        batches = read_batches(src, sql, on_cursor=self._register)
        try:
            for raw in chunks(batches, src.chunk_rows):
                ready = prepare(raw, not_after_us=not_after, mirror=mirror)
                if not self._put(ready):
                    return
            self._put(None)
        except BaseException as e:  # handed to the consumer, raised there
            if not self._halt.is_set():
                self._put(e)
        finally:
            batches.close()

    def _register(self, cancel: Callable[[], None]) -> None:
        with self._lock:
            if self._halt.is_set():  # closing already: do not start the read
                raise _Halted
            self._cancels.append(cancel)

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        with self._lock:
            for cancel in self._cancels:
                with contextlib.suppress(Exception):
                    cancel()
        for t in self._threads:
            t.join()


class _Halted(BaseException):
    """A stream asked to start after the readers were closed."""


def _write_chunk(cache: Cache, ready: Prepared, report: SyncReport) -> None:
    """One transaction; the cache reports what it did per symbol."""
    result = cache.write_bars(
        ready.bars,
        source=report.source_tag,
        by_symbol=True,
        refused=ready.refused,
        clear=ready.clear,
        prestaged=ready.staged,
    )
    for sym, counts in result.by_symbol.items():
        report.per_symbol.setdefault(sym, SymbolStats()).add(counts)
    result.by_symbol = {}
    report.result.add(result)
    report.chunks += 1


def symbols_of(text: str | None) -> tuple[str, ...] | None:
    """``"A, b"`` → ``("A", "B")``; empty → ``None``."""
    if not text:
        return None
    out = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    return out or None


def merge_symbols(*groups: Sequence[str] | None) -> tuple[str, ...] | None:
    """Union of symbol groups in order; ``None`` if every group is ``None``."""
    if all(g is None for g in groups):
        return None
    return tuple(dict.fromkeys(s for g in groups if g for s in g))
