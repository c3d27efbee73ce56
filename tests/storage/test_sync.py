"""The PostgreSQL → DuckDB sync against a real server: correctness of the data.

First sync, incremental sync, corrections in the overlap, the column mapping
of a table with other names and zone-less timestamps, and the progress events.
Every check compares the cache with the source's valid rows as stated
independently in SQL (``pg_server.expected_rows``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import psycopg
import pytest
from pg_server import NASTY_REJECTS, QUOTED, expected_rows, seed_standard

from storage.cache import Cache
from storage.pg_config import PgSource
from storage.pg_sync import Selection, SyncReport, run_sync, sync_events

MINUTES = 400


def source(dsn: str, **kw: object) -> PgSource:
    section = {"table": "market.bars", "chunk_rows": 500, **kw}
    return PgSource.from_section(section, env={"AVWAP_PG_DSN": dsn})


def cache_rows(cache: Cache) -> list[tuple]:
    t = cache.read_bars().to_pylist()
    return sorted(
        (
            (r["symbol"], r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
            for r in t
        ),
        key=lambda r: (r[0], r[1]),
    )


def check_report(rep: SyncReport) -> None:
    """Per-symbol figures add up to the totals the cache reported."""
    per = rep.per_symbol.values()
    assert sum(s.read for s in per) == rep.result.received
    assert sum(s.written for s in per) == rep.result.written
    assert sum(s.replaced for s in per) == rep.result.replaced
    assert sum(s.unchanged for s in per) == rep.result.unchanged
    assert sum(s.rejected for s in per) == rep.result.rejected
    # Every row read is written (new, changed or unchanged), rejected or a duplicate.
    t = rep.result
    assert t.received == t.written + t.rejected + t.duplicates


@pytest.fixture
def seeded(pg_dsn: str) -> str:
    seed_standard(pg_dsn, MINUTES)
    return pg_dsn


def test_first_sync_equals_the_source_valid_rows(seeded: str, tmp_path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, source(seeded), Selection())
        assert cache_rows(cache) == expected_rows(seeded)
        assert cache.check_unique() == 0
        assert rep.result.rejected_by_reason == NASTY_REJECTS
        assert rep.per_symbol[QUOTED].rejected_by_reason == {"invalid symbol": 2}
        assert rep.per_symbol["BRK.B"].written == MINUTES
        assert rep.chunks > 1 and not rep.stopped
        check_report(rep)
        rejected = cache.rejected().to_pylist()
        assert {r["reason"] for r in rejected} == set(NASTY_REJECTS)
        assert all(r["source"] == rep.source_tag for r in rejected)


def test_incremental_reads_little_and_picks_up_new_rows(seeded: str, tmp_path) -> None:
    src = source(seeded, overlap_minutes=5)
    with Cache(tmp_path / "c.duckdb") as cache:
        first = run_sync(cache, src, Selection())
        again = run_sync(cache, src, Selection())
        # Each cached symbol re-reads its overlap (6 minutes incl. the newest
        # bar) plus the rows the cache refused (they are never cached).
        cached_syms = len(cache.symbols())
        assert again.rows_read <= cached_syms * 6 + first.result.rejected
        assert again.rows_read < first.rows_read / 20
        # Nothing new, nothing changed: the overlap re-read is counted, not rewritten.
        assert again.result.written == again.result.unchanged
        assert again.result.replaced == 0
        with psycopg.connect(seeded, autocommit=True) as con:
            con.execute(
                "INSERT INTO market.bars SELECT symbol, ts + interval '1 day', open, high, low,"
                " close, volume FROM market.bars WHERE symbol = 'EEE'"
            )
        third = run_sync(cache, src, Selection())
        eee = third.per_symbol["EEE"]
        assert eee.written - eee.replaced - eee.unchanged == MINUTES
        assert cache_rows(cache) == expected_rows(seeded)
        check_report(third)


def test_a_correction_in_the_overlap_replaces_the_old_value(seeded: str, tmp_path) -> None:
    src = source(seeded, overlap_minutes=30)
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, src, Selection(symbols=("AAA", "BBB")))
        with psycopg.connect(seeded, autocommit=True) as con:
            con.execute(
                "UPDATE market.bars SET close = close + 0.25, volume = 1 "
                "WHERE symbol = 'AAA' "
                "AND ts = (SELECT max(ts) FROM market.bars WHERE symbol = 'AAA')"
                " - interval '10 min'"
            )
        rep = run_sync(cache, src, Selection(symbols=("AAA", "BBB")))
        # The overlap plus the newest bar were read; one of them really changed.
        aaa = rep.per_symbol["AAA"]
        assert (aaa.read, aaa.replaced, aaa.unchanged) == (31, 1, 30)
        assert rep.per_symbol["BBB"].replaced == 0
        check_report(rep)
        want = [r for r in expected_rows(seeded) if r[0] in ("AAA", "BBB")]
        assert cache_rows(cache) == want
        assert any(r[6] == 1.0 for r in want if r[0] == "AAA")


def test_selection_by_symbols_and_since(seeded: str, tmp_path) -> None:
    since = dt.datetime(2024, 3, 4, 20, 0, tzinfo=dt.UTC)  # T0 + 330 min
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, source(seeded), Selection(symbols=("BRK.B", "ZZZ"), since=since))
        rows = cache_rows(cache)
        assert {r[0] for r in rows} == {"BRK.B"}
        assert len(rows) == MINUTES - 330
        assert min(r[1] for r in rows) == since
        assert set(rep.per_symbol) == {"BRK.B"}


def test_full_resync_rewrites_without_duplicates(seeded: str, tmp_path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        run_sync(cache, source(seeded), Selection(symbols=("AAA",)))
        rep = run_sync(cache, source(seeded), Selection(symbols=("AAA",), full=True))
        assert rep.result.unchanged == rep.result.written == MINUTES + 1
        assert rep.result.replaced == 0
        assert cache.check_unique() == 0
        check_report(rep)


def test_progress_events(seeded: str, tmp_path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        events = list(sync_events(cache, source(seeded, chunk_rows=1000), Selection()))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"chunk"}
    assert events[0].total is not None and events[0].total > 0
    reads = [e.rows_read for e in events]
    assert reads == sorted(reads) and reads[-1] == events[-1].report.rows_read
    assert all(e.rows_read - p.rows_read <= 1000 for p, e in itertools.pairwise(events))


def test_stop_event_ends_after_the_current_chunk(seeded: str, tmp_path) -> None:
    import threading

    stop = threading.Event()
    with Cache(tmp_path / "c.duckdb") as cache:
        events = []
        for ev in sync_events(cache, source(seeded), Selection(), stop=stop):
            events.append(ev)
            if ev.kind == "chunk":
                stop.set()
        assert [e.kind for e in events] == ["start", "chunk", "stopped"]
        assert 250 <= events[-1].report.rows_read <= 500  # one chunk (cut where a symbol starts)
        assert cache.bar_count() == events[-1].report.result.written
        assert events[-1].report.stopped
        rep = run_sync(cache, source(seeded), Selection())
        assert cache_rows(cache) == expected_rows(seeded)
        check_report(rep)


# ── the column mapping: other names, zone-less timestamps, other types ─────────

_MAPPED = """
CREATE TABLE public.minute_bars (
    ticker text, datetime timestamp without time zone,
    o numeric(12, 4), h real, l double precision, c double precision, v bigint);
INSERT INTO public.minute_bars VALUES
  ('SPY', '2024-03-08 09:30', 510.25, 510.5, 510.0, 510.25, 100),   -- EST: 14:30Z
  ('SPY', '2024-03-08 09:31', 510.25, 510.75, 510.0, 510.5, 200),
  ('SPY', '2024-03-11 09:30', 512.0, 512.5, 511.5, 512.25, 300),    -- EDT: 13:30Z
  ('BRK.B', '2024-03-11 09:30', 400.0, 401.0, 399.0, 400.5, 50),
  ('SPY', NULL, 1, 1, 1, 1, 1);
"""


def test_column_mapping_and_zone_conversion(pg_dsn: str, tmp_path) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute(_MAPPED)
    cols = {"symbol": "ticker", "ts": "datetime", "open": "o", "high": "h", "low": "l"}
    cols |= {"close": "c", "volume": "v"}
    src = PgSource.from_section(
        {
            "table": "public.minute_bars",
            "ts_type": "timestamp",
            "ts_zone": "America/New_York",
            "columns": cols,
        },
        env={"AVWAP_PG_DSN": pg_dsn},
    )
    utc = dt.UTC
    with Cache(tmp_path / "c.duckdb") as cache:
        rep = run_sync(cache, src, Selection())
        assert rep.result.rejected_by_reason == {"missing value": 1}
        assert cache_rows(cache) == [
            (
                "BRK.B",
                dt.datetime(2024, 3, 11, 13, 30, tzinfo=utc),
                400.0,
                401.0,
                399.0,
                400.5,
                50.0,
            ),
            (
                "SPY",
                dt.datetime(2024, 3, 8, 14, 30, tzinfo=utc),
                510.25,
                510.5,
                510.0,
                510.25,
                100.0,
            ),
            (
                "SPY",
                dt.datetime(2024, 3, 8, 14, 31, tzinfo=utc),
                510.25,
                510.75,
                510.0,
                510.5,
                200.0,
            ),
            (
                "SPY",
                dt.datetime(2024, 3, 11, 13, 30, tzinfo=utc),
                512.0,
                512.5,
                511.5,
                512.25,
                300.0,
            ),
        ]
        # Incremental on a zone-less column: the bound is converted on the server.
        again = run_sync(cache, dataclasses.replace(src, overlap_minutes=0), Selection())
        assert again.rows_read == 2  # the newest bar of each symbol
