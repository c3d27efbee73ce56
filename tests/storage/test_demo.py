"""Demo data: deterministic, valid, only on real sessions, realistic shapes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow.compute as pc

from storage import calendar, demo
from storage.cache import Cache


def test_deterministic_per_symbol_whatever_the_list():
    a = demo.generate(["AAA", "BBB"], 3, end=dt.date(2024, 11, 29))
    b = demo.generate(["BBB"], 3, end=dt.date(2024, 11, 29))
    assert a.filter(pc.equal(a["symbol"], "BBB")).equals(b)
    assert demo.generate(["AAA"], 3, end=dt.date(2024, 11, 29), seed=5) != demo.generate(
        ["AAA"], 3, end=dt.date(2024, 11, 29)
    )


def test_only_real_sessions_and_half_days(tmp_path):
    # 2024-11-28 is Thanksgiving, 2024-11-29 a half day.
    table = demo.generate(["AAA"], 3, end=dt.date(2024, 11, 29))
    days = np.unique(table["ts"].to_numpy().astype("datetime64[D]"))
    assert [str(d) for d in days] == ["2024-11-26", "2024-11-27", "2024-11-29"]
    assert table.num_rows == 390 + 390 + 210


def test_every_bar_passes_validation_and_prices_are_in_range(tmp_path):
    symbols = [f"S{i}" for i in range(40)]
    with Cache(tmp_path / "d.duckdb") as cache:
        r = demo.seed_cache(cache, symbols, 5, chunk_symbols=16)
        assert r.rejected == 0 and r.written == 40 * 5 * 390
        closes = cache.read_bars()["close"].to_numpy()
    assert closes.min() > 1.0 and closes.max() < 6000.0
    start = demo.generate(symbols, 1)["open"].to_numpy()[::390]
    assert start.min() < 100 < start.max()  # cheap and expensive names


def test_u_shaped_volume_and_extended_bars_are_sparse():
    table = demo.generate(["AAA", "BBB", "CCC"], 10, extended=True)
    ts = table["ts"].to_numpy().astype("datetime64[m]")
    desc = calendar.describe_minutes(ts)
    mos = desc.minute_of_session
    vol = table["volume"].to_numpy()
    rth = (mos >= 0) & (mos < 390)
    first = vol[rth & (mos < 30)].mean()
    midday = vol[rth & (mos >= 180) & (mos < 210)].mean()
    last = vol[rth & (mos >= 360)].mean()
    assert first > 2 * midday and last > 2 * midday
    outside = (~rth).sum()
    assert 0 < outside < 0.5 * 3 * 10 * (960 - 390)
