"""NYSE trading calendar: sessions, minute grids and anchor segment ids.

Every anchor (session, day, week, month, quarter, year) is decided here, in
exchange time, from exchange-calendars' XNYS schedule, so DST changes, holidays
and half days anchor correctly everywhere else. The rest of the project only
consumes the integer segment ids this module produces.

Hours:
- ``regular``: 09:30 to the close (16:00, or 13:00 on a half day), ET.
- ``extended``: 04:00 to 20:00 ET on a trading day (to 17:00 on a half day).

Segment ids are stable integers (see ``storage.types``):
- day: the session date's proleptic ordinal (``date.toordinal()``);
- session: the same, for minutes at or after the regular open; -1 before it;
- week: ordinal of the Monday of the session date's week;
- month: ``year * 12 + month - 1``; quarter: ``year * 4 + (month - 1) // 3``; year.

The after-close rule (explicit, so nothing is dropped silently): a regular-hours
grid (``minute_grid(..., "regular")``, what ``Cache.load_panel`` builds by
default and the console loads) ends at each session's own close, 16:00 or 13:00
on a half day. A cached bar stamped at or after that close is on no minute of
the grid, so it enters no anchor of that panel (session, day, week …), however
regular its time looks on a normal day (a half day's 13:00–16:00 bars). An
extended grid carries the post-market minutes to 20:00 (17:00 on a half day)
and its session anchor runs on from the open through them. ``storage.quality``
counts, per symbol, the bars a regular panel leaves out this way.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from storage.types import SEGMENT_KINDS, Panel

EXCHANGE_TZ = "America/New_York"
_MIN = np.timedelta64(1, "m")
_PRE_OPEN = dt.time(4, 0)
_POST_CLOSE = dt.time(20, 0)
_POST_CLOSE_HALF_DAY = dt.time(17, 0)


@dataclass(frozen=True)
class Schedule:
    """Per-session arrays (all ``datetime64[m]`` UTC except ``dates``)."""

    dates: np.ndarray  # datetime64[D], session dates
    open: np.ndarray  # regular open
    close: np.ndarray  # regular close (exclusive end minute)
    ext_open: np.ndarray  # 04:00 ET
    ext_close: np.ndarray  # 20:00 ET (17:00 on half days)

    def bounds(self, hours: str) -> tuple[np.ndarray, np.ndarray]:
        if hours == "regular":
            return self.open, self.close
        if hours == "extended":
            return self.ext_open, self.ext_close
        raise ValueError(f"hours must be 'regular' or 'extended', not {hours!r}")


@dataclass(frozen=True)
class MinuteGrid:
    """A UTC minute grid with the calendar facts for each minute."""

    ts: np.ndarray  # datetime64[m]
    segments: dict[str, np.ndarray]  # kind -> int64 [T]
    minute_of_session: np.ndarray  # int32 [T], minutes since 09:30 ET
    session_minutes: np.ndarray  # int32 [T], regular-session length of the day


@lru_cache(maxsize=1)
def schedule() -> Schedule:
    """The XNYS schedule from 2000 to the calendar library's horizon (cached)."""
    import exchange_calendars as xcals
    import pandas as pd

    with warnings.catch_warnings():
        # exchange-calendars uses a pandas API that pandas 3.1 deprecates; not ours to fix.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Series.values returning")
        cal = xcals.get_calendar("XNYS", start="2000-01-01")
    sched = cal.schedule
    dates = np.asarray(sched.index.values, dtype="datetime64[D]")
    opens = sched["open"].dt.tz_convert(None).to_numpy().astype("datetime64[m]")
    closes = sched["close"].dt.tz_convert(None).to_numpy().astype("datetime64[m]")
    day_idx = pd.DatetimeIndex(sched.index)
    pre = (day_idx + pd.Timedelta(hours=4)).tz_localize(EXCHANGE_TZ).tz_convert("UTC")
    regular_len = (closes - opens).astype(np.int64)
    post_hours = np.where(regular_len < 390, 17, 20)
    post = (day_idx + pd.to_timedelta(post_hours, unit="h")).tz_localize(EXCHANGE_TZ)
    post = post.tz_convert("UTC")
    return Schedule(
        dates=dates,
        open=opens,
        close=closes,
        ext_open=pre.tz_localize(None).to_numpy().astype("datetime64[m]"),
        ext_close=post.tz_localize(None).to_numpy().astype("datetime64[m]"),
    )


def sessions(start: dt.date, end: dt.date) -> np.ndarray:
    """Session dates in ``[start, end]`` (inclusive), as ``datetime64[D]``."""
    s = schedule()
    lo = np.searchsorted(s.dates, np.datetime64(start, "D"), side="left")
    hi = np.searchsorted(s.dates, np.datetime64(end, "D"), side="right")
    return s.dates[lo:hi]


def is_session(day: dt.date) -> bool:
    s = schedule()
    d = np.datetime64(day, "D")
    i = np.searchsorted(s.dates, d)
    return bool(i < len(s.dates) and s.dates[i] == d)


def previous_sessions(end: dt.date, n: int) -> np.ndarray:
    """The last ``n`` session dates on or before ``end``."""
    s = schedule()
    hi = np.searchsorted(s.dates, np.datetime64(end, "D"), side="right")
    return s.dates[max(0, hi - n) : hi]


def _segment_ids(dates: np.ndarray) -> dict[str, np.ndarray]:
    """Segment ids (day/week/month/quarter/year) for session dates ``datetime64[D]``."""
    days = dates.astype(np.int64)  # days since 1970-01-01 (a Thursday)
    ordinal = days + dt.date(1970, 1, 1).toordinal()
    weekday = (days + 3) % 7  # Monday = 0
    months = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    year = months // 12 + 1970
    month0 = months % 12
    return {
        "day": ordinal,
        "week": ordinal - weekday,
        "month": year * 12 + month0,
        "quarter": year * 4 + month0 // 3,
        "year": year,
    }


def minute_grid(start: dt.date, end: dt.date, hours: str = "regular") -> MinuteGrid:
    """All exchange minutes of the sessions in ``[start, end]`` for ``hours``."""
    s = schedule()
    lo = int(np.searchsorted(s.dates, np.datetime64(start, "D"), side="left"))
    hi = int(np.searchsorted(s.dates, np.datetime64(end, "D"), side="right"))
    first, last = (a[lo:hi] for a in s.bounds(hours))
    return _grid_for(lo, hi, first, last)


def grid_between(start: np.datetime64, end: np.datetime64, hours: str = "regular") -> MinuteGrid:
    """Exchange minutes in the UTC half-open range ``[start, end)``."""
    s = schedule()
    opens, closes = s.bounds(hours)
    start_m = np.asarray(start).astype("datetime64[m]")
    end_m = np.asarray(end).astype("datetime64[m]")
    lo = int(np.searchsorted(closes, start_m, side="right"))
    hi = int(np.searchsorted(opens, end_m, side="left"))
    grid = _grid_for(lo, hi, opens[lo:hi], closes[lo:hi])
    keep = (grid.ts >= start_m) & (grid.ts < end_m)
    if keep.all():
        return grid
    return MinuteGrid(
        ts=grid.ts[keep],
        segments={k: v[keep] for k, v in grid.segments.items()},
        minute_of_session=grid.minute_of_session[keep],
        session_minutes=grid.session_minutes[keep],
    )


def _grid_for(lo: int, hi: int, first: np.ndarray, last: np.ndarray) -> MinuteGrid:
    lengths = (last - first).astype(np.int64)
    total = int(lengths.sum())
    session_of = np.repeat(np.arange(lo, hi), lengths)
    starts = np.repeat(first, lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ts = starts + offsets.astype("timedelta64[m]")
    return _describe(ts, session_of)


def _describe(ts: np.ndarray, session_of: np.ndarray) -> MinuteGrid:
    """Calendar facts for minutes ``ts`` that belong to sessions ``session_of``."""
    s = schedule()
    seg = _segment_ids(s.dates[session_of])
    opens = s.open[session_of]
    minute_of_session = (ts - opens).astype(np.int64).astype(np.int32)
    seg["session"] = np.where(minute_of_session >= 0, seg["day"], -1)
    session_minutes = (s.close[session_of] - opens).astype(np.int64).astype(np.int32)
    return MinuteGrid(
        ts=ts,
        segments={k: seg[k].astype(np.int64) for k in SEGMENT_KINDS},
        minute_of_session=minute_of_session,
        session_minutes=session_minutes,
    )


def describe_minutes(ts: np.ndarray) -> MinuteGrid:
    """Calendar facts for arbitrary UTC minutes (e.g. a live bar's timestamp).

    Each minute is assigned to the trading day whose extended window contains
    it; a minute outside every extended window is assigned to the next session
    (it has no regular-session meaning, so ``session`` is -1 there).
    """
    s = schedule()
    ts = np.asarray(ts, dtype="datetime64[m]")
    idx = np.searchsorted(s.ext_close, ts, side="right")
    idx = np.clip(idx, 0, len(s.dates) - 1)
    return _describe(ts, idx)


def session_index_of(ts: np.ndarray) -> np.ndarray:
    """Index into ``schedule().dates`` of the trading day each UTC minute belongs to."""
    s = schedule()
    ts = np.asarray(ts, dtype="datetime64[m]")
    return np.clip(np.searchsorted(s.ext_close, ts, side="right"), 0, len(s.dates) - 1)


def exchange_dates(ts: np.ndarray) -> np.ndarray:
    """The exchange-time (New York) calendar date of each UTC minute, ``datetime64[D]``."""
    import pandas as pd

    idx = pd.DatetimeIndex(np.asarray(ts, dtype="datetime64[m]").astype("datetime64[ns]"))
    local = idx.tz_localize("UTC").tz_convert(EXCHANGE_TZ).tz_localize(None)
    return np.asarray(local.values).astype("datetime64[D]")


def segments_started_before(panel: Panel) -> dict[str, int]:
    """Anchor kinds whose segment holding ``panel``'s first minute began before it.

    {kind: segment id}: while the live minute is in that segment, the anchor's
    AVWAP covers only the loaded history (e.g. a 19-session history makes the
    "year" anchor start in late October). A segment began earlier when the
    trading session before the first loaded one lies in the same segment (so a
    history starting on a quarter's first session leaves the quarter whole);
    the day and session anchors start with their own day, never earlier.
    """
    if not len(panel.ts):
        return {}
    sched = schedule()
    i = int(session_index_of(panel.ts[:1])[0])
    if i == 0:
        return {}
    before = describe_minutes(sched.close[i - 1:i] - np.timedelta64(1, "m"))
    return {k: int(panel.segments[k][0]) for k in SEGMENT_KINDS
            if k not in ("session", "day")
            and int(before.segments[k][0]) == int(panel.segments[k][0])}
