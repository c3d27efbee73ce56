"""The sync against a hostile real server: the defects of issue 16, one test each.

Every test runs against the session's throwaway PostgreSQL (``pg_server``) on a
small table made for the case, and would fail without its fix.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import psycopg
from pg_server import seed_standard

from storage.cache import Cache
from storage.pg_config import PgSource
from storage.pg_sync import Selection, run_sync
from tui.cli import main


def source(dsn: str, table: str = "market.bars", **kw: object) -> PgSource:
    return PgSource.from_section(
        {"table": table, "chunk_rows": 500, **kw}, env={"AVWAP_PG_DSN": dsn}
    )


def make_bars(
    dsn: str,
    rows: str,
    *,
    ts_type: str = "timestamptz",
    price: str = "float8",
    volume: str = "bigint",
) -> None:
    """``public.b`` with the given column types and ``rows`` (SQL VALUES text)."""
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            f"CREATE TABLE public.b (symbol text, ts {ts_type}, open {price}, high {price},"
            f" low {price}, close {price}, volume {volume})"
        )
        if rows:
            con.execute(f"INSERT INTO public.b VALUES {rows}")
        con.execute("ANALYZE public.b")


def cli(tmp: Path, dsn: str, *args: str, table: str = "public.b") -> tuple[int, str, str]:
    """``avwap`` in process (same ``main`` and streams as the script)."""
    cfg = tmp / "config.toml"
    cfg.write_text(f'[pg]\ntable = "{table}"\n')
    out, err = io.StringIO(), io.StringIO()
    # Wide enough that rich tables do not wrap a cell over lines.
    env = {"AVWAP_PG_DSN": dsn, "COLUMNS": "300"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--config", str(cfg), "--db", str(tmp / "c.duckdb"), *args])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue()


# 1. rich markup in data ------------------------------------------------------


def test_markup_in_symbols_and_reasons_prints_as_written(pg_dsn: str, tmp_path: Path) -> None:
    make_bars(
        pg_dsn,
        "('[/x]', '2024-03-04 14:30Z', 1, 2, 1, 1.5, 10),"
        " ('[bold]Y', '2024-03-04 14:30Z', 1, 2, 1, 1.5, 10),"
        " ('AAA', '2024-03-04 14:30Z', 3, 2, 1, 1.5, 10)",  # open outside [low, high]
    )
    code, out, err = cli(tmp_path, pg_dsn, "sync", "--progress", "plain")
    assert code == 0, err
    assert "[/x]" in out and "[bold]Y" in out
    assert "open outside [low, high]" in out
    code, out, err = cli(tmp_path, pg_dsn, "cache", "rejected")
    assert code == 0, err
    assert "[/x]" in out and "[bold]Y" in out
    assert "open outside [low, high]" in out


# 3. rejected rows stored once --------------------------------------------------


def test_rejected_rows_are_stored_once_over_many_runs(pg_dsn: str, tmp_path: Path) -> None:
    seed_standard(pg_dsn, 50)
    with Cache(tmp_path / "c.duckdb") as cache:
        first = run_sync(cache, source(pg_dsn), Selection())
        stored = cache.rejected().num_rows
        assert stored == first.result.rejected > 0
        for _ in range(2):
            run_sync(cache, source(pg_dsn), Selection())
            run_sync(cache, source(pg_dsn), Selection(full=True))
        assert cache.rejected().num_rows == stored
