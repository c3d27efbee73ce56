"""Calendar: sessions, holidays, half days, DST and anchor segment ids."""

from __future__ import annotations

import datetime as dt

import numpy as np

from storage import calendar


def _opens(grid):
    return grid.ts[grid.minute_of_session == 0]


def test_holiday_has_no_session():
    # 2024-07-04 (Independence Day) is a holiday; 2024-07-03 is a half day.
    days = calendar.sessions(dt.date(2024, 7, 1), dt.date(2024, 7, 5))
    assert [str(d) for d in days] == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05"]
    assert not calendar.is_session(dt.date(2024, 7, 4))


def test_half_day_closes_at_13_et():
    grid = calendar.minute_grid(dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    assert len(grid.ts) == 210
    assert grid.ts[-1] == np.datetime64("2024-11-29T17:59")  # 12:59 ET, last regular minute
    assert set(grid.session_minutes) == {210}
    ext = calendar.minute_grid(dt.date(2024, 11, 29), dt.date(2024, 11, 29), "extended")
    assert ext.ts[-1] == np.datetime64("2024-11-29T21:59")  # after-hours end 17:00 ET


def test_dst_spring_and_fall_2024():
    spring = calendar.minute_grid(dt.date(2024, 3, 8), dt.date(2024, 3, 11))
    assert list(_opens(spring)) == [
        np.datetime64("2024-03-08T14:30"),
        np.datetime64("2024-03-11T13:30"),
    ]
    fall = calendar.minute_grid(dt.date(2024, 11, 1), dt.date(2024, 11, 4))
    assert list(_opens(fall)) == [
        np.datetime64("2024-11-01T13:30"),
        np.datetime64("2024-11-04T14:30"),
    ]
    ext = calendar.minute_grid(dt.date(2024, 3, 11), dt.date(2024, 3, 11), "extended")
    assert ext.ts[0] == np.datetime64("2024-03-11T08:00") and len(ext.ts) == 960


def test_segments_session_and_day_in_extended_hours():
    grid = calendar.minute_grid(dt.date(2024, 3, 8), dt.date(2024, 3, 11), "extended")
    seg = grid.segments
    pre = grid.minute_of_session < 0
    assert (seg["session"][pre] == -1).all()
    assert (seg["session"][~pre] == seg["day"][~pre]).all()
    # Day resets at 04:00 ET: two distinct day ids, each constant over its 960 minutes.
    assert len(np.unique(seg["day"])) == 2
    assert (seg["day"][:960] == dt.date(2024, 3, 8).toordinal()).all()
    assert (np.diff(seg["day"]) >= 0).all()


def test_week_month_quarter_year_boundaries():
    grid = calendar.minute_grid(dt.date(2024, 12, 27), dt.date(2025, 1, 6))
    days = [d.astype(object) for d in calendar.sessions(dt.date(2024, 12, 27), dt.date(2025, 1, 6))]
    first = {k: v[::390] for k, v in grid.segments.items()}  # one per regular session
    # Sessions: Fri 12-27, Mon 12-30, Tue 12-31, Thu 1-2, Fri 1-3, Mon 1-6 (1-1 holiday).
    assert [str(d) for d in days] == [
        "2024-12-27",
        "2024-12-30",
        "2024-12-31",
        "2025-01-02",
        "2025-01-03",
        "2025-01-06",
    ]
    weeks = first["week"]
    assert weeks[1] == weeks[2] == weeks[3] == weeks[4] != weeks[0] != weeks[5]
    assert first["month"][2] != first["month"][3] and first["month"][3] == first["month"][5]
    assert first["quarter"][2] + 1 == first["quarter"][3]
    assert list(first["year"]) == [2024, 2024, 2024, 2025, 2025, 2025]
    for kind, ids in grid.segments.items():
        assert (np.diff(ids) >= 0).all(), kind


def test_describe_minutes_matches_grid():
    grid = calendar.minute_grid(dt.date(2011, 3, 11), dt.date(2011, 3, 14), "extended")
    described = calendar.describe_minutes(grid.ts)
    for kind in grid.segments:
        assert np.array_equal(described.segments[kind], grid.segments[kind])
    assert np.array_equal(described.minute_of_session, grid.minute_of_session)


def test_grid_between_is_half_open():
    g = calendar.grid_between(np.datetime64("2024-03-08T14:30"), np.datetime64("2024-03-08T14:35"))
    assert len(g.ts) == 5 and g.ts[-1] == np.datetime64("2024-03-08T14:34")
