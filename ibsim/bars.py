"""The simulator's bars and its clock: what "now" is, which bars are closed, the forming one.

The simulated clock is an index into the minute grid of the source bars; tests
and the demo move it with ``advance()`` (a minute closes) and ``tick()`` (the
forming minute is revised), so nothing waits on the wall clock. Everything the
client sees as time (bar stamps, ``reqCurrentTime``) comes from here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from storage import calendar
from storage.cache import Cache, bars_table
from storage.types import as_dt64

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([SDWMY])\s*$")


@dataclass(frozen=True)
class Bar:
    """One bar as the simulator sends it: ``ts`` is the minute start in epoch seconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def wap(self) -> float:
        return round((self.high + self.low + self.close) / 3.0, 4)


class _Series:
    def __init__(self, ts: np.ndarray, cols: list[np.ndarray]) -> None:
        order = np.argsort(ts, kind="stable")
        self.ts = ts[order]  # int64 epoch seconds
        self.o, self.h, self.l, self.c, self.v = (np.asarray(c, np.float64)[order] for c in cols)
        minutes = self.ts.astype("datetime64[s]").astype("datetime64[m]")
        grid = calendar.describe_minutes(minutes)
        self.rth = (grid.minute_of_session >= 0) & (grid.minute_of_session < grid.session_minutes)
        self.day = grid.segments["day"]

    def bar(self, i: int) -> Bar:
        return Bar(int(self.ts[i]), float(self.o[i]), float(self.h[i]), float(self.l[i]),
                   float(self.c[i]), float(self.v[i]))


class SimBars:
    """Source bars for the simulator plus the simulated clock."""

    def __init__(self, table: pa.Table, start: np.datetime64 | None = None) -> None:
        sym = np.asarray(table.column("symbol").to_pylist(), dtype=object)
        ts = (
            table.column("ts").cast(pa.timestamp("us", tz="UTC")).to_numpy().astype("datetime64[s]")
        ).astype(np.int64)
        cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
        self._series: dict[str, _Series] = {}
        for s in dict.fromkeys(sym.tolist()):
            m = sym == s
            self._series[str(s)] = _Series(ts[m], [c[m] for c in cols])
        all_ts = np.unique(ts) if len(ts) else np.array([], np.int64)
        self.grid = all_ts
        if start is None and len(all_ts):
            # Default: 30 minutes into the last day, so there is a past and a future.
            last_day = self._day_of(int(all_ts[-1]))
            first_of_day = all_ts[[self._day_of(int(t)) == last_day for t in all_ts]][0]
            start = np.datetime64(int(first_of_day) + 30 * 60, "s")
        start_s = int(as_dt64(start, "s").astype(np.int64)) if start is not None else 0
        self.i = self._start = int(np.searchsorted(all_ts, start_s, side="left"))
        self.version = 0

    def fork(self) -> SimBars:
        """The same bars with a clock of its own, back at the start.

        The series are read-only, so tests build them once (the calendar work is
        the slow part) and give every simulator a fresh clock.
        """
        new = object.__new__(SimBars)
        new._series, new.grid = self._series, self.grid
        new.i = new._start = self._start
        new.version = 0
        return new

    # ----------------------------------------------------------- constructors
    @classmethod
    def from_demo(
        cls,
        symbols: Sequence[str],
        days: int = 5,
        *,
        end: dt.date | None = None,
        seed: int | None = None,
        start: np.datetime64 | None = None,
        extended: bool = False,
    ) -> SimBars:
        from storage import demo

        table = demo.generate(
            list(symbols), days, end=end or demo.DEFAULT_END,
            seed=demo.DEFAULT_SEED if seed is None else seed, extended=extended,
        )
        return cls(table, start)

    @classmethod
    def from_cache(
        cls, cache: Cache, symbols: Sequence[str] | None = None, start: np.datetime64 | None = None
    ) -> SimBars:
        return cls(cache.read_bars(list(symbols) if symbols else None), start)

    # ----------------------------------------------------------------- clock
    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._series)

    def has(self, symbol: str) -> bool:
        return symbol in self._series

    @property
    def ended(self) -> bool:
        return self.i >= len(self.grid)

    @property
    def now(self) -> int:
        """Start (epoch s) of the forming minute; after the data ends, one minute past it."""
        if self.ended:
            return int(self.grid[-1]) + 60 if len(self.grid) else 0
        return int(self.grid[self.i])

    def server_time(self) -> int:
        """What ``reqCurrentTime`` answers: mid-way through the forming minute."""
        return self.now + (30 if not self.ended else 0)

    def advance(self) -> None:
        self.i += 1
        self.version = 0

    def tick(self) -> None:
        self.version += 1

    @staticmethod
    def _day_of(ts_s: int) -> int:
        m = np.array([ts_s], "datetime64[s]").astype("datetime64[m]")
        return int(calendar.describe_minutes(m).segments["day"][0])

    # ------------------------------------------------------------------ bars
    def final_at(self, symbol: str, ts_s: int) -> Bar | None:
        s = self._series[symbol]
        j = int(np.searchsorted(s.ts, ts_s))
        return s.bar(j) if j < len(s.ts) and s.ts[j] == ts_s else None

    def is_rth(self, symbol: str, ts_s: int) -> bool:
        s = self._series[symbol]
        j = int(np.searchsorted(s.ts, ts_s))
        return bool(j < len(s.ts) and s.ts[j] == ts_s and s.rth[j])

    def forming(self, symbol: str) -> Bar | None:
        """The forming minute's bar as known so far (revised by ``tick``)."""
        if self.ended:
            return None
        full = self.final_at(symbol, self.now)
        return None if full is None else partial(full, self.version)

    def history(
        self, symbol: str, end_s: int | None, duration: str, rth: bool
    ) -> list[Bar]:
        """Bars for a historical request; ``end_s`` None means "now" (forming bar included)."""
        s = self._series[symbol]
        now = self.now
        end = now if end_s is None else min(end_s, now)
        hi = int(np.searchsorted(s.ts, end, side="left"))  # closed bars start < end
        m = _DURATION_RE.match(duration.upper())
        if not m:
            raise ValueError(f"bad duration {duration!r}")
        n, unit = int(m.group(1)), m.group(2)
        if unit == "S":
            lo = int(np.searchsorted(s.ts, end - n, side="left"))
        else:
            days_back = n * {"D": 1, "W": 5, "M": 21, "Y": 252}[unit]
            days = np.unique(s.day[:hi]) if hi else np.array([], np.int64)
            if end_s is None and not self.ended:
                days = np.union1d(days, [self._day_of(now)])
            keep = days[-days_back:]
            lo = int(np.searchsorted(s.day[:hi], keep[0], side="left")) if len(keep) else hi
        idx = np.arange(lo, hi)
        if rth:
            idx = idx[s.rth[idx]]
        out = [s.bar(int(j)) for j in idx]
        if end_s is None:
            f = self.forming(symbol)
            j = int(np.searchsorted(s.ts, now))
            if f is not None and (not rth or bool(s.rth[j])):
                out.append(f)
        return out

    def closed_table(self, symbols: Sequence[str] | None = None, rth: bool = False) -> pa.Table:
        """Every closed bar (start < now) of ``symbols``: what a perfect cache would hold."""
        syms: list[str] = []
        ts: list[np.ndarray] = []
        cols: list[list[np.ndarray]] = [[] for _ in range(5)]
        for sym in symbols or self.symbols:
            s = self._series.get(sym)
            if s is None:
                continue
            mask = s.ts < self.now
            if rth:
                mask &= s.rth
            syms += [sym] * int(mask.sum())
            ts.append(s.ts[mask])
            for k, a in enumerate((s.o, s.h, s.l, s.c, s.v)):
                cols[k].append(a[mask])
        if not ts:
            return bars_table([], np.array([], "datetime64[us]"), *(np.array([]),) * 5)
        return bars_table(
            np.array(syms, dtype=object),
            np.concatenate(ts).astype("datetime64[s]"),
            *(np.concatenate(c) for c in cols),
        )


def partial(full: Bar, version: int) -> Bar:
    """A forming version of ``full``: the fraction (v+1)/(v+2) of the minute has traded."""
    frac = (version + 1) / (version + 2)
    o = full.open
    c = round(o + (full.close - o) * frac, 2)
    h = round(max(o, c, o + (full.high - o) * frac), 2)
    lo = round(min(o, c, o + (full.low - o) * frac), 2)
    v = float(max(1.0, np.floor(full.volume * frac)))
    return Bar(full.ts, o, h, lo, c, v)
