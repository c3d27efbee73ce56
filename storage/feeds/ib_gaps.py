"""What a historical request must cover, and where the cache has holes.

Why a module of its own: the feed's promise is "no permanent hole", and it
rests on two small computations that are easiest to trust when they are pure
and tested apart from the socket:

- ``duration_since`` turns "the bars after minute ``since``" into an IB
  duration string. The feed calls it when a request is *sent* (after its
  pacing wait), from the cache's last final bar of that symbol, so a request
  that waited ten minutes still reaches back to the cached bars.
- ``first_holes`` finds, per symbol, the first exchange minute in a range that
  has no cached bar, so a start-up backfill reaches back to a hole left by an
  earlier run and a recovery can check it left none.

Minutes are epoch minutes (UTC ``int``), as everywhere in the feed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from storage import calendar
from storage.cache import Cache

_NY = ZoneInfo(calendar.EXCHANGE_TZ)
#: Extra minutes a gap request reaches back: cheap (upserts) and absorbs clock skew.
MARGIN_MINUTES = 2


def exchange_date(minute: int) -> dt.date:
    """The exchange (New York) date of an epoch minute."""
    return dt.datetime.fromtimestamp(minute * 60, dt.UTC).astimezone(_NY).date()


def window_start(now_minute: int, backfill_days: int) -> int:
    """The first minute (00:00 exchange time) of the oldest session a backfill covers."""
    days = calendar.previous_sessions(exchange_date(now_minute), backfill_days + 1)
    first = days[0].astype(object) if len(days) else exchange_date(now_minute)
    midnight = dt.datetime(first.year, first.month, first.day, tzinfo=_NY)
    return int(midnight.timestamp()) // 60


def duration_since(since: int | None, now_s: float, backfill_days: int) -> str:
    """The IB duration covering the bars after minute ``since`` up to ``now_s``.

    ``since`` None (nothing cached) is the full window: today and
    ``backfill_days`` prior sessions. Within a day the duration is in seconds
    (IB accepts up to 86400 S), with ``MARGIN_MINUTES`` to spare; beyond, in
    sessions, capped at the full window.
    """
    full = f"{backfill_days + 1} D"
    if since is None:
        return full
    secs = now_s - since * 60
    if secs <= 0:
        return "60 S"
    minutes = math.ceil(secs / 60) + MARGIN_MINUTES
    if minutes * 60 <= 86_400:
        return f"{minutes * 60} S"
    start, end = exchange_date(since), exchange_date(int(now_s // 60))
    n = len(calendar.sessions(start, end))
    return f"{n} D" if n <= backfill_days + 1 else full


def end_string(minute: int) -> str:
    """An IB endDateTime for the start of ``minute`` in UTC (``yyyymmdd-hh:mm:ss``).

    A one-shot request that ends at the start of the forming minute gets closed
    bars only: the forming one can never be taken for final.
    """
    return dt.datetime.fromtimestamp(minute * 60, dt.UTC).strftime("%Y%m%d-%H:%M:%S")


def first_holes(
    cache: Cache,
    ranges: dict[str, tuple[int, int]],
    hours: str = "regular",
) -> dict[str, int]:
    """Per symbol, the first exchange minute in ``[lo, hi]`` with no cached bar.

    ``ranges`` maps a symbol to its inclusive minute range; symbols without a
    hole are left out. A symbol with no cached bar in its range has its hole at
    the range's first exchange minute.
    """
    out: dict[str, int] = {}
    if not ranges:
        return out
    lo = min(r[0] for r in ranges.values())
    hi = max(r[1] for r in ranges.values())
    if hi < lo:
        return out
    grid = calendar.grid_between(
        np.datetime64(lo, "m"), np.datetime64(hi + 1, "m"), hours
    ).ts.astype(np.int64)
    if not len(grid):
        return out
    table = cache.read_bars(
        list(ranges),
        start=np.datetime64(lo, "m").astype(object),
        end=np.datetime64(hi + 1, "m").astype(object),
    )
    syms = np.asarray(table.column("symbol").to_pylist(), dtype=object)
    ts = _minutes(table)
    for sym, (a, b) in ranges.items():
        want = grid[(grid >= a) & (grid <= b)]
        if not len(want):
            continue
        have = ts[syms == sym] if len(syms) else np.array([], np.int64)
        missing = want[~np.isin(want, have)]
        if len(missing):
            out[sym] = int(missing[0])
    return out


def holes_in(cache: Cache, symbols: Sequence[str], lo: int, hi: int, hours: str) -> int:
    """How many exchange minutes in ``[lo, hi]`` lack a cached bar, summed over symbols."""
    grid = calendar.grid_between(
        np.datetime64(lo, "m"), np.datetime64(hi + 1, "m"), hours
    ).ts.astype(np.int64)
    table = cache.read_bars(
        list(symbols),
        start=np.datetime64(lo, "m").astype(object),
        end=np.datetime64(hi + 1, "m").astype(object),
    )
    syms = np.asarray(table.column("symbol").to_pylist(), dtype=object)
    ts = _minutes(table)
    return int(sum((~np.isin(grid, ts[syms == s])).sum() for s in symbols))


def _minutes(table: pa.Table) -> np.ndarray:
    ts = table.column("ts").cast(pa.timestamp("us", tz="UTC")).to_numpy()
    return ts.astype("datetime64[m]").astype(np.int64)
