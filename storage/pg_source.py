"""Reading minute bars out of PostgreSQL, read-only: a control session and COPY streams.

Why two drivers: the control work (catalog checks, the symbol list, the
planner's estimate, ``EXPLAIN``) needs ordinary queries with parameters, which
psycopg does well; the bulk read needs speed, and the ADBC PostgreSQL driver
decodes the server's binary COPY into Arrow columns in C++ (psycopg hands each
row to Python: about half the rate). The control session is closed before the
streams open, so a sync holds at most ``max_connections`` connections.

Read-only by construction: every session is put in ``READ ONLY`` mode before
its first query, nothing is created on the server (no temporary tables, no
functions), so a role with only ``SELECT`` on the table, a session with
``default_transaction_read_only = on`` and a hot standby all work.

Safety of the SQL text: identifiers come from ``pg_config`` (validated) and are
quoted here; values (symbols, resume points, the zone) are rendered as
literals by psycopg's own quoting (``psycopg.sql.Literal``) for the connection
they are sent on. COPY takes no bind parameters, so literals are the only way
to send values with it; no value is ever pasted into SQL by hand.

The read plan per symbol: with an index whose first keys are (symbol, time)
the read is one ``UNION ALL`` branch per symbol (``symbol = 'X' AND ts >=
resume point``), each an index range scan, so a run with nothing new reads
only the overlap windows; the symbol list itself comes from a loose index scan
(one index probe per symbol). Without such an index the server must scan the
whole table once whatever the query (a hash join against the resume points).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from storage.errors import ConfigError, SourceError
from storage.pg_config import PgSource, scrub

if TYPE_CHECKING:
    from psycopg import sql

#: Column types read as ``float8`` on the server (exact: every value fits).
_EXACT_FLOAT = ("double precision", "real", "smallint", "integer")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HOUR = dt.timedelta(hours=1)
_READ_ONLY = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
#: No parallel workers either: they would be processes on the user's server
#: beyond ``max_connections`` (and start-up cost for a small incremental read).
_NO_WORKERS = "SET max_parallel_workers_per_gather = 0"


@dataclass(frozen=True)
class TableInfo:
    """What the catalog says about the source table."""

    types: Mapping[str, str]
    """``format_type`` per column."""
    indexed: bool
    """A valid btree index leads with (symbol, ts): per-symbol range reads are cheap."""


@dataclass(frozen=True)
class ReadPlan:
    """What to read.

    ``starts``: per symbol, the first bar to read (UTC epoch µs, ``None`` for
    the whole history of that symbol), or ``None`` for every symbol from
    ``floor``. ``others``: also read every symbol not in ``starts`` from
    ``floor`` (an incremental run over all symbols without an index to list
    them). ``floor``: the earliest bar for any symbol (UTC epoch µs) or ``None``.
    """

    starts: Mapping[str, int | None] | None
    floor: int | None = None
    others: bool = False


@dataclass
class Stream:
    """One SELECT of a read; streams cover disjoint symbol ranges."""

    sql: str
    estimate: int | None = None
    symbols: tuple[str | None, str | None] = (None, None)
    """The symbol range (inclusive lower, exclusive upper) this stream reads."""
    detail: dict[str, Any] = field(default_factory=dict)


def q(ident: str) -> str:
    """Quote a (validated) identifier."""
    return '"' + ident.replace('"', '""') + '"'


def us_to_dt(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


class PgSession:
    """The control connection (psycopg, read-only): checks, symbols, plans, EXPLAIN."""

    def __init__(self, src: PgSource) -> None:
        self.src = src
        self._con: Any = None
        self.info = TableInfo(types={}, indexed=False)

    # -- connection ------------------------------------------------------------
    def open(self) -> PgSession:
        dsn = self.src.require_dsn()
        import psycopg

        try:
            self._con = psycopg.connect(dsn, autocommit=True, application_name="avwap sync")
            self._con.execute(_READ_ONLY)
            self._con.execute(_NO_WORKERS)
        except psycopg.Error as e:
            self.close()
            raise SourceError(f"cannot connect to PostgreSQL: {pg_msg(e, self.src.dsn)}") from None
        try:
            self.info = self._check_mapping()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._con is not None:
            with contextlib.suppress(Exception):
                self._con.close()
            self._con = None

    def __enter__(self) -> PgSession:
        return self.open() if self._con is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, query: sql.Composable | str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return list(self._con.execute(query, params or None).fetchall())
        except Exception as e:
            raise SourceError(
                f"cannot read PostgreSQL table {self.src.qualified}: {pg_msg(e, self.src.dsn)}"
            ) from None

    def _relation(self) -> sql.Composable:
        from psycopg import sql

        return sql.Identifier(self.src.schema, self.src.table)

    # -- mapping checks --------------------------------------------------------
    def _check_mapping(self) -> TableInfo:
        """Fail early, with the name of what is missing, before touching the cache."""
        src = self.src
        found = self._rows(
            "SELECT c.oid FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (src.schema, src.table),
        )
        if not found:
            raise SourceError(f"PostgreSQL table {src.qualified} does not exist (check [pg] table)")
        oid = found[0][0]
        cols = self._rows(
            "SELECT attname, format_type(atttypid, atttypmod), attnum FROM pg_catalog.pg_attribute"
            " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,),
        )
        types = {name: typ for name, typ, _ in cols}
        attnum = {name: num for name, _, num in cols}
        missing = [f"{c} (for {r})" for r, c in src.columns.items() if c not in types]
        if missing:
            raise SourceError(
                f"PostgreSQL table {src.qualified} has no column {', '.join(missing)}; "
                "map the columns in [pg.columns]"
            )
        ts_col = src.columns["ts"]
        ts_pg = types[ts_col]
        want = (
            "timestamp with time zone"
            if src.ts_type == "timestamptz"
            else "timestamp without time zone"
        )
        if ts_pg != want:
            hint = (
                "set ts_type = 'timestamp' and ts_zone to the zone it is in"
                if ts_pg == "timestamp without time zone"
                else "set ts_type = 'timestamptz'"
                if ts_pg == "timestamp with time zone"
                else "the timestamp column must be timestamptz or timestamp"
            )
            raise SourceError(
                f"PostgreSQL column {src.qualified}.{ts_col} is {ts_pg}, "
                f"but [pg] ts_type is {src.ts_type}: {hint}"
            )
        indexed = self._rows(
            "SELECT count(*) FROM pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
            "JOIN pg_catalog.pg_am am ON am.oid = ic.relam "
            "WHERE i.indrelid = %s AND i.indisvalid AND am.amname = 'btree' "
            "AND i.indpred IS NULL AND i.indnkeyatts >= 2 "
            "AND i.indkey[0] = %s AND i.indkey[1] = %s",
            (oid, attnum[src.columns["symbol"]], attnum[ts_col]),
        )
        return TableInfo(types=types, indexed=bool(indexed and indexed[0][0]))

    # -- what is in the source ---------------------------------------------------
    def source_symbols(self) -> list[str]:
        """The distinct symbols of the table (a loose index scan: one probe per symbol)."""
        from psycopg import sql

        sym = sql.Identifier(self.src.columns["symbol"])
        rel = self._relation()
        query = sql.SQL(
            "WITH RECURSIVE s(v) AS ("
            " (SELECT t.{sym} FROM {rel} t WHERE t.{sym} IS NOT NULL ORDER BY t.{sym} LIMIT 1)"
            " UNION ALL"
            " SELECT (SELECT t.{sym} FROM {rel} t WHERE t.{sym} > s.v ORDER BY t.{sym} LIMIT 1)"
            " FROM s WHERE s.v IS NOT NULL)"
            " SELECT v::text FROM s WHERE v IS NOT NULL"
        ).format(sym=sym, rel=rel)
        return [r[0] for r in self._rows(query)]

    def split_points(self, parts: int) -> list[str]:
        """Symbols that cut the table into ``parts`` ranges of about equal rows
        (from the planner's histogram, ``pg_stats``; empty when it has none)."""
        rows = self._rows(
            "SELECT histogram_bounds::text::text[] FROM pg_catalog.pg_stats"
            " WHERE schemaname = %s AND tablename = %s AND attname = %s",
            (self.src.schema, self.src.table, self.src.columns["symbol"]),
        )
        if not rows or parts < 2:
            return []
        bounds = rows[0][0] or []
        # The histogram is in the column's own sort order (its collation), the
        # order the range conditions use.
        if len(bounds) >= parts:
            return [bounds[len(bounds) * i // parts] for i in range(1, parts)]
        # Few symbols: all are most-common values, listed by frequency. One cut
        # where half the rows lie before it (one cut is always a consistent
        # split, whatever the collation sorting them here).
        mcv = self._rows(
            "SELECT v, f FROM (SELECT unnest(most_common_vals::text::text[]) AS v,"
            " unnest(most_common_freqs) AS f FROM pg_catalog.pg_stats"
            " WHERE schemaname = %s AND tablename = %s AND attname = %s) x ORDER BY v",
            (self.src.schema, self.src.table, self.src.columns["symbol"]),
        )
        total = sum(f for _, f in mcv)
        acc = 0.0
        for v, f in mcv:
            if acc >= total / 2 and acc > 0:
                return [v]
            acc += f
        return []

    # -- the read ----------------------------------------------------------------
    def streams(self, plan: ReadPlan, parts: int = 1) -> list[Stream]:
        """The SELECT(s) of ``plan``, split into up to ``parts`` symbol ranges."""
        cuts = self._cuts(plan, parts)
        ranges = list(zip([None, *cuts], [*cuts, None], strict=True))
        out = []
        for lo, hi in ranges:
            text = self._query(plan, lo, hi).as_string(self._con)
            out.append(Stream(sql=text, symbols=(lo, hi)))
        for s in out:
            s.estimate = self.estimate(s.sql)
        return out

    def _cuts(self, plan: ReadPlan, parts: int) -> list[str]:
        if parts < 2:
            return []
        if self._per_symbol(plan):
            syms = sorted(plan.starts or ())
            if len(syms) < parts:
                return []
            return [syms[len(syms) * i // parts] for i in range(1, parts)]
        return self.split_points(parts)

    def _per_symbol(self, plan: ReadPlan) -> bool:
        """One index range scan per symbol: an index to use and a start per symbol."""
        return self.info.indexed and plan.starts is not None and not plan.others

    def _query(self, plan: ReadPlan, lo: str | None, hi: str | None) -> sql.Composable:
        from psycopg import sql

        t = {r: sql.SQL("t.{}").format(sql.Identifier(n)) for r, n in self.src.columns.items()}
        cols = self._select_list(t)
        rel = self._relation()
        conds: list[sql.Composable] = []
        if plan.floor is not None:
            conds.append(self._since(t["ts"], plan.floor))
        # Symbol range of a stream, in the server's own order (its collation).
        ranged = list(conds)
        if lo is not None:
            ranged.append(sql.SQL("{} >= {}").format(t["symbol"], sql.Literal(lo)))
        if hi is not None:
            ranged.append(sql.SQL("{} < {}").format(t["symbol"], sql.Literal(hi)))
        order = sql.SQL(" ORDER BY {}, {}").format(t["symbol"], t["ts"])

        if plan.starts is None:
            return sql.SQL("SELECT {} FROM {} t").format(cols, rel) + _where(ranged) + order

        starts = dict(plan.starts)
        if self._per_symbol(plan):
            # One index range scan per symbol, merged in (symbol, ts) order; a
            # stream's symbols are its share of the list (cut in Python order).
            starts = {
                s: v
                for s, v in starts.items()
                if (lo is None or s >= lo) and (hi is None or s < hi)
            }
            if not starts:
                return sql.SQL("SELECT {} FROM {} t WHERE false").format(cols, rel)
            return self._lateral(starts, conds)

        # No index to range over: one scan, joined to the resume points (all of
        # them in every stream; the stream's range is the server's condition).
        conds = ranged
        if not starts and not plan.others:
            return sql.SQL("SELECT {} FROM {} t WHERE false").format(cols, rel)
        values: sql.Composable = sql.SQL(", ").join(
            sql.SQL("({}::text, {}::timestamp, {}::timestamptz)").format(
                sql.Literal(s), *self._bounds(v)
            )
            for s, v in sorted(starts.items())
        )
        if not starts:
            values = sql.SQL("(NULL::text, NULL::timestamp, NULL::timestamptz)")
        local = sql.SQL("w.lb") if self.src.ts_type == "timestamp" else sql.SQL("w.ub")
        resume = sql.SQL("(w.ub IS NULL OR ({ts} >= {lb} AND {utc} >= w.ub))").format(
            ts=t["ts"], lb=local, utc=self._utc(t["ts"])
        )
        if plan.others:
            join = sql.SQL("LEFT JOIN")
            resume = sql.SQL("(w.s IS NULL OR {})").format(resume)
        else:
            join = sql.SQL("JOIN")
        return (
            sql.SQL("SELECT {} FROM {} t {} (VALUES {}) AS w(s, lb, ub) ON {} = w.s").format(
                cols, rel, join, values, t["symbol"]
            )
            + _where([resume, *conds])
            + order
        )

    def _lateral(self, starts: Mapping[str, int | None], conds: Sequence[sql.Composable]
                 ) -> sql.Composable:
        """One index range scan per symbol, driven by the list of resume points.

        Why this shape: the resume points are one ``unnest`` of three arrays (a
        plan of a few nodes whatever the number of symbols; a ``UNION ALL`` of
        one branch per symbol took the planner seconds beyond ~2,000 symbols,
        and a ``VALUES`` join beyond that turned into a sequential scan with a
        hash join). For each symbol the inner ``ORDER BY ts`` is the index's own
        order, and a nested loop emits its outer rows in turn: the stream comes
        out symbol by symbol (the list's order), each in time order, with no
        sort of the whole read (an outer ``ORDER BY`` sorted 1.85 M rows on
        disk). Kill safety needs exactly that: each symbol contiguous, in time.
        """
        from psycopg import sql

        con = self._con
        t = {r: sql.SQL("t.{}").format(sql.Identifier(n)) for r, n in self.src.columns.items()}
        x = {r: sql.SQL("x.{}").format(sql.Identifier(n)) for r, n in self.src.columns.items()}
        raw = sql.SQL(", ").join(
            sql.SQL("t.{}").format(sql.Identifier(n))
            for n in dict.fromkeys(self.src.columns.values())
        )
        syms = sorted(starts)
        bounds = [self._bound_values(starts[s]) for s in syms]
        # Rendered as text and joined: composing thousands of literals object by
        # object costs psycopg most of a second.
        def array(values: list[Any], typ: str) -> str:
            items = ",".join(sql.Literal(v).as_string(con) for v in values)
            return f"ARRAY[{items}]::{typ}[]"

        arrays = ", ".join((
            array(syms, "text"),
            array([b[0] for b in bounds], "timestamp"),
            array([b[1] for b in bounds], "timestamptz"),
        ))
        if self.src.ts_type == "timestamp":
            resume = sql.SQL(
                "{ts} >= coalesce(w.lb, '-infinity'::timestamp)"
                " AND {utc} >= coalesce(w.ub, '-infinity'::timestamptz)"
            ).format(ts=t["ts"], utc=self._utc(t["ts"]))
        else:
            resume = sql.SQL("{ts} >= coalesce(w.ub, '-infinity'::timestamptz)").format(
                ts=t["ts"])
        inner = sql.SQL("SELECT {raw} FROM {rel} t WHERE {sym} = w.s AND {resume}").format(
            raw=raw, rel=self._relation(), sym=t["symbol"], resume=resume)
        inner = inner + sql.SQL("").join(sql.SQL(" AND ") + c for c in conds)
        inner = inner + sql.SQL(" ORDER BY {}").format(t["ts"])
        return sql.SQL(
            "SELECT {cols} FROM unnest({arrays}) AS w(s, lb, ub) CROSS JOIN LATERAL ({inner}) x"
        ).format(cols=self._select_list(x), arrays=sql.SQL(arrays), inner=inner)

    def _bound_values(self, us: int | None) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(local wall time for a zone-less column, UTC) of a resume point."""
        if us is None:
            return None, None
        utc = us_to_dt(us)
        if self.src.ts_type != "timestamp":
            return None, utc
        # The raw column is local wall time: an hour earlier covers a DST fold
        # after the bound; the exact cut is the UTC condition beside it.
        zone = zoneinfo.ZoneInfo(self.src.ts_zone or "UTC")
        return (utc.astimezone(zone) - _HOUR).replace(tzinfo=None), utc

    def _select_list(self, t: Mapping[str, sql.Composable]) -> sql.Composable:
        from psycopg import sql

        ts = t["ts"]
        items = [sql.SQL("{}::text AS symbol").format(t["symbol"])]
        items.append(sql.SQL("{} AS ts").format(self._utc(ts)))
        if self.src.ts_type == "timestamp":
            zone = sql.Literal(self.src.ts_zone)
            bad = sql.SQL(
                "NOT isfinite({ts}) OR (({ts} AT TIME ZONE {z}) AT TIME ZONE {z}) <> {ts}"
            ).format(ts=ts, z=zone)
        else:
            bad = sql.SQL("NOT isfinite({})").format(ts)
        # The source's own text of a timestamp the cache cannot take (±infinity,
        # a local time skipped by a DST change), NULL for every other row.
        items.append(sql.SQL("CASE WHEN {} THEN {}::text END AS bad_ts").format(bad, ts))
        if self.src.ts_type == "timestamp":
            # A local time the fall-back repeats (01:xx in New York on the first
            # Sunday of November) names two instants an hour apart: a zone-less
            # column cannot say which, so such rows are refused with a reason
            # (``pg_rows.DST_FOLD``), never folded silently onto one key.
            items.append(sql.SQL(
                "CASE WHEN isfinite({ts}) AND ((({ts} AT TIME ZONE {z}) - interval '1 hour')"
                " AT TIME ZONE {z} = {ts} OR (({ts} AT TIME ZONE {z}) + interval '1 hour')"
                " AT TIME ZONE {z} = {ts}) THEN {ts}::text END AS fold_ts"
            ).format(ts=ts, z=zone))
        for role in ("open", "high", "low", "close", "volume"):
            typ = self.info.types.get(self.src.columns[role], "")
            if typ in _EXACT_FLOAT:
                expr = sql.SQL("{}::float8")
            elif typ == "bigint":
                # Prices: float8 (a bigint price is cents or so, far below 2^53);
                # volume: as is, so one above 2^53 is seen and refused, not rounded.
                expr = sql.SQL("{}") if role == "volume" else sql.SQL("{}::float8")
            else:
                # numeric, text, …: their text, converted (or refused) row by row
                # on this side, so one bad value cannot abort the whole read.
                expr = sql.SQL("{}::text")
            items.append(expr.format(t[role]) + sql.SQL(" AS {}").format(sql.Identifier(role)))
        return sql.SQL(", ").join(items)

    def _utc(self, ts: sql.Composable) -> sql.Composable:
        from psycopg import sql

        if self.src.ts_type == "timestamp":
            return sql.SQL("({} AT TIME ZONE {})").format(ts, sql.Literal(self.src.ts_zone))
        return ts

    def _bounds(self, us: int | None) -> tuple[sql.Composable, sql.Composable]:
        """(local bound for the raw column, UTC bound) of a resume point."""
        from psycopg import sql

        if us is None:
            return sql.Literal(None), sql.Literal(None)
        utc = us_to_dt(us)
        if self.src.ts_type != "timestamp":
            return sql.Literal(None), sql.Literal(utc)
        # The raw column is local wall time: an hour earlier covers a DST fold
        # after the bound; the exact cut is the UTC condition beside it.
        zone = zoneinfo.ZoneInfo(self.src.ts_zone or "UTC")
        local = (utc.astimezone(zone) - _HOUR).replace(tzinfo=None)
        return sql.Literal(local), sql.Literal(utc)

    def _since(self, ts: sql.Composable, us: int) -> sql.Composable:
        from psycopg import sql

        local, utc = self._bounds(us)
        if self.src.ts_type == "timestamp":
            return sql.SQL("{ts} >= {lb}::timestamp AND {u} >= {ub}::timestamptz").format(
                ts=ts, lb=local, u=self._utc(ts), ub=utc
            )
        return sql.SQL("{} >= {}::timestamptz").format(ts, utc)

    # -- the planner ---------------------------------------------------------------
    def estimate(self, query: str) -> int | None:
        """The planner's row estimate for ``query`` (cheap; for the progress bar's ETA)."""
        try:
            row = self._con.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()
            return int(row[0][0]["Plan"]["Plan Rows"])
        except Exception:
            return None

    def explain(self, query: str) -> list[str]:
        """The plan the server will run for ``query`` (``EXPLAIN``; nothing is executed)."""
        return [r[0] for r in self._rows("EXPLAIN " + query)]


_OUT = ("symbol", "ts", "bad_ts", "open", "high", "low", "close", "volume")


def _where(conds: Sequence[sql.Composable]) -> sql.Composable:
    from psycopg import sql

    if not conds:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)


# ── the bulk read (ADBC) ───────────────────────────────────────────────────────


def read_batches(
    src: PgSource, query: str, on_cursor: Callable[[Callable[[], None]], None] | None = None
) -> Generator[pa.RecordBatch, None, None]:
    """Stream ``query``'s rows as Arrow batches over a connection of its own.

    The connection is read-only and closed when the iterator is closed or
    exhausted. ``on_cursor`` receives the statement's cancel function before
    the query starts (another thread may call it to end the read at once); it
    may raise to refuse the start. ADBC's low-level API, not its DB-API layer:
    that one imports ``pyarrow.dataset`` and pandas (about a second of start-up).
    """
    try:
        import adbc_driver_manager as adbc
        import adbc_driver_postgresql
    except ModuleNotFoundError as e:  # pragma: no cover - dependency present in CI
        raise ConfigError(
            "the PostgreSQL sync needs adbc-driver-postgresql: "
            "pip install 'adbc-driver-postgresql>=1.0'"
        ) from e
    failed = f"reading {src.qualified} from PostgreSQL failed"
    handles: list[Any] = []
    try:
        try:
            db = adbc_driver_postgresql.connect(src.require_dsn())
            handles.append(db)
            con = adbc.AdbcConnection(db)
            handles.append(con)
        except Exception as e:
            raise SourceError(f"cannot connect to PostgreSQL: {adbc_msg(e, src.dsn)}") from None
        try:
            for setting in (_READ_ONLY, _NO_WORKERS):
                setup = adbc.AdbcStatement(con)
                setup.set_sql_query(setting)
                setup.execute_update()
                setup.close()
            stmt = adbc.AdbcStatement(con)
            handles.append(stmt)
            if on_cursor is not None:
                on_cursor(stmt.cancel)
            stmt.set_sql_query(query)
            stream, _ = stmt.execute_query()
            reader = pa.RecordBatchReader._import_from_c(stream.address)
        except Exception as e:
            raise SourceError(f"{failed}: {adbc_msg(e, src.dsn)}") from None
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except Exception as e:
                raise SourceError(f"{failed}: {adbc_msg(e, src.dsn)}") from None
            if batch.num_rows:
                yield batch
    finally:
        for handle in reversed(handles):
            with contextlib.suppress(Exception):  # may be broken or half read
                handle.close()


# ── messages ──────────────────────────────────────────────────────────────────


def pg_msg(e: BaseException, dsn: str) -> str:
    """One human line from a psycopg error, the password scrubbed out."""
    text = str(e)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else type(e).__name__
    for prefix in ("connection failed: ",):
        if line.startswith(prefix):
            line = line[len(prefix) :]
    if any("Is the server running" in ln for ln in lines[1:]):
        line += " (is the server running and accepting TCP/IP connections?)"
    return scrub(line, dsn)


def adbc_msg(e: BaseException, dsn: str) -> str:
    """One human line from an ADBC driver error, the password scrubbed out."""
    text = str(e)
    for prefix in ("IO: ", "NOT_FOUND: ", "INVALID_ARGUMENT: ", "INVALID_STATE: ", "UNKNOWN: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.replace("[libpq] ", "").replace("Failed to connect: ", "")
    text = text.replace("Failed to prepare query: ", "")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else type(e).__name__
    for marker in ("ERROR:", "FATAL:"):
        if marker in line:
            line = line.split(marker, 1)[1].strip()
    if "\tIs the server running" in text or (len(lines) > 1 and "Is the server" in lines[1]):
        line += " (is the server running and accepting TCP/IP connections?)"
    return scrub(line, dsn)
