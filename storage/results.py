"""Backtest results in the cache's DuckDB file: runs, statistics, trades, equity.

The tables come from migration 2 (``storage/schema.py``). A run is written in
one transaction (an interrupted save leaves nothing), gets a new id from a
sequence (never overwritten) and is removed only by ``delete_run``. Storage
takes plain rows and Arrow tables (``storage.types.RunTables``); turning an engine result
into them is ``engine.backtest.persist.to_tables`` (the engine itself does no
database I/O).
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from typing import Any

import duckdb

from storage.cache import Cache
from storage.errors import CacheError
from storage.types import RunTables

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "created_at", "strategy", "grid", "combos", "best", "neighbours", "rank_by",
    "symbols", "skipped", "start_date", "end_date", "split_date", "settings", "code_version",
)
JSON_COLUMNS = frozenset({"grid", "combos", "neighbours", "symbols", "skipped", "settings"})
CHILD_TABLES: tuple[str, ...] = ("backtest_stats", "backtest_trades", "backtest_equity")


def save_run(cache: Cache, tables: RunTables) -> int:
    """Write a run in one transaction (``Cache.transaction``); returns its new id."""
    try:
        with cache.transaction() as cur:
            row = cur.execute("SELECT nextval('backtest_run_seq')").fetchone()
            run_id = int(row[0]) if row else 0
            rec = dict(tables.run, run_id=run_id, created_at=dt.datetime.now(dt.UTC))
            values = [json.dumps(rec[c]) if c in JSON_COLUMNS else rec.get(c) for c in RUN_COLUMNS]
            cur.execute(
                f"INSERT INTO backtest_runs ({', '.join(RUN_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                values,
            )
            for name, table in zip(CHILD_TABLES, (tables.stats, tables.trades, tables.equity),
                                   strict=True):
                cur.register("staged", table)
                cols = ", ".join(table.column_names)
                cur.execute(f"INSERT INTO {name} (run_id, {cols}) SELECT ?, {cols} FROM staged",
                            [run_id])
                cur.unregister("staged")
    except duckdb.Error as e:
        raise CacheError(f"saving the backtest to {cache.path} failed: {_first(e)}") from e
    return run_id


def list_runs(cache: Cache) -> list[dict[str, Any]]:
    """Every saved run (newest first) with the best combination's portfolio figures."""
    try:
        with cache.reading() as cur:
            rows = cur.execute(
            """
            SELECT r.run_id, r.created_at, r.strategy, r.start_date, r.end_date,
                   json_array_length(r.symbols) AS n_symbols,
                   json_array_length(r.combos) AS n_combos,
                   max(CASE WHEN s.stat = 'total_return' THEN s.value END) AS total_return,
                   max(CASE WHEN s.stat = 'sharpe' THEN s.value END) AS sharpe,
                   max(CASE WHEN s.stat = 'max_drawdown' THEN s.value END) AS max_drawdown,
                   max(CASE WHEN s.stat = 'trades' THEN s.value END) AS trades
            FROM backtest_runs r
            LEFT JOIN backtest_stats s ON s.run_id = r.run_id AND s.combo = r.best
                 AND s.symbol = '*' AND s.period = 'all'
            GROUP BY ALL ORDER BY r.run_id DESC
            """
            ).fetchall()
            names = [d[0] for d in cur.description or []]
    except duckdb.Error as e:
        raise CacheError(f"reading backtests from {cache.path} failed: {_first(e)}") from e
    return [dict(zip(names, r, strict=True)) for r in rows]


def load_run(cache: Cache, run_id: int) -> RunTables:
    """One run: its record, statistics, trades and equity; CacheError if there is none."""
    try:
        with cache.reading() as cur:
            row = cur.execute(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM backtest_runs WHERE run_id = ?", [run_id]
            ).fetchone()
            if row is None:
                raise CacheError(
                    f"no backtest run {run_id} in {cache.path} (see `avwap backtests`)")
            run = {c: json.loads(v) if c in JSON_COLUMNS else v
                   for c, v in zip(RUN_COLUMNS, row, strict=True)}
            with warnings.catch_warnings():
                # A parameterized result is fetched from the DB-API cursor; the extra
                # copy DuckDB warns about is one run's rows.
                warnings.simplefilter("ignore", UserWarning)
                out = [cur.execute(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? "
                                   "ORDER BY ALL", [run_id]).to_arrow_table()
                       for t in CHILD_TABLES]
    except duckdb.Error as e:
        raise CacheError(f"reading backtest {run_id} from {cache.path} failed: {_first(e)}") from e
    return RunTables(run=run, stats=out[0], trades=out[1], equity=out[2])


def delete_run(cache: Cache, run_id: int) -> None:
    """Remove a run and everything saved with it (one transaction)."""
    try:
        with cache.transaction() as cur:
            hit = cur.execute("SELECT count(*) FROM backtest_runs WHERE run_id = ?",
                              [run_id]).fetchone()
            if not hit or not hit[0]:
                raise CacheError(
                    f"no backtest run {run_id} in {cache.path} (see `avwap backtests`)")
            for t in (*CHILD_TABLES, "backtest_runs"):
                cur.execute(f"DELETE FROM {t} WHERE run_id = ?", [run_id])
    except duckdb.Error as e:
        raise CacheError(f"deleting backtest {run_id} failed: {_first(e)}") from e


def _first(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
