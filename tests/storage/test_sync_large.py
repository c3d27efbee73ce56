"""The sync against a larger source (issue 27), each case on the real server.

1. Many symbols: every incremental run re-reads each symbol's overlap, so a
   chunk overlaps the cache everywhere. The write must fit the sync's memory
   limit whatever the universe, and the first error must never be hidden by a
   cleanup's. Scaled down: 1,500 symbols × 720 bars under a 24 MB limit fail
   the way 5,000 symbols did under 64 MB.
"""

from __future__ import annotations

import psycopg
import pytest

from storage.cache import Cache
from storage.pg_config import PgSource
from storage.pg_sync import Selection, explain, run_sync

T0 = "2024-03-04 14:30:00+00"


def seed_many(dsn: str, symbols: int, minutes: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            "CREATE TABLE public.bars (symbol text, ts timestamptz, open float8, high float8,"
            " low float8, close float8, volume bigint, PRIMARY KEY (symbol, ts))"
        )
        con.execute(
            """
            INSERT INTO public.bars
            SELECT 'S' || lpad(s::text, 4, '0'), %(t0)s::timestamptz + m * interval '1 minute',
                   100 + (m %% 13) * 0.01, 101, 99, 100 + (m %% 7) * 0.01, 1000 + m
            FROM generate_series(0, %(s)s - 1) AS s, generate_series(0, %(m)s - 1) AS m
            """,
            {"t0": T0, "s": symbols, "m": minutes},
        )
        con.execute("VACUUM ANALYZE public.bars")


def source(dsn: str, **kw: object) -> PgSource:
    return PgSource.from_section({"table": "public.bars", **kw}, env={"AVWAP_PG_DSN": dsn})


@pytest.fixture
def many(pg_dsn: str) -> str:
    seed_many(pg_dsn, 1500, 720)
    return pg_dsn


def test_incremental_sync_of_many_symbols_fits_the_memory_limit(many: str, tmp_path) -> None:
    src = source(many)
    with Cache(tmp_path / "c.duckdb", memory_limit="24MB") as cache:
        first = run_sync(cache, src, Selection())
        assert first.result.written == 1500 * 720
        with psycopg.connect(many, autocommit=True) as con:  # one new minute for every symbol
            con.execute(
                "INSERT INTO public.bars SELECT symbol, ts + interval '1 minute', open, high, low,"
                " close, volume FROM public.bars WHERE ts = (SELECT max(ts) FROM public.bars)"
            )
        again = run_sync(cache, src, Selection())
        t = again.result
        assert t.received == 1500 * 62  # the 60-minute overlap, the newest bar, the new one
        assert (t.written, t.replaced, t.unchanged) == (1500 * 62, 0, 1500 * 61)
        assert cache.bar_count() == 1500 * 721
    # The invariant's own check (a GROUP BY of every key) under the default limit.
    with Cache(tmp_path / "c.duckdb") as check:
        assert check.check_unique() == 0


# 2. the autumn fall-back hour of a zone-less column ---------------------------------


def test_the_repeated_fall_back_hour_is_refused_and_every_row_counted(
    pg_dsn: str, tmp_path
) -> None:
    # 2024-11-03, New York: 00:00 .. 02:59 local, with every 01:xx minute twice
    # (once in daylight time, once in standard time: the column cannot say which).
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute(
            "CREATE TABLE public.b (symbol text, ts timestamp, open float8, high float8,"
            " low float8, close float8, volume bigint)"
        )
        con.execute(
            """
            INSERT INTO public.b
            SELECT 'SPY', timestamp '2024-11-03 00:00' + m * interval '1 minute',
                   5 + k, 5 + k, 5 + k, 5 + k, 1
            FROM generate_series(0, 179) AS m, generate_series(0, 1) AS k
            WHERE k = 0 OR m BETWEEN 60 AND 119
            """
        )
    src = PgSource.from_section(
        {"table": "public.b", "ts_type": "timestamp", "ts_zone": "America/New_York"},
        env={"AVWAP_PG_DSN": pg_dsn},
    )
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, src, Selection())
        t = rep.result
        reason = "local time repeated by a DST change (ambiguous without a zone)"
        assert t.received == 240
        assert t.rejected_by_reason == {reason: 120}
        assert (t.written, t.duplicates) == (120, 0)
        assert t.received == t.written + t.rejected + t.duplicates
        rows = cache.read_bars().to_pylist()
        assert len(rows) == 120
        assert str(rows[0]["ts"]) == "2024-11-03 04:00:00+00:00"  # 00:00 EDT
        assert str(rows[60]["ts"]) == "2024-11-03 07:00:00+00:00"  # 02:00 EST
        refused = cache.rejected().to_pylist()
        assert min(r["ts"] for r in refused) == "2024-11-03 01:00:00"  # as the source holds it


# 4. the read's shape above 2,000 symbols ---------------------------------------------


def test_an_incremental_read_of_many_symbols_is_index_scans_without_a_sort(
    pg_dsn: str, tmp_path
) -> None:
    seed_many(pg_dsn, 2100, 90)
    src = source(pg_dsn, overlap_minutes=30)
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, src, Selection())
        (_stream, plan), = explain(cache, src, Selection())
        text = "\n".join(plan)
        # One index range scan per symbol (at most a sort of that symbol's few
        # rows); never the whole table, never a hash join of it, never a sort
        # of the whole read (it spilled to disk).
        assert plan[0].startswith("Nested Loop"), text
        assert "Index" in text and "Seq Scan" not in text and "Hash" not in text, text
        again = run_sync(cache, src, Selection())
        assert again.rows_read == 2100 * 31
        assert again.result.unchanged == 2100 * 31 and again.result.replaced == 0
        assert cache.check_unique() == 0
