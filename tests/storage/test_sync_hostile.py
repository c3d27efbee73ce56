"""The sync against a hostile real server: the defects of issue 16, one test each.

Every test runs against the session's throwaway PostgreSQL (``pg_server``) on a
small table made for the case, and would fail without its fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
from pathlib import Path

import numpy as np
import psycopg
from pg_server import seed_standard

from storage.cache import Cache
from storage.pg_config import PgSource
from storage.pg_sync import Selection, run_sync, sync_events
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


def rows_of(cache: Cache) -> list[tuple]:
    return sorted(
        (r["symbol"], r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
        for r in cache.read_bars().to_pylist()
    )


def rejected_of(cache: Cache) -> list[tuple]:
    return sorted((r["symbol"], r["ts"], r["reason"]) for r in cache.rejected().to_pylist())


UTC = dt.UTC


def minute_rows(sym: str, start: str, n: int, price: str = "10") -> str:
    """SQL VALUES text of ``n`` good one-minute bars of ``sym`` from ``start``."""
    return ", ".join(
        f"('{sym}', timestamptz '{start}' + interval '{i} min', {price}, {price}, {price}, "
        f"{price}, {i})"
        for i in range(n)
    )


# 2. future bars -----------------------------------------------------------------


def test_a_future_bar_is_refused_and_never_stops_incremental_sync(
    pg_dsn: str, tmp_path: Path
) -> None:
    make_bars(pg_dsn, minute_rows("AAA", "2024-03-04 14:30Z", 5))
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("INSERT INTO public.b VALUES ('AAA', '2031-01-02 15:00Z', 10, 10, 10, 10, 1)")
    src = source(pg_dsn, "public.b", overlap_minutes=0)
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, src, Selection())
        assert rep.result.rejected_by_reason == {"timestamp in the future": 1}
        assert rejected_of(cache) == [
            ("AAA", "2031-01-02 15:00:00.000000Z", "timestamp in the future")
        ]
        assert cache.latest()["AAA"] == np.datetime64("2024-03-04T14:34")
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            con.execute(f"INSERT INTO public.b VALUES {minute_rows('AAA', '2024-03-05 14:30Z', 3)}")
        again = run_sync(cache, src, Selection())
        aaa = again.per_symbol["AAA"]
        assert aaa.written - aaa.replaced - aaa.unchanged == 3
        assert cache.latest()["AAA"] == np.datetime64("2024-03-05T14:32")
        assert cache.rejected().num_rows == 1  # refused again, stored once


# 6. values that do not convert ---------------------------------------------------


def test_values_that_do_not_convert_refuse_their_row_only(pg_dsn: str, tmp_path: Path) -> None:
    good = minute_rows("AAA", "2024-03-04 14:30Z", 40, price="'10.5'")
    bad = (
        "('AAA', '2024-03-05 14:30Z', 'n/a', '11', '10', '10.5', '7'),"
        " ('BBB', '2024-03-05 14:30Z', '10', '11', '10', '1e400', '7'),"
        " ('BBB', '2024-03-05 14:31Z', ' 10 ', '11', '10', '10.5', '7')"
    )
    make_bars(pg_dsn, f"{good}, {bad}", price="text", volume="text")
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute(
            "CREATE TABLE public.n (symbol text, ts timestamptz, open numeric, high numeric,"
            " low numeric, close numeric, volume numeric)"
        )
        con.execute(
            "INSERT INTO public.n VALUES ('CCC', '2024-03-04 14:30Z', 1e400, 2, 1, 1, 1),"
            " ('CCC', '2024-03-04 14:31Z', 1.25, 2, 1, 1.5, 3)"
        )
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, source(pg_dsn, "public.b"), Selection())
        assert rep.result.rejected_by_reason == {
            "value not a number": 1,
            "value out of float64 range": 1,
        }
        assert rep.result.written == 41
        rej = {r["reason"]: r for r in cache.rejected().to_pylist()}
        assert rej["value not a number"]["open"] == "n/a"
        assert rej["value out of float64 range"]["close"] == "1e400"
        num = run_sync(cache, source(pg_dsn, "public.n"), Selection())
        assert num.result.rejected_by_reason == {"value out of float64 range": 1}
        assert num.result.written == 1
        assert [r for r in rows_of(cache) if r[0] == "CCC"] == [
            ("CCC", dt.datetime(2024, 3, 4, 14, 31, tzinfo=UTC), 1.25, 2.0, 1.0, 1.5, 3.0)
        ]


# 9. volumes above 2^53 ---------------------------------------------------------


def test_a_volume_above_2_53_is_refused_not_rounded(pg_dsn: str, tmp_path: Path) -> None:
    make_bars(
        pg_dsn,
        "('AAA', '2024-03-04 14:30Z', 1, 1, 1, 1, 9007199254740993),"
        " ('AAA', '2024-03-04 14:31Z', 1, 1, 1, 1, 9007199254740991)",
    )
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, source(pg_dsn, "public.b"), Selection())
        assert rep.result.rejected_by_reason == {
            "volume of 2^53 or more (cannot be stored exactly)": 1
        }
        assert [r["volume"] for r in cache.rejected().to_pylist()] == ["9007199254740993"]
        assert [r[6] for r in rows_of(cache)] == [9007199254740991.0]


# 12. ±infinity timestamps --------------------------------------------------------


def test_infinite_timestamps_are_refused_as_such(pg_dsn: str, tmp_path: Path) -> None:
    make_bars(
        pg_dsn,
        "('AAA', 'infinity', 1, 1, 1, 1, 1), ('AAA', '-infinity', 1, 1, 1, 1, 1),"
        " ('AAA', '2024-03-04 14:30Z', 1, 1, 1, 1, 1)",
    )
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, source(pg_dsn, "public.b"), Selection())
        assert rep.result.rejected_by_reason == {"infinite timestamp": 2}
        assert sorted(r["ts"] for r in cache.rejected().to_pylist()) == ["-infinity", "infinity"]
        assert len(rows_of(cache)) == 1


# 10. local times skipped at spring-forward ---------------------------------------


def test_nonexistent_new_york_times_are_refused_not_lost(pg_dsn: str, tmp_path: Path) -> None:
    # 2024-03-10: 01:00 .. 03:59 local, every minute; 02:00-02:59 does not exist.
    rows = ", ".join(
        f"('SPY', timestamp '2024-03-10 01:00' + interval '{i} min', 5, 5, 5, 5, 1)"
        for i in range(180)
    )
    make_bars(pg_dsn, rows, ts_type="timestamp")
    src = PgSource.from_section(
        {"table": "public.b", "ts_type": "timestamp", "ts_zone": "America/New_York"},
        env={"AVWAP_PG_DSN": pg_dsn},
    )
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, src, Selection())
        reason = "local time that does not exist (skipped by a DST change)"
        assert rep.rows_read == 180
        assert rep.result.rejected_by_reason == {reason: 60}
        assert rep.result.written == 120
        ts = [r[1] for r in rows_of(cache)]
        assert ts[0] == dt.datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 01:00 EST
        assert ts[60] == dt.datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT
        assert min(r["ts"] for r in cache.rejected().to_pylist()) == "2024-03-10 02:00:00"


# 11. more duplicates of one key than rows per chunk ------------------------------


def test_greatest_duplicate_wins_even_beyond_a_chunk(pg_dsn: str, tmp_path: Path) -> None:
    dups = ", ".join(
        f"('AAA', '2024-03-04 14:31Z', {p}, {p}, {p}, {p}, 1)" for p in range(100, 0, -1)
    )
    make_bars(pg_dsn, f"{minute_rows('AAA', '2024-03-04 14:30Z', 1)}, {dups}")
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, source(pg_dsn, "public.b", chunk_rows=7), Selection())
        rows = rows_of(cache)
        assert len(rows) == 2 and rows[1][2] == 100.0
        assert cache.check_unique() == 0


# 13. the row estimate of a zone-less table ----------------------------------------


def test_row_estimate_of_a_zone_less_table_is_close(pg_dsn: str, tmp_path: Path) -> None:
    rows = ", ".join(
        f"('S{s}', timestamp '2024-03-04 09:30' + interval '{i} min', 5, 5, 5, 5, 1)"
        for s in range(4)
        for i in range(500)
    )
    make_bars(pg_dsn, rows, ts_type="timestamp")
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE INDEX ON public.b (symbol, ts)")
        con.execute("ANALYZE public.b")
    src = PgSource.from_section(
        {
            "table": "public.b",
            "ts_type": "timestamp",
            "ts_zone": "America/New_York",
            "overlap_minutes": 30,
        },
        env={"AVWAP_PG_DSN": pg_dsn},
    )
    with Cache(tmp_path / "c.duckdb") as cache:
        events = list(sync_events(cache, src, Selection()))
        assert 1000 <= events[0].total <= 4000 and events[-1].rows_read == 2000
        again = list(sync_events(cache, src, Selection()))
        read = again[-1].rows_read  # the overlap (31) plus the hour of DST slack, per symbol
        assert read <= 4 * 91
        assert read / 3 <= again[0].total <= read * 3


# 14. a failed sync touches no cache -------------------------------------------------


def test_a_failed_sync_creates_no_cache_file(pg_server, tmp_path: Path) -> None:
    dsn = pg_server.dsn().replace(f"port={pg_server.port}", "port=1")
    db = tmp_path / "deep" / "dir" / "c.duckdb"
    cfg = tmp_path / "config.toml"
    cfg.write_text('[pg]\ntable = "public.b"\n')
    os.environ["AVWAP_PG_DSN"] = dsn
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(["--config", str(cfg), "--db", str(db), "sync", "--progress", "none"])
    finally:
        os.environ.pop("AVWAP_PG_DSN", None)
    assert code == 2 and "cannot connect to PostgreSQL" in err.getvalue()
    assert not (tmp_path / "deep").exists()
