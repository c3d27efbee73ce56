"""The local DuckDB minute-bar cache: schema, bulk idempotent writes, panel reads.

Why no PRIMARY KEY index: DuckDB persists an ART index for it, which on 5 M
bars costs ~78 bytes per bar on disk and slows bulk inserts several-fold
(``bench/storage.py``: 77.7 vs 16.4 bytes/bar, 0.97 vs 8.4 M bars/s). The
(symbol, ts) key is instead enforced by the only write path, ``write_bars``: it
de-duplicates the batch (the last occurrence wins), deletes the cache rows with
the same keys and inserts the batch, in one transaction. So writing the same
bars twice leaves one copy, a newer value replaces an older one, and a crash
mid-write leaves the cache as it was (DuckDB's WAL rolls the open transaction
back).
``check_unique()`` verifies the invariant (the tests call it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage import calendar
from storage.anchors import anchor_counts
from storage.errors import CacheError
from storage.schema import MIGRATIONS, migrate
from storage.sharing import CacheBusy, default_wait, share_of
from storage.types import FIELDS, MINUTE_US, Panel
from storage.writes import (
    NULL_SYMBOL,
    SymbolCounts,
    WriteResult,
    bars_table,
    stage,
    value_counts,
)

__all__ = [
    "NULL_SYMBOL", "Cache", "CacheBusy", "Coverage", "SymbolCounts", "WriteResult", "bars_table",
]

#: DuckDB buffer pool cap: bounds memory whatever the cache size (DuckDB would take 80 % of RAM).
MEMORY_LIMIT = "256MB"


@dataclass(frozen=True)
class Coverage:
    """What the cache holds for one symbol."""

    symbol: str
    first: np.datetime64 | None
    last: np.datetime64 | None
    bars: int
    trading_days: int
    missing_sessions: tuple[dt.date, ...]


class Cache:
    """One DuckDB file, shared with other processes (``storage.sharing``).

    The object holds no connection of its own: each operation holds the file
    for as long as it runs (a read shares it with other readers, a write holds
    it alone) and waits, saying for whom, at most ``wait`` seconds
    (``AVWAP_CACHE_WAIT``, default 60) before ``CacheBusy``. Thread-safe: the
    threads of a process take turns.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        memory_limit: str = MEMORY_LIMIT,
        wait: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.memory_limit = memory_limit
        self.wait = default_wait() if wait is None else wait
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise CacheError(f"cannot open the cache {self.path}: no such file")
            self._share = share_of(self.path)
            if not read_only and not self._current():
                with self._hold(write=True) as con:
                    migrate(con)
        except duckdb.Error as e:
            raise CacheError(f"cannot open the cache {self.path}: {_first_line(e)}") from e
        except OSError as e:
            raise CacheError(f"cannot create the cache {self.path}: {e.strerror}") from e

    def _current(self) -> bool:
        """The file exists at this program's schema version (no write needed to open)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        with self._hold(write=False) as con:
            row = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
            ).fetchone()
            if not row or not row[0]:
                return False
            ver = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return ver is not None and int(ver[0]) == len(MIGRATIONS)

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Let the file go now (an idle connection would be let go soon anyway)."""
        self._share.release_if(force=True)

    def release(self) -> None:
        """Let other processes in between two operations (the same as ``close``)."""
        self._share.release_if(force=True)

    @property
    def connected(self) -> bool:
        """True while this process keeps a DuckDB connection to the file open (and with
        it DuckDB's buffer pool: the blocks its reads brought in stay resident)."""
        return self._share.con is not None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _hold(
        self, write: bool, wait: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        if write and self.read_only:
            raise CacheError(f"the cache {self.path} is open read-only")
        bound = self.wait if wait is None else wait
        with self._share.hold(write, bound, self.memory_limit) as con:
            cur = con.cursor()
            try:
                cur.execute("SET TimeZone = 'UTC'")  # per session: Arrow results in UTC
                yield cur
            finally:
                cur.close()

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reads while the file is held (shared with other readers)."""
        with self._hold(write=False) as cur:
            yield cur

    def transaction(
        self, wait: float | None = None
    ) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A cursor in one write transaction, the file held alone (``storage.anchors``)."""
        return self._txn(wait)

    @contextmanager
    def _txn(self, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._hold(write=True, wait=wait) as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")

    # -- what others changed ---------------------------------------------------
    def mark(self) -> tuple[int, int]:
        """A point to compare with later (``changed_elsewhere``): microseconds, no I/O
        beyond 8 bytes of the lock file."""
        return self._share.generation(), self._share.own_writes

    def changed_elsewhere(self, since: tuple[int, int]) -> bool:
        """Another process wrote to the cache after ``since`` (a ``mark()``).

        Why: the console keeps warm state built from the cache; a sync, an anchor
        added or a run saved from a shell must show up there without a restart.
        Every committed write bumps a counter beside the file, and this process
        counts its own, so the difference is the others' writes.
        """
        gen, own = self.mark()
        return gen - since[0] != own - since[1]

    def fingerprint(self, symbols: Sequence[str], until: Any) -> dict[str, tuple[int, int]]:
        """Per symbol (bar count, XOR of the bars' hashes) of its bars up to ``until``:
        exact and order-free, to tell whether history the console has warmed on was
        changed by another process."""
        end = np.datetime64(until, "m") + np.timedelta64(1, "m")
        where, params = _where(symbols, None, end)
        with self.reading() as cur:
            rows = cur.execute(
                "SELECT symbol, count(*), bit_xor(hash(ts, open, high, low, close, volume))"
                f" FROM bars {where} GROUP BY symbol",
                params,
            ).fetchall()
        return {str(s): (int(n), int(h or 0)) for s, n, h in rows}

    # -- writes ----------------------------------------------------------------
    def write_bars(
        self,
        bars: pa.Table | Mapping[str, Any],
        *,
        source: str = "api",
        by_symbol: bool = False,
        refused: pa.Table | None = None,
        clear: pa.Table | None = None,
        prestaged: tuple[pa.Table, pa.Table | None, WriteResult] | None = None,
        wait: float | None = None,
    ) -> WriteResult:
        """Validate and upsert bars in one transaction; bad rows go to ``rejected_bars``.

        ``wait``: seconds to wait for the file (default the cache's bound);
        ``CacheBusy`` when another process held it all that time (the console's
        live minutes use a short wait and keep the minute for later).

        ``bars`` has columns symbol, ts, open, high, low, close, volume. ``ts``
        must carry a time zone (an Arrow timestamp with tz, or NumPy
        ``datetime64`` which is taken as UTC); a zone-less Arrow timestamp
        rejects its rows as "unknown timezone". ``by_symbol`` also fills
        ``WriteResult.by_symbol`` (the sync's per-symbol summary).

        ``refused``: rows the producer already refused (text columns symbol, ts,
        open … volume and ``reason``), stored and counted in the same
        transaction. ``clear``: ranges (symbol, lo, hi: UTC timestamps,
        inclusive) where the cache must hold exactly the incoming bars: cache
        rows there that the write does not bring are deleted (``removed``).
        ``prestaged``: ``storage.writes.stage(bars)`` done already (the sync runs it
        on its reader threads, beside the previous chunk's write).
        """
        table = bars if isinstance(bars, pa.Table) else pa.table(dict(bars))
        staged, rejected, result = prestaged if prestaged is not None else stage(table)
        if refused is not None and len(refused):
            result.received += len(refused)
            result.rejected += len(refused)
            for r, n in value_counts(refused["reason"]):
                result.rejected_by_reason[str(r)] = result.rejected_by_reason.get(str(r), 0) + n
            if by_symbol:
                for sym, n in value_counts(refused["symbol"]):
                    result._symbol(sym).read += n
            rejected = refused if rejected is None else pa.concat_tables([rejected, refused])
        if by_symbol:
            for sym, n in value_counts(table["symbol"]):
                result._symbol(sym).read += n
            if rejected is not None:
                for sym, reason in zip(
                    rejected["symbol"].to_pylist(), rejected["reason"].to_pylist(), strict=True
                ):
                    counts = result._symbol(sym).rejected_by_reason
                    counts[reason] = counts.get(reason, 0) + 1
        try:
            with self._txn(wait) as cur:
                if clear is not None and len(clear):
                    self._clear(cur, clear, staged, result)
                if len(staged):
                    self._upsert(cur, staged, result, by_symbol)
                if rejected is not None and len(rejected):
                    self._insert_rejects(cur, rejected, source)
        except duckdb.Error as e:
            raise CacheError(f"writing bars to {self.path} failed: {_first_line(e)}") from e
        return result

    def _upsert(
        self,
        cur: duckdb.DuckDBPyConnection,
        staged: pa.Table,
        result: WriteResult,
        by_symbol: bool = False,
    ) -> None:
        """Insert new keys, rewrite keys whose values changed, leave equal rows alone.

        Why not "delete every incoming key, insert all": a sync re-reads its
        overlap window on every run, so most incoming rows usually equal what
        is cached. Rewriting them costs a delete and an insert each and made the
        summary say "replaced" for rows nothing changed. Here one left join of
        the batch against the cache rows in its (symbol, ts) bounding box
        classifies each row; only changed rows are deleted (by ``rowid``, a
        list of integers, which fits any memory limit) and re-inserted.
        """
        n = len(staged)
        lo = pc.min(staged["ts"]).as_py()
        hi = pc.max(staged["ts"]).as_py()
        # The symbol range too: DuckDB's zone maps then skip the row groups
        # of other symbols (a sync writes symbol by symbol).
        bounds = [lo, hi, pc.min(staged["symbol"]).as_py(), pc.max(staged["symbol"]).as_py()]
        inside = "ts BETWEEN ? AND ? AND symbol BETWEEN ? AND ?"
        has_any = cur.execute(f"SELECT count(*) FROM bars WHERE {inside}", bounds).fetchall()[0]
        keep = None
        changed = unchanged = 0
        changed_syms: pa.ChunkedArray | None = None
        unchanged_syms: pa.ChunkedArray | None = None
        if has_any and has_any[0]:
            indexed = staged.append_column("i", pa.array(np.arange(n, dtype=np.int64)))
            cur.register("staged_bars", indexed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                hits: pa.Table = cur.execute(
                    f"""
                    SELECT s.i, b.rowid AS r,
                           (b.open IS DISTINCT FROM s.open OR b.high IS DISTINCT FROM s.high
                            OR b.low IS DISTINCT FROM s.low OR b.close IS DISTINCT FROM s.close
                            OR b.volume IS DISTINCT FROM s.volume) AS differs
                    FROM staged_bars s
                    JOIN (SELECT rowid, * FROM bars WHERE {inside}) b
                      ON b.symbol = s.symbol AND b.ts = s.ts
                    """,
                    bounds,
                ).to_arrow_table()
            with contextlib.suppress(duckdb.Error):
                cur.unregister("staged_bars")
            if hits.num_rows:
                differs = hits["differs"].to_numpy(zero_copy_only=False)
                idx = hits["i"].to_numpy()
                keep = np.ones(n, dtype=bool)
                keep[idx[~differs]] = False
                rowids = hits["r"].to_numpy()[differs]
                changed, unchanged = int(differs.sum()), int((~differs).sum())
                if changed:
                    cur.register("changed_rows", pa.table({"r": rowids}))
                    cur.execute("DELETE FROM bars WHERE rowid IN (SELECT r FROM changed_rows)")
                    with contextlib.suppress(duckdb.Error):
                        cur.unregister("changed_rows")
                if by_symbol:
                    syms = staged["symbol"]
                    changed_syms = syms.take(pa.array(idx[differs]))
                    unchanged_syms = syms.take(pa.array(idx[~differs]))
        to_insert = staged if keep is None else staged.filter(pa.array(keep))
        if len(to_insert):
            cur.register("insert_bars", to_insert)
            cur.execute(
                "INSERT INTO bars SELECT symbol, ts, open, high, low, close, volume"
                " FROM insert_bars"
            )
            with contextlib.suppress(duckdb.Error):
                cur.unregister("insert_bars")
        result.written += n
        result.replaced += changed
        result.unchanged += unchanged
        if by_symbol:
            for sym, k in value_counts(staged["symbol"]):
                result._symbol(sym).written += k
            for sym, k in value_counts(changed_syms) if changed_syms is not None else []:
                result._symbol(sym).replaced += k
            for sym, k in value_counts(unchanged_syms) if unchanged_syms is not None else []:
                result._symbol(sym).unchanged += k

    def _clear(
        self,
        cur: duckdb.DuckDBPyConnection,
        ranges: pa.Table,
        staged: pa.Table,
        result: WriteResult,
    ) -> None:
        """Delete the cache rows inside ``ranges`` whose key ``staged`` does not bring."""
        cur.register("clear_ranges", ranges)
        cur.register("clear_keep", staged.select(["symbol", "ts"]))
        try:
            cur.execute(
                """
                DELETE FROM bars USING clear_ranges c
                WHERE bars.symbol = c.symbol AND bars.ts BETWEEN c.lo AND c.hi
                  AND NOT EXISTS (SELECT 1 FROM clear_keep k
                                  WHERE k.symbol = bars.symbol AND k.ts = bars.ts)
                RETURNING bars.symbol
                """
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                deleted: pa.Table = cur.to_arrow_table()
        finally:
            for name in ("clear_ranges", "clear_keep"):
                with contextlib.suppress(duckdb.Error):  # never hide the first error
                    cur.unregister(name)
        result.removed += deleted.num_rows
        for sym, n in value_counts(deleted["symbol"]) if deleted.num_rows else []:
            result._symbol(sym).removed += n

    def _insert_rejects(self, cur: duckdb.DuckDBPyConnection, rej: pa.Table, source: str) -> None:
        # A row refused before (same values, same reason) is not stored again:
        # a source re-read on every run (the sync's overlap, a re-import) would
        # otherwise grow rejected_bars by the same rows each time.
        cur.register("rejected_in", rej)
        try:
            cur.execute(
                """
                INSERT INTO rejected_bars
                SELECT r.symbol, r.ts, r.open, r.high, r.low, r.close, r.volume, r.reason, ?, now()
                FROM rejected_in r
                WHERE NOT EXISTS (
                    SELECT 1 FROM rejected_bars b
                    WHERE b.reason = r.reason
                      AND b.symbol IS NOT DISTINCT FROM r.symbol
                      AND b.ts IS NOT DISTINCT FROM r.ts
                      AND b.open IS NOT DISTINCT FROM r.open
                      AND b.high IS NOT DISTINCT FROM r.high
                      AND b.low IS NOT DISTINCT FROM r.low
                      AND b.close IS NOT DISTINCT FROM r.close
                      AND b.volume IS NOT DISTINCT FROM r.volume
                )
                """,
                [source],
            )
        finally:
            with contextlib.suppress(duckdb.Error):  # never hide the first error
                cur.unregister("rejected_in")

    def reject(self, rows: pa.Table, *, source: str) -> WriteResult:
        """Store rows a parser could not even turn into bars (all text + ``reason``)."""
        cols = {c: pc.cast(rows[c], pa.string()) for c in ("symbol", "ts", *FIELDS)}
        cols["reason"] = rows["reason"]
        table = pa.table(cols)
        with self._txn() as cur:
            self._insert_rejects(cur, table, source)
        counts: dict[str, int] = {}
        for r in table["reason"].to_pylist():
            counts[r] = counts.get(r, 0) + 1
        return WriteResult(received=len(table), rejected=len(table), rejected_by_reason=counts)

    # -- reads -----------------------------------------------------------------
    def symbols(self) -> list[str]:
        with self.reading() as cur:
            rows = cur.execute("SELECT DISTINCT symbol FROM bars ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def bar_count(self) -> int:
        with self.reading() as cur:
            row = cur.execute("SELECT count(*) FROM bars").fetchone()
        return int(row[0]) if row else 0

    def latest(self, symbols: Sequence[str] | None = None) -> dict[str, np.datetime64]:
        """Newest bar start per symbol (UTC ``datetime64[m]``), for incremental sync."""
        sql = "SELECT symbol, epoch_us(max(ts)) FROM bars"
        params: list[Any] = []
        if symbols is not None:
            sql += " WHERE symbol IN (SELECT unnest(?))"
            params.append(list(symbols))
        with self.reading() as cur:
            rows = cur.execute(sql + " GROUP BY symbol", params).fetchall()
        return {s: _us_to_dt64(t) for s, t in rows}

    def read_bars(
        self, symbols: Sequence[str] | None = None, start: Any = None, end: Any = None
    ) -> pa.Table:
        """Raw bars (Arrow) ordered by symbol, ts; ``end`` is exclusive."""
        where, params = _where(symbols, start, end)
        with self.reading() as cur:
            return cur.sql(
                "SELECT symbol, ts, open, high, low, close, volume FROM bars "
                f"{where} ORDER BY symbol, ts",
                params=params,
            ).to_arrow_table()

    def rejected(self, limit: int | None = None) -> pa.Table:
        sql = "SELECT * FROM rejected_bars ORDER BY rejected_at"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.reading() as cur:
            return cur.sql(sql).to_arrow_table()

    def load_panel(
        self,
        symbols: Sequence[str],
        start: dt.date | str,
        end: dt.date | str,
        hours: str = "regular",
        dtype: type[np.floating] = np.float64,
    ) -> Panel:
        """Dense ``[S, T]`` panel of the sessions ``start..end`` (inclusive dates).

        ``dtype`` float32 halves the memory of a large panel; the engine computes
        in float32 anyway (the console loads its history that way).

        After-close rule (``storage.calendar``): the grid of each session ends at
        its own close, so with ``hours="regular"`` a cached bar stamped at or
        after it (after-hours, or a half day's 13:00–16:00) is in no anchor of
        the panel. Nothing is lost silently: ``storage.quality`` counts those bars
        per symbol (``avwap cache check``; ``loaded_data_note`` for the console).
        """
        start_d, end_d = _as_date(start), _as_date(end)
        grid = calendar.minute_grid(start_d, end_d, hours)
        return self.panel_on_grid(symbols, grid, hours, dtype)

    def panel_on_grid(
        self,
        symbols: Sequence[str],
        grid: calendar.MinuteGrid,
        hours: str = "regular",
        dtype: type[np.floating] = np.float64,
    ) -> Panel:
        """Fill a calendar minute grid with the cached bars of ``symbols``."""
        syms = tuple(symbols)
        s, t = len(syms), len(grid.ts)
        # np.empty + one masked NaN fill beats np.full + scatter: the scatter
        # touches every page anyway, and most cells are usually present.
        arrays = {f: np.empty((s, t), dtype=dtype) for f in FIELDS}
        valid = np.zeros((s, t), dtype=bool)
        if s and t:
            t0 = grid.ts[0].astype("datetime64[m]").astype(np.int64)
            t1 = grid.ts[-1].astype("datetime64[m]").astype(np.int64) + 1
            lookup = np.full(int(t1 - t0), -1, dtype=np.int64)
            lookup[grid.ts.astype(np.int64) - t0] = np.arange(t)
            start_ts = np.datetime64(int(t0), "m").astype("datetime64[us]").item()
            end_ts = np.datetime64(int(t1), "m").astype("datetime64[us]").item()
            with self.reading() as cur:
                reader = (
                    cur
                    .sql(
                        """
                    SELECT s.i AS si, (epoch_us(b.ts) // 60000000)::BIGINT AS m,
                           b.open, b.high, b.low, b.close, b.volume
                    FROM bars b JOIN (SELECT unnest(?) AS symbol,
                                             generate_subscripts(?, 1) - 1 AS i) s
                      USING (symbol)
                    WHERE b.ts >= ? AND b.ts < ?
                    """,
                        params=[list(syms), list(syms), start_ts, end_ts],
                    )
                    .to_arrow_reader(1 << 18)  # ~14 MB batches: bounded peak memory
                )
                flat_valid = valid.ravel()
                for rb in reader:  # scatter batch by batch: no concatenation copy
                    ti = lookup[rb.column(1).to_numpy() - t0]
                    flat = rb.column(0).to_numpy() * t + ti
                    on_grid = ti >= 0
                    if not on_grid.all():
                        flat = flat[on_grid]
                    for j, f in enumerate(FIELDS, start=2):
                        values = rb.column(j).to_numpy()
                        arrays[f].ravel()[flat] = values if on_grid.all() else values[on_grid]
                    flat_valid[flat] = True
        if not valid.all():
            missing = ~valid
            for f in FIELDS:
                np.copyto(arrays[f], 0.0 if f == "volume" else np.nan, where=missing)
        return Panel(
            symbols=syms,
            ts=grid.ts,
            valid=valid,
            segments=grid.segments,
            minute_of_session=grid.minute_of_session,
            session_minutes=grid.session_minutes,
            hours=hours,
            **arrays,
        )

    def coverage(self, symbols: Sequence[str] | None = None) -> list[Coverage]:
        """Per symbol: first/last bar, bar count, trading days, missing sessions."""
        where, params = _where(symbols, None, None)
        with self.reading() as cur:
            rows = cur.execute(
                f"""
            SELECT symbol, epoch_us(min(ts)), epoch_us(max(ts)), count(*),
                   list(DISTINCT CAST(timezone('{calendar.EXCHANGE_TZ}', ts) AS DATE))
            FROM bars {where} GROUP BY symbol ORDER BY symbol
            """,
                params,
            ).fetchall()
        found = {r[0]: r for r in rows}
        out = []
        for sym in symbols if symbols is not None else list(found):
            if sym not in found:
                out.append(Coverage(sym, None, None, 0, 0, ()))
                continue
            _, first, last, count, days = found[sym]
            first64, last64 = _us_to_dt64(first), _us_to_dt64(last)
            sess_idx = calendar.session_index_of(np.array([first64, last64]))
            all_sessions = calendar.schedule().dates[sess_idx[0] : sess_idx[1] + 1]
            have = np.array(days, dtype="datetime64[D]")
            traded = np.isin(all_sessions, have)
            missing = tuple(d.astype(object) for d in all_sessions[~traded])
            out.append(Coverage(sym, first64, last64, int(count), int(traded.sum()), missing))
        return out

    def info(self) -> dict[str, Any]:
        """Totals for ``avwap cache info``."""
        with self.reading() as cur:
            row = cur.execute(
                "SELECT count(*), count(DISTINCT symbol), epoch_us(min(ts)), epoch_us(max(ts))"
                " FROM bars"
            ).fetchone()
            rej = cur.execute("SELECT count(*) FROM rejected_bars").fetchone()
            ver = cur.execute("SELECT max(version) FROM schema_version").fetchone()
            anchors = anchor_counts(self)
        assert row is not None
        return {
            "path": str(self.path),
            "bars": int(row[0]),
            "symbols": int(row[1]),
            "first": _us_to_dt64(row[2]) if row[2] is not None else None,
            "last": _us_to_dt64(row[3]) if row[3] is not None else None,
            "rejected": int(rej[0]) if rej else 0,
            "schema_version": int(ver[0]) if ver and ver[0] is not None else 0,
            "bytes": self.path.stat().st_size if self.path.exists() else 0,
            "anchors": sum(anchors.values()),
            "anchors_by_symbol": anchors,
        }

    def check_unique(self) -> int:
        """Number of duplicated (symbol, ts) keys; 0 is the invariant."""
        with self.reading() as cur:
            row = cur.execute(
                "SELECT count(*) FROM"
                " (SELECT symbol, ts FROM bars GROUP BY ALL HAVING count(*) > 1)"
            ).fetchone()
        return int(row[0]) if row else 0

    def checkpoint(self) -> None:
        with self._hold(write=True) as cur:
            cur.execute("CHECKPOINT")


def _where(symbols: Sequence[str] | None, start: Any, end: Any) -> tuple[str, list[Any]]:
    conds: list[str] = []
    params: list[Any] = []
    if symbols is not None:
        conds.append("symbol IN (SELECT unnest(?))")
        params.append(list(symbols))
    if start is not None:
        conds.append("ts >= ?")
        params.append(_as_ts(start))
    if end is not None:
        conds.append("ts < ?")
        params.append(_as_ts(end))
    return ("WHERE " + " AND ".join(conds)) if conds else "", params


def _as_ts(value: Any) -> dt.datetime:
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _us_to_dt64(value: int) -> np.datetime64:
    """Epoch microseconds (UTC) to ``datetime64[m]``."""
    return np.datetime64(int(value) // MINUTE_US, "m")


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
