"""CSV import: both real SPY formats give the same bars; bad rows kept with reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from storage.cache import Cache
from storage.csv_import import (
    NO_SESSION,
    NONEXISTENT_TIME,
    UNKNOWN_TZ,
    UNPARSABLE_TIME,
    import_csv,
    layout_for,
)
from storage.errors import ImportError_

SPY = Path(__file__).resolve().parents[3] / "shared" / "data" / "spy-2011"
needs_spy = pytest.mark.skipif(not SPY.exists(), reason=f"real SPY data not found at {SPY}")


@pytest.fixture
def cache(tmp_path):
    with Cache(tmp_path / "c.duckdb") as c:
        yield c


@needs_spy
@pytest.mark.parametrize(
    ("month", "nt_file", "bars", "sessions"),
    [("01", "nt-spy-minute-2011.csv", 14_180, 20), ("03", "nt-spy-minute-2011-03.csv", 17_577, 23)],
)
def test_utc_bar_end_and_et_bar_start_give_the_same_bars(tmp_path, month, nt_file, bars, sessions):
    with Cache(tmp_path / "a.duckdb") as a, Cache(tmp_path / "b.duckdb") as b:
        ra = import_csv(a, SPY / nt_file, layout_for("ninjatrader", symbol="SPY"))
        rb = import_csv(b, SPY / f"SPY_1min_2011-{month}.csv", layout_for("iso", symbol="SPY"))
        assert ra.written == rb.written == bars and ra.rejected == rb.rejected == 0
        assert a.read_bars().equals(b.read_bars())
        (cov,) = a.coverage(["SPY"])
        assert cov.trading_days == sessions and cov.missing_sessions == ()


@needs_spy
def test_facts_from_the_data_readme(cache):
    import_csv(cache, SPY / "SPY_1min_2011-01.csv", layout_for("iso", symbol="SPY"))
    import_csv(cache, SPY / "nt-spy-minute-2011-03.csv", layout_for("ninjatrader", symbol="SPY"))
    jan = cache.load_panel(["SPY"], "2011-01-31", "2011-01-31", hours="extended")
    # The last January bar is dated 2011-02-01 in UTC but belongs to the January 31 session.
    last = jan.ts[jan.valid[0]][-1]
    assert str(last.astype("datetime64[D]")) == "2011-02-01"
    mar = cache.load_panel(["SPY"], "2011-03-11", "2011-03-14")
    assert mar.close[0, 389] == 130.84  # the 15:59 ET bar of 2011-03-11
    assert mar.ts[390] == np.datetime64("2011-03-14T13:30")  # DST: the open moved to 13:30 UTC
    assert cache.coverage(["SPY"])[0].bars == 14_180 + 17_577


def test_bad_rows_are_kept_with_reasons(cache, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        "timestamp,symbol,open,high,low,close,volume\n"
        "2024-03-08T09:30:00-05:00,AAA,10,11,9,10.5,100\n"
        "2024-03-08T09:31:00,AAA,10,11,9,10.5,100\n"  # no zone, none stated
        "yesterday,AAA,10,11,9,10.5,100\n"
        "2024-03-08T09:33:00-05:00,AAA,ten,11,9,10.5,100\n"
        "2024-03-08T09:34:00-05:00,AAA,10,9,11,10.5,100\n"  # high < low
        "2024-03-08T09:35:00-05:00,,10,11,9,10.5,100\n"
    )
    r = import_csv(cache, f, layout_for("iso"))
    assert r.written == 1 and r.rejected == 5
    assert r.rejected_by_reason == {
        UNKNOWN_TZ: 1,
        UNPARSABLE_TIME: 1,
        "not a number in open": 1,
        "high below low": 1,
        "missing value": 1,
    }
    rej = {row["reason"]: row for row in cache.rejected().to_pylist()}
    assert rej["not a number in open"]["open"] == "ten"  # kept as received
    assert rej[UNKNOWN_TZ]["ts"] == "2024-03-08T09:31:00"


def test_stated_zone_and_dst_gap(cache, tmp_path):
    f = tmp_path / "local.csv"
    f.write_text(
        "ts,open,high,low,close,volume\n"
        "2024-03-08 09:30:00,10,11,9,10.5,100\n"
        "2024-03-10 02:30:00,10,11,9,10.5,100\n"  # does not exist in New York
    )
    r = import_csv(cache, f, layout_for(None, symbol="aaa", tz="America/New_York"))
    assert r.written == 1 and r.rejected_by_reason == {NONEXISTENT_TIME: 1}
    assert cache.read_bars()["ts"][0].as_py() == dt.datetime(2024, 3, 8, 14, 30, tzinfo=dt.UTC)
    assert cache.symbols() == ["AAA"]


def test_layout_errors_name_the_problem(cache, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("when,o,h,l,c,v\n2024-03-08T09:30:00Z,1,1,1,1,1\n")
    with pytest.raises(ImportError_, match=r"x\.csv: no column\(s\) ts, open"):
        import_csv(cache, f, layout_for(None, symbol="A"))
    ok = import_csv(
        cache,
        f,
        layout_for(
            None, symbol="A", columns=("ts", "open", "high", "low", "close", "volume"), header=False
        ),
    )
    assert ok.written == 1 and ok.rejected == 1  # the header line is a bad row, not lost
    with pytest.raises(ImportError_, match="no such file"):
        import_csv(cache, tmp_path / "missing.csv", layout_for("iso"))
    with pytest.raises(ImportError_, match="no symbol column"):
        import_csv(
            cache, f, layout_for(None, columns=("ts", "open", "high", "low", "close", "volume"))
        )


# ── issue 17, items 12 and 13 ────────────────────────────────────────────────


def test_unreadable_inputs_are_one_clear_error(cache, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportError_, match=r"empty\.csv: the file is empty"):
        import_csv(cache, empty, layout_for("iso", symbol="A"))
    with pytest.raises(ImportError_, match="is a directory"):
        import_csv(cache, tmp_path, layout_for("iso", symbol="A"))
    with pytest.raises(ImportError_, match="unknown time zone 'Mars/Olympus'"):
        layout_for("iso", tz="Mars/Olympus")


def test_each_bad_row_is_one_rejected_row_and_every_row_is_counted(cache, tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text(
        "ts,symbol,open,high,low,close,volume\n"
        "2024-01-02T14:30Z,AAA,1,2,0.5,1.5,10\n"
        "2024-01-02T14:31Z,AAA,1,2,0.5,1.5,10,99\n"  # an extra field
        "2024-01-02T14:32Z,AAA,1e308,1e308,1e308,1e308,10\n"  # absurd prices
        "2024-01-06T14:33Z,AAA,1,2,0.5,1.5,10\n"  # a Saturday
        "2024-01-02T14:34Z,AAA,1,2,0.5,1.5,10\n"
        "2024-01-02T14:34Z,AAA,1,2,0.5,1.6,10\n"  # the same minute again: the last wins
        "2024-01-02T14:36Z,AAA,1,2,0.5,3,10\n"  # close outside [low, high]
    )
    r = import_csv(cache, f, layout_for("iso"))
    assert (r.received, r.written, r.duplicates, r.rejected) == (7, 2, 1, 4)
    assert r.received == r.written + r.duplicates + r.rejected
    assert r.rejected_by_reason == {
        "wrong number of fields (expected 7, saw 8)": 1,
        "price above 10,000,000": 1,
        NO_SESSION: 1,
        "close outside [low, high]": 1,
    }
    rej = {row["reason"]: row for row in cache.rejected().to_pylist()}
    extra = rej["wrong number of fields (expected 7, saw 8)"]
    assert extra["ts"] == "2024-01-02T14:31Z" and extra["volume"] == "10,99"  # nothing lost
    assert cache.read_bars()["close"].to_pylist() == [1.5, 1.6]


def test_bar_end_labels_are_checked_against_the_trading_day_by_their_start(cache, tmp_path):
    # Bar end 01:00 UTC Jan 3 = a bar starting 19:59 ET on Tuesday Jan 2: a trading day.
    f = tmp_path / "nt.csv"
    f.write_text("20240103 010000;1;2;0.5;1.5;10\n20240106 150000;1;2;0.5;1.5;10\n")
    r = import_csv(cache, f, layout_for("ninjatrader", symbol="AAA"))
    assert r.written == 1 and r.rejected_by_reason == {NO_SESSION: 1}


def test_extra_fields_are_found_in_every_chunk(cache, tmp_path):
    f = tmp_path / "chunks.csv"
    rows = [f"2024-01-02T14:{30 + i}Z,AAA,1,2,0.5,1.5,10" for i in range(6)]
    rows[3] += ",77"
    rows[5] += ",88"
    f.write_text("ts,symbol,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    r = import_csv(cache, f, layout_for("iso"), chunk_rows=2)
    assert (r.written, r.rejected) == (4, 2)
    kept = sorted((x["ts"], x["volume"]) for x in cache.rejected().to_pylist())
    assert kept == [("2024-01-02T14:33Z", "10,77"), ("2024-01-02T14:35Z", "10,88")]
