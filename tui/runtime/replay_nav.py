"""Where a replay jump goes: the trader's text to a UTC minute.

Why a module: "jump to a time" takes what a trader types — ``10:45`` (that
time of the replay's current day, exchange time), ``2025-11-20 10:45`` or just
``2025-11-20`` (that day's open) — and the console, its tests and its help must
read it the same way. Times are New York wall time, as the status bar shows.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import numpy as np

from storage.errors import AvwapError
from storage.types import as_dt64

EXCHANGE_TZ = ZoneInfo("America/New_York")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}))?$")


class JumpError(AvwapError):
    """A jump target the console cannot read or reach (one line for the user)."""


def exchange_date(ts: np.datetime64) -> dt.date:
    """The New York date of a UTC minute."""
    utc = as_dt64(ts).astype("datetime64[s]").astype(object).replace(tzinfo=dt.UTC)
    return utc.astimezone(EXCHANGE_TZ).date()


def parse_jump(text: str, now: np.datetime64, open_time: dt.time = dt.time(9, 30)
               ) -> np.datetime64:
    """``text`` as a UTC minute; ``now`` (UTC) gives the day of a bare ``HH:MM``."""
    text = text.strip()
    if m := _TIME.match(text):
        day, hh, mm = exchange_date(now), int(m[1]), int(m[2])
    elif m := _DATE.match(text):
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as e:
            raise JumpError(f"{text!r} is not a date: {e}") from None
        hh, mm = (int(m[4]), int(m[5])) if m[4] else (open_time.hour, open_time.minute)
    else:
        raise JumpError(f"{text!r} is not a time: type HH:MM, YYYY-MM-DD or "
                        "YYYY-MM-DD HH:MM (exchange time)")
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise JumpError(f"{text!r} is not a time of day")
    local = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=EXCHANGE_TZ)
    utc = local.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(utc, "m")
