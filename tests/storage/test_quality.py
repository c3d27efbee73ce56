"""Data quality against the calendar, on hand-made bars with one defect each (issue 14).

Each symbol below carries exactly one defect, so a report that mixed them up (or
missed one) fails on the symbol that shows it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from storage import calendar, quality
from storage.cache import Cache, bars_table
from tui.cli import main

FULL = [dt.date(2024, 10, d) for d in (7, 8, 9, 10, 11)]  # Mon..Fri, normal sessions
HALF_DAY = dt.date(2024, 11, 29)  # the day after Thanksgiving: closes 13:00 ET


def _session_minutes(day: dt.date, minutes: int = 390, step: int = 1) -> np.ndarray:
    """``minutes`` minutes from the day's regular open, every ``step`` minutes (UTC)."""
    grid = calendar.minute_grid(day, day, "regular")
    return grid.ts[0] + np.arange(0, minutes, step).astype("timedelta64[m]")


def _et(day: dt.date, hh: int, mm: int) -> np.datetime64:
    """A New York wall-clock minute as UTC (October and November 2024: UTC-4 / UTC-5)."""
    offset = 4 if day < dt.date(2024, 11, 3) else 5
    return np.datetime64(dt.datetime(day.year, day.month, day.day, hh, mm), "m") + np.timedelta64(
        offset, "h"
    )


def _bars(symbol: str, ts: np.ndarray):
    n = len(ts)
    one = np.full(n, 10.0)
    return bars_table([symbol] * n, ts, one, one + 1, one - 1, one, np.full(n, 100.0))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "q.duckdb"
    parts = {
        "CLEAN": np.concatenate([_session_minutes(d) for d in FULL]),
        "NOSESS": np.concatenate([_session_minutes(d) for d in (FULL[0], FULL[2])]),
        "HALT": np.delete(_session_minutes(FULL[0]), np.arange(100, 105)),
        # A half day stored with a normal day's hours: 13:00-16:00 ET is after its close.
        "HALFDAY": _session_minutes(HALF_DAY, 390),
        "NIGHT": np.r_[
            _session_minutes(FULL[0]), _et(FULL[1], 2, 0), _et(dt.date(2024, 10, 12), 12, 0)
        ],
        "TENMIN": np.concatenate(
            [_session_minutes(FULL[0])]
            + [_session_minutes(d, step=10) for d in FULL[1:]]
        ),
        "EXT": np.r_[_et(FULL[0], 7, 0), _session_minutes(FULL[0]), _et(FULL[0], 17, 30)],
        # Extended-hours data: a half day's 13:30 bar is its after-hours, not a defect.
        "EXTHALF": np.r_[
            _session_minutes(dt.date(2024, 11, 27)), _et(dt.date(2024, 11, 27), 17, 30),
            _session_minutes(HALF_DAY, 210), _et(HALF_DAY, 13, 30),
        ],
    }
    with Cache(path) as c:
        for sym, ts in parts.items():
            r = c.write_bars(_bars(sym, np.sort(ts)))
            assert r.rejected == 0
        yield c


def _report(cache, symbol):
    (r,) = quality.check(cache, [symbol])
    return r


def test_a_clean_symbol_has_no_problems(cache):
    r = _report(cache, "CLEAN")
    assert r.ok and r.problems() == [] and r.sessions == 5 and r.bars == 5 * 390


def test_a_missing_session_is_named(cache):
    r = _report(cache, "NOSESS")
    assert r.missing_sessions == (FULL[1],) and r.missing_minutes == 0
    assert r.problems() == ["1 missing session"]


def test_missing_minutes_inside_a_session(cache):
    r = _report(cache, "HALT")
    assert (r.missing_minutes, r.gappy_sessions) == (5, 1) and not r.missing_sessions
    assert r.problems() == ["5 missing minutes in 1 session"]


def test_bars_after_an_early_close_are_counted_and_kept_out_of_panels(cache):
    r = _report(cache, "HALFDAY")
    assert (r.after_close, r.outside_hours, r.missing_minutes) == (180, 0, 0)
    assert r.problems() == ["180 bars after an early close"]
    # The rule (storage.calendar): a regular panel ends at the session's own close.
    panel = cache.load_panel(["HALFDAY"], HALF_DAY, HALF_DAY)
    assert len(panel.ts) == 210 and panel.valid.sum() == 210 == r.bars - r.after_close


def test_bars_outside_trading_hours(cache):
    r = _report(cache, "NIGHT")  # 02:00 ET on a Tuesday and noon on a Saturday
    assert r.outside_hours == 2 and r.after_close == 0 and r.problems() == [
        "2 bars outside trading hours"
    ]


def test_ten_minute_bars_stored_as_minutes_are_one_stretch(cache):
    r = _report(cache, "TENMIN")
    assert r.coarse == (quality.Stretch(FULL[1], FULL[4], 10, 4),)
    assert r.missing_minutes == 0  # the spacing explains the gaps; not 4 x 351 "missing"
    assert r.problems() == ["10-minute bars 2024-10-08 to 2024-10-11"]


def test_extended_hours_bars_are_counted_not_flagged(cache):
    r = _report(cache, "EXT")
    assert r.ok and r.extended == 2
    r = _report(cache, "EXTHALF")
    assert r.ok and r.after_close == 0 and r.extended == 2


def test_one_line_summary_for_the_console(cache):
    assert quality.loaded_data_note(cache, ["CLEAN", "EXT"], FULL[0], FULL[-1]) is None
    note = quality.loaded_data_note(cache, ["CLEAN", "HALT", "TENMIN"], FULL[0], FULL[-1])
    assert note is not None and "\n" not in note
    assert note.startswith("Data check: 2 of 3 symbols have problems: HALT 5 missing minutes")
    assert "TENMIN 10-minute bars" in note
    # Only the loaded window counts: the halt on Monday is outside Tuesday..Friday.
    assert quality.loaded_data_note(cache, ["HALT"], FULL[1], FULL[-1]) is None


def test_a_long_list_is_read_a_few_symbols_at_a_time(cache, monkeypatch):
    """The console checks its whole list (650 symbols) after loading it: the minutes are
    read a few symbols per query, so its memory is bounded, with the same reports in
    the list's order, for a list and for the whole cache (``symbols=None``)."""
    names = ["TENMIN", "CLEAN", "NOSUCH", "HALT", "NIGHT", "EXT", "HALFDAY"]
    whole = quality.check(cache, names)
    everything = quality.check(cache)
    reads: list[int] = []
    real = quality._check_chunk

    def spy(c, symbols, *rest):  # type: ignore[no-untyped-def]
        reads.append(len(symbols))
        return real(c, symbols, *rest)

    monkeypatch.setattr(quality, "CHECK_CHUNK", 2)
    monkeypatch.setattr(quality, "_check_chunk", spy)
    assert quality.check(cache, names) == whole
    assert reads == [2, 2, 2, 1]
    assert [r.symbol for r in whole] == names and whole[2].bars == 0
    assert quality.check(cache) == everything
    assert [r.symbol for r in everything] == sorted(r.symbol for r in everything)
    assert len(everything) == 8


def test_a_session_under_way_is_not_missing_minutes(tmp_path):
    """Issue 31, item 5: a live start checked today's unfinished session as if it had
    ended, so every symbol "had" the rest of the day missing."""
    # A live console's history: Friday's session is under way (150 minutes so far).
    so_far = _session_minutes(FULL[4], 150)
    last = so_far[-1]
    cache = Cache(tmp_path / "live.duckdb")
    cache.write_bars(_bars("LIVE", np.r_[np.concatenate(
        [_session_minutes(d) for d in FULL[:4]]), so_far]))
    assert quality.loaded_data_note(cache, ["LIVE"], FULL[0], FULL[-1], last) is None
    (ended,) = quality.check(cache, ["LIVE"], FULL[0], FULL[-1])
    assert ended.missing_minutes == 240  # without "through": the old count
    (gap,) = quality.check(cache, ["LIVE"], FULL[0], FULL[-1], last + np.timedelta64(10, "m"))
    assert gap.missing_minutes == 10  # minutes that have happened and are missing still count
    cache.close()


def test_cache_check_exit_status_and_info_columns(cache, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    db = str(cache.path)
    cache.checkpoint()
    assert main(["--db", db, "cache", "check", "--symbols", "CLEAN,EXT"]) == 0
    assert "clean" in capsys.readouterr().out
    assert main(["--db", db, "cache", "check"]) == 1
    out = capsys.readouterr().out
    for line in ("HALFDAY: 180 bars after an early close", "TENMIN: 10-minute bars",
                 "NIGHT: 2 bars outside trading hours", "5 of 8 symbols with problems"):
        assert line in out
    assert main(["--db", db, "cache", "info"]) == 0
    assert "5 missing minutes in 1 session" in capsys.readouterr().out


SPY = Path(__file__).resolve().parents[3] / "shared" / "data" / "spy-2011"


@pytest.mark.skipif(not SPY.exists(), reason=f"real SPY data not found at {SPY}")
def test_real_spy_january_and_march(tmp_path):
    from storage.csv_import import import_csv, layout_for

    with Cache(tmp_path / "spy.duckdb") as c:
        for name in ("nt-spy-minute-2011.csv", "nt-spy-minute-2011-03.csv"):
            import_csv(c, SPY / name, layout_for("ninjatrader", symbol="SPY"))
        (jan,) = quality.check(c, ["SPY"], dt.date(2011, 1, 3), dt.date(2011, 1, 31))
        (both,) = quality.check(c, ["SPY"])
    assert jan.ok and jan.sessions == 20 and jan.extended == 14_180 - 20 * 390
    # February is not in the files; March has one bar stamped 20:00 ET (2011-03-29).
    assert both.missing_sessions[0] == dt.date(2011, 2, 1) and len(both.missing_sessions) == 19
    assert both.outside_hours == 1 and both.missing_minutes == 0 and both.coarse == ()
