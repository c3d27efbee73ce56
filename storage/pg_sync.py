"""PostgreSQL → DuckDB sync: bring into the cache what it lacks, chunk by chunk.

Why it is safe to kill at any moment: the source is read in (symbol, ts)
order and every chunk is written with one ``Cache.write_bars`` call, which is
one DuckDB transaction. So whatever survives a crash is, for every symbol, a
complete prefix of what that run would have written (the symbols after the
crash point are untouched). The next run starts each symbol again at its
newest cached bar minus ``overlap_minutes``, which lies inside that prefix:
nothing is skipped (no holes) and re-read bars replace themselves (no
duplicates: ``write_bars`` upserts on (symbol, ts)).

Duplicate keys in the source: rows with the same (symbol, ts) are read in
(open, high, low, close, volume) order after the key, and among the valid ones
the last wins (``write_bars`` keeps the last occurrence; a pair split across
two chunks is re-read whole by the next run because the resume point is at
or before it). So "the source's valid rows" are: rows that pass
``storage.validate``, and for each key, the valid row with the greatest
(open, high, low, close, volume).

Rows the cache refuses (NULLs, high < low, a symbol with a quote character,
…) go to ``rejected_bars`` with their reason. Ctrl-C (``stop`` set) ends the
run after the chunk being written is committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.cache import Cache, SymbolCounts, WriteResult
from storage.pg_config import PgSource
from storage.pg_source import PgReader, ReadPlan
from storage.types import FIELDS

_MINUTE_US = 60_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Selection:
    """Which bars to sync.

    ``symbols``: explicit symbols, or ``None`` for every symbol in the source.
    ``since``: earliest bar to fetch (UTC ``datetime``), or ``None`` for all
    history. ``full``: ignore the cache's newest bars and fetch everything from
    ``since`` (a repair or backfill); otherwise incremental.
    """

    symbols: tuple[str, ...] | None = None
    since: dt.datetime | None = None
    full: bool = False

    @staticmethod
    def days_ago(days: int, now: dt.datetime | None = None) -> dt.datetime:
        now = now or dt.datetime.now(dt.UTC)
        return now - dt.timedelta(days=days)


#: Per symbol: rows read, written (incl. replaced), replaced, rejected by reason.
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


def plan_for(cache: Cache, src: PgSource, sel: Selection) -> ReadPlan:
    """Per symbol, where to start: newest cached bar minus the overlap (or the floor)."""
    floor = _us(sel.since) if sel.since is not None else None
    since: dict[str, int | None] = {}
    if not sel.full:
        overlap = src.overlap_minutes * _MINUTE_US
        for sym, newest in cache.latest(sel.symbols).items():
            start = int(newest.astype("datetime64[us]").astype(np.int64)) - overlap
            since[sym] = start if floor is None else max(start, floor)
    if sel.symbols is not None:
        for sym in sel.symbols:
            since.setdefault(sym, floor)
    return ReadPlan(symbols=sel.symbols, since=since, floor=floor)


def _us(t: dt.datetime) -> int:
    """UTC epoch microseconds of ``t`` (a naive ``t`` is taken as UTC)."""
    t = t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def sync_events(
    cache: Cache,
    src: PgSource,
    sel: Selection,
    *,
    stop: threading.Event | None = None,
) -> Iterator[SyncEvent]:
    """Run a sync, yielding progress events; the last is ``done`` or ``stopped``.

    Raises ``SourceError``/``ConfigError`` before writing anything when the
    source cannot be reached or does not match the config.
    """
    t0 = time.perf_counter()
    report = SyncReport(
        table=src.qualified, source_tag=f"pg {src.qualified} {uuid.uuid4().hex[:8]}"
    )
    plan = plan_for(cache, src, sel)

    def event(kind: str, total: int | None = None, last: str | None = None) -> SyncEvent:
        report.seconds = time.perf_counter() - t0
        return SyncEvent(kind, report.rows_read, total, report.chunks, report.seconds, last, report)

    with PgReader(src) as reader:
        total = reader.estimate(plan)
        yield event("start", total)
        with contextlib.closing(_chunks(_prefetch(reader.batches(plan)), src.chunk_rows)) as chunks:
            for chunk in chunks:
                _write_chunk(cache, chunk, report)
                yield event("chunk", total, chunk.column(0)[-1].as_py())
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
) -> SyncReport:
    """``sync_events`` run to the end; returns the final report."""
    last: SyncEvent | None = None
    for ev in sync_events(cache, src, sel, stop=stop):
        last = ev
        if on_event is not None:
            on_event(ev)
    assert last is not None
    return last.report


# ── internals ────────────────────────────────────────────────────────────────


def _prefetch(it: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead in a thread, so PostgreSQL and DuckDB work at the same time.

    At most ``depth`` batches wait in the queue (memory stays bounded). On
    close the thread is stopped and joined before ``it`` is closed, so the
    reader's cursor is never touched by two threads at once.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    end = object()
    halt = threading.Event()

    def put(item: object) -> bool:
        while not halt.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in it:
                if not put(item):
                    return
            put(end)
        except BaseException as e:
            put(e)

    thread = threading.Thread(target=work, name="pg-sync-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        halt.set()
        thread.join()
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Generator[pa.Table, None, None]:
    """Tables of about ``rows`` rows that never split a (symbol, ts) key.

    The rows of the key at a chunk's end are carried into the next chunk, so
    duplicate keys always meet in one ``write_bars`` call, where ``_settle``
    has ordered them.
    """
    pending: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        pending.append(batch)
        n += batch.num_rows
        if n <= rows:
            continue
        table = pa.Table.from_batches(pending).combine_chunks()
        while table.num_rows > rows:
            # Cut before the key of row ``rows`` (the first row left over).
            cut = _last_key_start(table.slice(0, rows + 1)) or rows
            yield _settle(table.slice(0, cut))
            table = table.slice(cut)
        pending, n = table.to_batches(), table.num_rows
    if n:
        yield _settle(pa.Table.from_batches(pending).combine_chunks())


def _last_key_start(table: pa.Table) -> int:
    """Index of the first row carrying the table's last (symbol, ts) key."""
    sym, ts = table.column("symbol"), table.column("ts")
    last_sym, last_ts = sym[-1], ts[-1]
    same = pc.and_kleene(pc.equal(sym, last_sym), pc.equal(ts, last_ts))
    same_np = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    i = len(same_np)
    while i > 0 and same_np[i - 1]:
        i -= 1
    return i


def _settle(chunk: pa.Table) -> pa.Table:
    """Order rows of a duplicated key by (open, high, low, close, volume) ascending.

    ``write_bars`` keeps the last valid occurrence, so the winner is the valid
    row with the greatest values: a rule of the data, not of the read order.
    """
    n = chunk.num_rows
    if n < 2:
        return chunk
    sym, ts = chunk.column("symbol"), chunk.column("ts")
    same = pc.and_(
        pc.equal(sym.slice(1), sym.slice(0, n - 1)), pc.equal(ts.slice(1), ts.slice(0, n - 1))
    )
    if not pc.any(same).as_py():
        return chunk
    group = np.cumsum(np.r_[True, _changed(sym)])  # keeps the server's symbol order
    keys = [("g", "ascending"), ("ts", "ascending")] + [(f, "ascending") for f in FIELDS]
    order = pc.sort_indices(
        pa.table({"g": group, "ts": ts, **{f: chunk.column(f) for f in FIELDS}}), sort_keys=keys
    )
    return chunk.take(order)


def _changed(sym: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """``[n - 1]`` bools: row i+1's symbol differs from row i's (nulls count as a value)."""
    n = len(sym)
    a, b = sym.slice(1), sym.slice(0, n - 1)
    ne = pc.fill_null(pc.not_equal(a, b), True)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.and_(ne, pc.invert(both_null)).to_numpy(zero_copy_only=False).astype(bool)


def _write_chunk(cache: Cache, chunk: pa.Table, report: SyncReport) -> None:
    """One transaction; the cache reports what it did per symbol."""
    result = cache.write_bars(chunk, source=report.source_tag, by_symbol=True)
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
