"""The DuckDB cache: idempotent writes, rejected rows and reasons, panels, coverage."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from storage import calendar, validate
from storage.cache import Cache, bars_table
from storage.errors import CacheError
from storage.schema import MIGRATIONS


@pytest.fixture
def cache(tmp_path):
    with Cache(tmp_path / "c.duckdb") as c:
        yield c


def _bars(symbols=("AAA", "BBB"), day=dt.date(2024, 3, 8), n=30, price=100.0, seed=1):
    grid = calendar.minute_grid(day, day)
    ts = grid.ts[:n]
    rng = np.random.default_rng(seed)
    sym, t, o, h, lo, c, v = [], [], [], [], [], [], []
    for s in symbols:
        close = np.round(price + np.cumsum(rng.normal(0, 0.1, n)), 2)
        open_ = np.round(close + rng.normal(0, 0.05, n), 2)
        sym += [s] * n
        t.append(ts)
        o.append(open_)
        c.append(close)
        h.append(np.maximum(open_, close) + 0.02)
        lo.append(np.minimum(open_, close) - 0.02)
        v.append(rng.integers(1, 10_000, n).astype(float))
    return bars_table(sym, np.concatenate(t), *(np.concatenate(a) for a in (o, h, lo, c, v)))


def test_schema_version_recorded(cache):
    assert cache.info()["schema_version"] == len(MIGRATIONS)


def test_writing_twice_leaves_one_copy(cache):
    bars = _bars()
    first = cache.write_bars(bars)
    second = cache.write_bars(bars)
    assert (first.written, first.replaced) == (60, 0)
    # The same values again change nothing: counted as unchanged, not replaced.
    assert (second.written, second.replaced, second.unchanged) == (60, 0, 60)
    assert cache.bar_count() == 60
    assert cache.check_unique() == 0


def test_newer_value_replaces_older(cache):
    cache.write_bars(_bars())
    newer = _bars(symbols=("AAA",), price=200.0, seed=9).slice(5, 1)
    r = cache.write_bars(newer)
    assert (r.written, r.replaced) == (1, 1)
    got = cache.read_bars(["AAA"]).slice(5, 1)
    assert got["close"][0].as_py() == newer["close"][0].as_py()
    assert cache.bar_count() == 60


def test_duplicates_inside_one_batch_keep_the_last(cache):
    bars = _bars(symbols=("AAA",), n=3)
    later = bars.slice(1, 1).set_column(5, "close", pa.array([bars["close"][1].as_py() + 0.01]))
    later = later.set_column(3, "high", pa.array([later["close"][0].as_py() + 1]))
    r = cache.write_bars(pa.concat_tables([bars, later]))
    assert r.written == 3 and cache.bar_count() == 3
    assert cache.read_bars()["close"][1].as_py() == later["close"][0].as_py()


BAD_ROWS = [
    # (column, value, reason)
    ("open", float("nan"), validate.NON_FINITE),
    ("low", -1.0, validate.NON_POSITIVE),
    ("high", 0.5, validate.HIGH_BELOW_LOW),
    ("open", 1000.0, validate.OPEN_OUTSIDE),
    ("close", 1000.0, validate.CLOSE_OUTSIDE),
    ("volume", -5.0, validate.BAD_VOLUME),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_ROWS)
def test_bad_rows_are_kept_with_their_reason(cache, column, value, reason):
    bars = _bars(symbols=("AAA",), n=10)
    col = bars[column].to_pylist()
    col[3] = value
    bad = bars.set_column(bars.column_names.index(column), column, pa.array(col))
    r = cache.write_bars(bad, source="unit")
    assert r.written == 9 and r.rejected == 1
    assert r.rejected_by_reason == {reason: 1}
    rej = cache.rejected().to_pylist()
    assert len(rej) == 1 and rej[0]["reason"] == reason and rej[0]["source"] == "unit"
    assert rej[0]["symbol"] == "AAA"
    assert cache.bar_count() == 9


def test_off_minute_timestamp_rejected(cache):
    bars = _bars(symbols=("AAA",), n=4)
    ts = bars["ts"].to_numpy().astype("datetime64[us]").copy()
    ts[2] += np.timedelta64(30, "s")
    bad = bars.set_column(1, "ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    r = cache.write_bars(bad)
    assert r.rejected_by_reason == {validate.OFF_MINUTE: 1}


def test_timestamp_without_zone_rejected(cache):
    bars = _bars(symbols=("AAA",), n=4)
    naive = bars.set_column(1, "ts", bars["ts"].cast(pa.timestamp("us")))
    r = cache.write_bars(naive)
    assert r.written == 0 and r.rejected_by_reason == {validate.NO_TIMEZONE: 4}


def test_nulls_and_bad_symbols_rejected(cache):
    bars = _bars(symbols=("AAA",), n=4)
    syms = pa.array(["AAA", None, "BR'K", "brk.b"])
    vols = pa.array([1.0, 1.0, 1.0, None])
    bad = bars.set_column(0, "symbol", syms).set_column(6, "volume", vols)
    r = cache.write_bars(bad)
    assert r.written == 1
    assert r.rejected_by_reason == {validate.MISSING: 2, validate.BAD_SYMBOL: 1}


def test_other_timezones_are_converted_to_utc(cache):
    bars = _bars(symbols=("AAA",), n=2)
    ny = bars.set_column(1, "ts", bars["ts"].cast(pa.timestamp("us", tz="America/New_York")))
    cache.write_bars(ny)
    assert cache.read_bars()["ts"].equals(bars["ts"])


def test_missing_column_is_a_clear_error(cache):
    with pytest.raises(CacheError, match="lack column"):
        cache.write_bars(_bars().drop_columns(["volume"]))


def test_panel_shape_mask_and_values(cache):
    cache.write_bars(_bars(n=30))
    day = dt.date(2024, 3, 8)
    panel = cache.load_panel(["BBB", "AAA", "ZZZ"], day, day)
    assert panel.shape == (3, 390)
    assert panel.valid[:2, :30].all() and not panel.valid[:2, 30:].any()
    assert not panel.valid[2].any()
    assert np.isnan(panel.close[2]).all() and (panel.volume[2] == 0).all()
    raw = cache.read_bars(["AAA"])
    assert np.array_equal(panel.close[1, :30], raw["close"].to_numpy())
    assert panel.ts[0] == np.datetime64("2024-03-08T14:30")


def test_panel_across_dst_extended_hours(cache):
    # The US switched to daylight time on 2024-03-10: 09:30 ET moves from 14:30 to 13:30 UTC.
    grid = calendar.minute_grid(dt.date(2024, 3, 8), dt.date(2024, 3, 11), "extended")
    n = len(grid.ts)
    cache.write_bars(
        bars_table(["AAA"] * n, grid.ts, *(np.full(n, 10.0) for _ in range(4)), np.ones(n))
    )
    panel = cache.load_panel(["AAA"], "2024-03-08", "2024-03-11", hours="extended")
    assert panel.valid.all() and panel.shape == (1, 2 * 960)
    opens = panel.ts[panel.minute_of_session == 0]
    assert list(opens) == [np.datetime64("2024-03-08T14:30"), np.datetime64("2024-03-11T13:30")]
    regular = cache.load_panel(["AAA"], "2024-03-08", "2024-03-11")
    assert regular.shape == (1, 780) and regular.valid.all()


def test_coverage_reports_missing_sessions(cache):
    cache.write_bars(_bars(symbols=("AAA",), day=dt.date(2024, 3, 6), n=5))
    cache.write_bars(_bars(symbols=("AAA",), day=dt.date(2024, 3, 8), n=5))
    (cov, none) = cache.coverage(["AAA", "NONE"])
    assert cov.bars == 10 and cov.trading_days == 2
    assert cov.missing_sessions == (dt.date(2024, 3, 7),)
    assert cov.first == np.datetime64("2024-03-06T14:30")
    assert none.bars == 0 and none.first is None


def test_latest_per_symbol(cache):
    cache.write_bars(_bars(n=7))
    assert cache.latest(["AAA"]) == {"AAA": np.datetime64("2024-03-08T14:36")}


def test_failed_write_leaves_cache_unchanged(cache, monkeypatch):
    cache.write_bars(_bars(n=5))
    before = cache.read_bars()

    def boom(*a, **k):
        raise RuntimeError("disk died mid-write")

    monkeypatch.setattr(Cache, "_insert_rejects", boom)
    bad = _bars(n=5, price=150.0, seed=3)
    bad = bad.set_column(6, "volume", pa.array([-1.0] + [1.0] * 9))
    with pytest.raises(RuntimeError):
        cache.write_bars(bad)
    assert cache.read_bars().equals(before)
    assert cache.rejected().num_rows == 0


def test_unopenable_cache_is_a_clear_error(tmp_path):
    path = tmp_path / "not-a-db.duckdb"
    path.write_text("this is not a database")
    with pytest.raises(CacheError, match="cannot open the cache"):
        Cache(path)


def test_per_symbol_counts(cache):
    cache.write_bars(_bars(n=10))
    again = _bars(n=10).slice(5, 12)  # AAA 5..9 and BBB 0..6 again (unchanged)
    vol = again["volume"].to_pylist()
    vol[0] = -1.0  # one AAA row rejected
    r = cache.write_bars(again.set_column(6, "volume", pa.array(vol)), by_symbol=True)
    aaa, bbb = r.by_symbol["AAA"], r.by_symbol["BBB"]
    assert (aaa.read, aaa.written, aaa.replaced, aaa.unchanged) == (5, 4, 0, 4)
    assert aaa.rejected_by_reason == {validate.BAD_VOLUME: 1}
    assert (bbb.read, bbb.written, bbb.replaced, bbb.unchanged, bbb.rejected) == (7, 7, 0, 7, 0)
    assert cache.write_bars(_bars(n=2)).by_symbol == {}  # only when asked for
