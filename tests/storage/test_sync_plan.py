"""What the sync asks the server: read-only sessions, the per-symbol plan, deletes.

Against the session's real PostgreSQL: a role with nothing but SELECT (and no
right to create temporary tables), a database whose sessions are read-only,
the plan of a no-op incremental run with and without an index on (symbol, ts),
``avwap sync --explain``, and ``--full`` following rows deleted in the source.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import psycopg
import pytest
from pg_server import expected_rows, seed_standard

from storage.cache import Cache
from storage.pg_config import PgSource
from storage.pg_sync import Selection, explain, run_sync
from tui.cli import main

MINUTES = 120


def source(dsn: str, **kw: object) -> PgSource:
    return PgSource.from_section(
        {"table": "market.bars", "chunk_rows": 300, **kw}, env={"AVWAP_PG_DSN": dsn}
    )


def cache_rows(cache: Cache) -> list[tuple]:
    return sorted(
        (r["symbol"], r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
        for r in cache.read_bars().to_pylist()
    )


@pytest.fixture
def seeded(pg_dsn: str) -> str:
    seed_standard(pg_dsn, MINUTES)
    return pg_dsn


def _reader_dsn(admin_dsn: str, role: str, password: str) -> str:
    dbname = admin_dsn.split("dbname=")[1].split()[0]
    with psycopg.connect(admin_dsn, autocommit=True) as con:
        con.execute(f"DROP ROLE IF EXISTS {role}")
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        # Nothing but SELECT: no temporary tables (PUBLIC has TEMP by default).
        con.execute(f"REVOKE ALL ON DATABASE {dbname} FROM PUBLIC")
        con.execute(f"GRANT CONNECT ON DATABASE {dbname} TO {role}")
        con.execute(f"GRANT USAGE ON SCHEMA market TO {role}")
        con.execute(f"GRANT SELECT ON market.bars TO {role}")
    return admin_dsn.replace("user=avwap_admin", f"user={role}").replace(
        "password=s3cr3t-Pa55", f"password={password}"
    )


def test_a_select_only_role_can_sync(seeded: str, tmp_path: Path) -> None:
    dsn = _reader_dsn(seeded, "avwap_reader", "r3ader-Pa55")
    with psycopg.connect(dsn) as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute("CREATE TEMP TABLE x (a int)")  # the role really is that poor
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, source(dsn), Selection())
        run_sync(cache, source(dsn), Selection())  # incremental: the per-symbol plan
        run_sync(cache, source(dsn), Selection(symbols=("AAA",), full=True))
        assert cache_rows(cache) == expected_rows(seeded)


def test_read_only_sessions_can_sync(seeded: str, tmp_path: Path) -> None:
    dbname = seeded.split("dbname=")[1].split()[0]
    with psycopg.connect(seeded, autocommit=True) as con:
        con.execute(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    with psycopg.connect(seeded) as con, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        con.execute("CREATE TEMP TABLE x (a int)")
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, source(seeded), Selection())
        run_sync(cache, source(seeded, max_connections=1), Selection(since=None))
        assert cache_rows(cache) == expected_rows(seeded)


def test_a_no_op_incremental_run_reads_only_the_overlap_through_the_index(
    seeded: str, tmp_path: Path
) -> None:
    src = source(seeded, overlap_minutes=10)
    with Cache(tmp_path / "c.duckdb") as cache:
        first = run_sync(cache, src, Selection())
        plans = explain(cache, src, Selection())
        text = "\n".join(line for _, plan in plans for line in plan)
        assert "Index" in text and "Seq Scan" not in text
        again = run_sync(cache, src, Selection())
        symbols = len(cache.symbols())
        # The overlap and the newest bar, plus rows after it the cache refuses.
        assert again.rows_read <= symbols * 11 + first.result.rejected
        assert cache_rows(cache) == expected_rows(seeded)
        with psycopg.connect(seeded, autocommit=True) as con:
            con.execute("DROP INDEX market.bars_symbol_ts_idx")
        # Without the index the server must scan: still only the overlap comes back.
        plans = explain(cache, src, Selection())
        assert "Seq Scan" in "\n".join(line for _, plan in plans for line in plan)
        again = run_sync(cache, src, Selection())
        assert again.rows_read <= symbols * 11 + first.result.rejected
        assert cache_rows(cache) == expected_rows(seeded)


def test_sync_explain_shows_the_servers_plan(seeded: str, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[pg]\ntable = "market.bars"\n')
    db = tmp_path / "c.duckdb"
    with Cache(db) as cache:
        run_sync(cache, source(seeded), Selection())
        before = cache.bar_count()
    os.environ["AVWAP_PG_DSN"] = seeded
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = main(["--config", str(cfg), "--db", str(db), "sync", "--explain"])
    finally:
        os.environ.pop("AVWAP_PG_DSN", None)
    text = out.getvalue()
    assert code == 0
    assert "index on (symbol, time): yes" in text and "stream 1: about" in text
    assert "Index Scan" in text
    with Cache(db, read_only=True) as cache:
        assert cache.bar_count() == before


def test_full_mirrors_deletes_inside_each_symbols_span(seeded: str, tmp_path: Path) -> None:
    src = source(seeded)
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, src, Selection())
        with psycopg.connect(seeded, autocommit=True) as con:
            con.execute(
                "DELETE FROM market.bars WHERE symbol = 'AAA' AND ts >= "
                "'2024-03-04 15:00Z' AND ts < '2024-03-04 15:10Z'"
            )  # 10 bars inside AAA's span
            con.execute(
                "UPDATE market.bars SET high = low - 1 WHERE symbol = 'BBB' "
                "AND ts = '2024-03-04 15:00Z'"
            )  # now invalid in the source
            con.execute("DELETE FROM market.bars WHERE symbol = 'CCC'")  # gone entirely
        ccc = [r for r in cache_rows(cache) if r[0] == "CCC"]
        incremental = run_sync(cache, src, Selection())
        assert incremental.result.removed == 0  # incremental runs never delete
        full = run_sync(cache, src, Selection(full=True))
        assert full.result.removed == 11
        assert full.per_symbol["AAA"].removed == 10 and full.per_symbol["BBB"].removed == 1
        rows = cache_rows(cache)
        assert [r for r in rows if r[0] != "CCC"] == expected_rows(seeded)
        assert [r for r in rows if r[0] == "CCC"] == ccc  # not in the source: left alone
        assert cache.check_unique() == 0


def test_a_hot_standby_can_sync(pg_server, seeded: str, tmp_path: Path) -> None:
    from pg_server import start_standby

    try:
        standby = start_standby(pg_server)
    except RuntimeError as e:
        pytest.skip(f"no hot standby here: {e}")
    try:
        dsn = seeded.replace(f"port={pg_server.port}", f"port={standby.port}")
        with psycopg.connect(dsn) as con:
            row = con.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row is not None and row[0] is True
        with Cache(tmp_path / "c.duckdb") as cache:
            run_sync(cache, source(dsn), Selection())
            run_sync(cache, source(dsn), Selection())
            assert cache_rows(cache) == expected_rows(seeded)
    finally:
        standby.stop()


@pytest.mark.parametrize("indexed", [True, False])
def test_two_parallel_streams_give_exactly_the_source(
    seeded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexed: bool
) -> None:
    import storage.pg_sync as pg_sync

    monkeypatch.setattr(pg_sync, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(pg_sync, "stream_count", lambda src: 2)
    with psycopg.connect(seeded, autocommit=True) as con:
        con.execute(
            "INSERT INTO market.bars SELECT 'ZZ' || s, ts, open, high, low, close, volume"
            " FROM market.bars, generate_series(1, 30) AS s WHERE symbol = 'AAA'"
        )  # enough symbols for a histogram to cut the table in two
        if not indexed:
            con.execute("DROP INDEX market.bars_symbol_ts_idx")
        con.execute("ANALYZE market.bars")
    src = source(seeded, chunk_rows=400)
    with Cache(tmp_path / "c.duckdb") as cache:
        stop = __import__("threading").Event()
        first = None
        for ev in pg_sync.sync_events(cache, src, Selection(), stop=stop):
            if ev.kind == "chunk":
                stop.set()  # a partial run: each stream left a prefix
            first = ev
        assert first is not None and first.report.streams == 2 and first.report.stopped
        rep = run_sync(cache, src, Selection())
        assert rep.streams == 2
        assert cache_rows(cache) == expected_rows(seeded)
        full = run_sync(cache, src, Selection(full=True))
        assert full.streams == 2 and full.result.removed == 0
        assert cache_rows(cache) == expected_rows(seeded) and cache.check_unique() == 0
