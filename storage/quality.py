"""Data quality of the cached minute bars, per symbol: what a panel would hide.

Why a module of its own: a panel is a dense calendar grid, so whatever does not
fit the grid disappears from it without a word (a bar after a half day's 13:00
close, a night bar) and whatever is missing looks like an ordinary gap (a halt,
a lost session, a vendor week of ten-minute bars stored as minutes, where nine
minutes in ten are "missing"). This module names each of those per symbol, for
``avwap cache info`` / ``avwap cache check`` and for the console's one-line
notice (``loaded_data_note``).

What is reported, per symbol (times in exchange time, sessions from the XNYS
calendar; see ``storage.calendar`` for the after-close rule):

- **missing sessions**: trading sessions between the symbol's first and last
  bar with no bar at all;
- **missing minutes**: regular-session minutes with no bar, in sessions that
  have bars at one-minute spacing (a coarse session's gaps are its spacing);
- **after an early close**: bars stamped between a half day's close and 16:00,
  which a regular-hours panel leaves out of every anchor (when the symbol has
  no other pre- or after-hours bar: such data was stamped as if the day were a
  normal one; a symbol with extended-hours data counts them as its after-hours);
- **outside trading hours**: bars outside every session's 04:00–20:00 window
  (a night, a weekend, a holiday), in no panel at all;
- **coarse stretches**: runs of sessions whose bars are regularly spaced more
  than one minute apart (the most common spacing, at least half the steps).

Bars in the pre-market and after-hours of a normal day are counted
(``extended``) but are not a problem: they are what ``--extended`` data holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from storage import calendar
from storage.types import MINUTE_US

if TYPE_CHECKING:
    from storage.cache import Cache

_FULL_SESSION = 390


@dataclass(frozen=True)
class Stretch:
    """Consecutive sessions of one symbol whose bars are ``spacing`` minutes apart."""

    first: dt.date
    last: dt.date
    spacing: int
    sessions: int


@dataclass(frozen=True)
class SymbolQuality:
    """One symbol's bars against the calendar."""

    symbol: str
    bars: int
    sessions: int  # sessions with at least one bar
    missing_sessions: tuple[dt.date, ...]
    missing_minutes: int
    gappy_sessions: int  # one-minute sessions with at least one missing minute
    after_close: int
    outside_hours: int
    extended: int
    coarse: tuple[Stretch, ...]

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """Each problem as a short phrase (empty when the symbol is clean)."""
        out = []
        if self.missing_sessions:
            out.append(_count(len(self.missing_sessions), "missing session"))
        if self.missing_minutes:
            out.append(
                f"{_count(self.missing_minutes, 'missing minute')} in "
                f"{_count(self.gappy_sessions, 'session')}"
            )
        if self.after_close:
            out.append(f"{_count(self.after_close, 'bar')} after an early close")
        if self.outside_hours:
            out.append(f"{_count(self.outside_hours, 'bar')} outside trading hours")
        for s in self.coarse:
            span = f"{s.first}" if s.first == s.last else f"{s.first} to {s.last}"
            out.append(f"{s.spacing}-minute bars {span}")
        return out


def check(
    cache: Cache,
    symbols: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    through: np.datetime64 | None = None,
) -> list[SymbolQuality]:
    """Quality of the cached bars of ``symbols`` (default all), sessions ``start..end``.

    ``through`` (a UTC minute) is the last minute that has happened: a session still
    under way is checked up to it, not counted missing for the minutes to come.
    """
    where: list[str] = ["symbol IN (SELECT unnest(?))"]  # then the sessions' bounds
    params: list[Any] = []
    s = calendar.schedule()
    if start is not None:
        lo = int(np.searchsorted(s.dates, np.datetime64(start, "D")))
        where.append("ts >= ?")
        params.append(_dt(s.ext_open[min(lo, len(s.dates) - 1)]))
    if end is not None:
        hi = int(np.searchsorted(s.dates, np.datetime64(end, "D"), side="right")) - 1
        where.append("ts < ?")
        params.append(_dt(s.ext_close[max(hi, 0)]))
    if through is not None:
        where.append("ts <= ?")
        params.append(_dt(np.datetime64(str(through), "m")))
    if symbols is None:
        during = " AND ".join(where[1:])
        with cache.reading() as cur:
            symbols = [r[0] for r in cur.execute(
                "SELECT DISTINCT symbol FROM bars" + (f" WHERE {during}" if during else "")
                + " ORDER BY symbol", params).fetchall()]
    wanted = list(symbols)
    found: dict[str, SymbolQuality] = {}
    cond = " AND ".join(where)
    for c in range(0, len(wanted), CHECK_CHUNK):  # a few symbols at a time: bounded memory
        found.update(_check_chunk(cache, wanted[c: c + CHECK_CHUNK], cond, params, through))
    return [found.get(sym) or _empty(sym) for sym in wanted]


#: Symbols whose minutes one query reads: a few MB at once, whatever the list
#: (the ``all`` list's 650 symbols × 20 days in one read peaked at ~150 MB of
#: Arrow, NumPy and DuckDB sort memory beside the console's own).
CHECK_CHUNK = 64


def _check_chunk(cache: Cache, symbols: list[str], cond: str, params: list[Any],
                 through: np.datetime64 | None) -> dict[str, SymbolQuality]:
    """``check`` for a few symbols; ``cond``'s first ``?`` is the symbol list."""
    params = [symbols, *params]
    with cache.reading() as cur:  # both reads in one hold: the counts match the minutes
        counts = cur.execute(
            f"SELECT symbol, count(*) FROM bars WHERE {cond} GROUP BY symbol ORDER BY symbol",
            params,
        ).fetchall()
        minutes = (
            cur.sql(
                f"SELECT (epoch_us(ts) // {MINUTE_US})::BIGINT AS m FROM bars WHERE {cond}"
                " ORDER BY symbol, ts",
                params=params,
            )
            .to_arrow_table()["m"]
            .to_numpy()
            .astype("datetime64[m]")
        )
    found: dict[str, SymbolQuality] = {}
    at = 0
    for sym, n in counts:  # one numpy pass per symbol over its slice
        found[sym] = symbol_quality(sym, minutes[at : at + n], through)
        at += n
    return found


def symbol_quality(
    symbol: str, ts: np.ndarray, through: np.datetime64 | None = None
) -> SymbolQuality:
    """Quality of one symbol's sorted, unique UTC bar minutes (``datetime64[m]``);
    ``through``: the last minute that has happened (a session under way ends there)."""
    s = calendar.schedule()
    n = len(ts)
    if n == 0:
        return _empty(symbol)
    idx = calendar.session_index_of(ts)
    opens, closes = s.open[idx], s.close[idx]
    in_ext = (ts >= s.ext_open[idx]) & (ts < s.ext_close[idx])
    reg = (ts >= opens) & (ts < closes)
    full_close = opens + np.timedelta64(_FULL_SESSION, "m")
    after_close = in_ext & (ts >= closes) & (ts < full_close)
    outside = ~in_ext
    extended = in_ext & ~reg & ~after_close
    if extended.any():
        # The symbol carries extended-hours data: a half day's 13:00-16:00 bars are
        # its after-hours, like 16:00-20:00 on a normal day, not mis-stamped bars.
        extended |= after_close
        after_close = np.zeros_like(after_close)

    traded = np.unique(idx[in_ext])
    missing: tuple[dt.date, ...] = ()
    if len(traded):
        span = np.arange(traded[0], traded[-1] + 1)
        missing = tuple(d.astype(object) for d in s.dates[span[~np.isin(span, traded)]])

    # Spacing per session, on the regular-session bars.
    r_idx, r_ts = idx[reg], ts[reg].astype(np.int64)
    sessions, counts = np.unique(r_idx, return_counts=True)
    spacing = np.ones(len(sessions), dtype=np.int64)
    if len(r_ts) > 1:
        step = np.diff(r_ts)
        same = r_idx[1:] == r_idx[:-1]
        grp = np.searchsorted(sessions, r_idx[1:][same])
        gaps = step[same]
        keys, pair_n = np.unique((grp << 32) | np.minimum(gaps, 1 << 31), return_counts=True)
        pair_grp, pair_gap = keys >> 32, keys & ((1 << 32) - 1)
        order = np.lexsort((-pair_n, pair_grp))  # per session, the most common gap first
        first = order[np.r_[True, pair_grp[order][1:] != pair_grp[order][:-1]]]
        steps_per = np.bincount(grp, minlength=len(sessions))
        modal, modal_n = pair_gap[first], pair_n[first]
        regular = (modal > 1) & (2 * modal_n >= steps_per[pair_grp[first]])
        spacing[pair_grp[first][regular]] = modal[regular]
    ends = s.close[sessions]
    if through is not None:  # the minutes still to come are not missing
        now = np.asarray(through).astype("datetime64[m]") + np.timedelta64(1, "m")
        ends = np.minimum(ends, now)
    length = np.maximum(ends - s.open[sessions], np.timedelta64(0, "m")).astype(np.int64)
    one_minute = spacing == 1
    gaps_per = np.where(one_minute, length - counts, 0)
    return SymbolQuality(
        symbol=symbol,
        bars=n,
        sessions=len(traded),
        missing_sessions=missing,
        missing_minutes=int(gaps_per.sum()),
        gappy_sessions=int((gaps_per > 0).sum()),
        after_close=int(after_close.sum()),
        outside_hours=int(outside.sum()),
        extended=int(extended.sum()),
        coarse=_stretches(sessions, spacing),
    )


def _stretches(sessions: np.ndarray, spacing: np.ndarray) -> tuple[Stretch, ...]:
    """Merge consecutive coarse sessions with the same spacing into stretches."""
    dates = calendar.schedule().dates
    out: list[Stretch] = []
    run: list[int] = []
    for i in np.flatnonzero(spacing > 1):
        if run and (sessions[i] != sessions[run[-1]] + 1 or spacing[i] != spacing[run[-1]]):
            out.append(_stretch(dates, sessions, spacing, run))
            run = []
        run.append(int(i))
    if run:
        out.append(_stretch(dates, sessions, spacing, run))
    return tuple(out)


def _stretch(dates: np.ndarray, sessions: np.ndarray, spacing: np.ndarray, run: list[int]
             ) -> Stretch:
    return Stretch(
        first=dates[sessions[run[0]]].astype(object),
        last=dates[sessions[run[-1]]].astype(object),
        spacing=int(spacing[run[0]]),
        sessions=len(run),
    )


def summary(reports: Sequence[SymbolQuality], limit: int = 3) -> str | None:
    """One line naming the problems of ``reports`` (None when all are clean).

    E.g. ``"Data check: 2 of 32 symbols have problems: AAPL 3 bars after an early
    close; MSFT 10-minute bars 2025-10-06 to 2025-10-10 (avwap cache check)"``.
    """
    bad = [r for r in reports if not r.ok]
    if not bad:
        return None
    parts = [f"{r.symbol} {', '.join(r.problems())}" for r in bad[:limit]]
    more = f"; +{len(bad) - limit} more" if len(bad) > limit else ""
    return (
        f"Data check: {len(bad)} of {_count(len(reports), 'symbol')} "
        f"{'has' if len(bad) == 1 else 'have'} problems: {'; '.join(parts)}{more} "
        "(details: avwap cache check)"
    )


def loaded_data_note(
    cache: Cache, symbols: Sequence[str], start: dt.date, end: dt.date,
    through: np.datetime64 | None = None,
) -> str | None:
    """The console's one notice about the history it loaded (None when clean).

    Checks exactly the symbols and sessions of the loaded panel, so a problem
    outside the loaded window does not nag the user every start.
    """
    return summary(check(cache, symbols, start, end, through))


def _empty(symbol: str) -> SymbolQuality:
    return SymbolQuality(symbol, 0, 0, (), 0, 0, 0, 0, 0, ())


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _dt(m: np.datetime64) -> Any:
    return m.astype("datetime64[us]").item().replace(tzinfo=dt.UTC)
