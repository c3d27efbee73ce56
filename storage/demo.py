"""Deterministic demo minute bars: a market a trader can believe, no server needed.

Each symbol's series is seeded from ``seed`` and the symbol's name alone, and
the index factor from ``seed`` alone, so a symbol's bars are the same whichever
list it is generated with. Bars exist only on real NYSE sessions (holidays
skipped, half days short). The model, per symbol:

- **Start price, beta, own volatility, average daily volume** from the shipped
  table ``tickers/prices.csv`` (SPY starts near SPY's price, COST near COST's,
  and SPY trades about 70M shares a day, QQQ 45M, PRU 1.6M: approximate
  figures, written as such); symbols not in it draw a price of $10–$500, a beta,
  a volatility and a dollar volume of $80M–$1.2B a day from their seed.
- **One index factor** shared by every symbol (about 0.9 % a day), so names
  move together: a symbol's one-minute return is ``beta × index + own``.
- **Intraday shape like US equities**: volatility about 2.6× its midday level
  in the first minutes, decaying over the first half hour, a mild rise into the
  close; U-shaped volume (about 4× midday at the open, 3× into the close, a
  closing-auction minute). The shapes are functions of the minute of the
  session and its length, so a half day has its own open and close.
- **Volatility clustering**: a per-day regime (AR(1) in log space) for the
  index and for each name, and a slowly varying intraday factor (a moving
  average of white noise: stationary, so no artefact at either end of the data).
- **Overnight gaps** and a weak pull of the log price back to the table's price
  (about one year's half-life), so even ``--days`` spanning the whole calendar
  keeps prices in a sane band and far from overflow.
- Volume scales with the day's regime and the bar's move (log-normal noise).
- Optional sparse pre-market (04:00–09:30 ET) and after-hours bars.

Prices are rounded to the cent and every bar passes the cache's validation.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyarrow as pa

from storage import calendar, validate
from storage.cache import Cache, WriteResult, bars_table
from storage.errors import InputError
from storage.tickers import DemoTraits, demo_traits

#: The last session of the default demo data set (a fixed date keeps it deterministic).
DEFAULT_END = dt.date(2025, 11, 21)
DEFAULT_SEED = 20111

INDEX_DAILY_VOL = 0.009  #: the index factor's typical daily move (fraction of price)
_REVERSION = 1.0 / 365.0  #: daily pull of the log price toward the table price
_SLOW_WINDOW = 45  #: minutes in the moving average of the slow intraday vol factor
_SLOW_STD = 0.25  #: std of the slow log-vol factor
_MAX_CELLS = 4_000_000  #: bars generated per chunk in ``seed_cache`` (bounds memory)


@dataclass(frozen=True)
class DemoResult:
    """What ``seed_cache`` really wrote: the sessions, the symbols, the rows."""

    write: WriteResult
    symbols: tuple[str, ...]  #: symbols that were generated and written
    invalid: tuple[str, ...]  #: symbols refused (not valid tickers), never written
    sessions: int
    first: dt.date | None
    last: dt.date | None
    requested_days: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.write.written

    @property
    def rejected(self) -> int:
        return self.write.rejected


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


@lru_cache(maxsize=1)
def _traits() -> dict[str, DemoTraits]:
    return demo_traits()


def sessions_for(days: int, end: dt.date) -> np.ndarray:
    """The ``days`` sessions ending at ``end``, clamped to the exchange calendar.

    An ``end`` past the calendar's last known session (or before its first) is an
    ``InputError``: the demo never invents sessions the calendar does not know.
    """
    if days < 1:
        raise InputError(f"--days must be at least 1, not {days}")
    dates = calendar.schedule().dates
    first, last = dates[0].astype(object), dates[-1].astype(object)
    if end > last:
        raise InputError(
            f"--end {end} is past the exchange calendar's last known session ({last}); "
            "choose an earlier --end"
        )
    out = calendar.previous_sessions(end, days)
    if len(out) == 0:
        raise InputError(f"--end {end} is before the calendar's first session ({first})")
    return out


def generate(
    symbols: Sequence[str],
    days: int = 20,
    *,
    end: dt.date = DEFAULT_END,
    seed: int = DEFAULT_SEED,
    extended: bool = False,
) -> pa.Table:
    """Bars for ``symbols`` over the ``days`` sessions ending at ``end`` (inclusive)."""
    dates = sessions_for(days, end)
    return _generate_on(symbols, dates, seed, extended)


def _generate_on(
    symbols: Sequence[str], dates: np.ndarray, seed: int, extended: bool
) -> pa.Table:
    hours = "extended" if extended else "regular"
    grid = calendar.minute_grid(dates[0].astype(object), dates[-1].astype(object), hours)
    shape = _Shape.of(grid, extended)
    index = _index_factor(shape, seed)
    parts = [_symbol_bars(sym, shape, index, seed, extended) for sym in symbols]
    if not parts:
        return bars_table([], np.array([], "datetime64[us]"), *(np.array([]),) * 5)
    cols = list(zip(*parts, strict=True))
    return bars_table(
        np.repeat(np.array(list(symbols), dtype=object), [len(p[0]) for p in parts]),
        np.concatenate(cols[0]),
        *(np.concatenate(c) for c in cols[1:]),
    )


@dataclass(frozen=True)
class _Shape:
    """The grid's calendar facts and the intraday profiles every symbol shares."""

    ts: np.ndarray
    day_idx: np.ndarray  # [T] index of the session
    day_start: np.ndarray  # [T] bool, first minute of a session
    n_days: int
    in_rth: np.ndarray  # [T] bool
    vol_shape: np.ndarray  # [T] volatility multiplier (mean square 1 over a full session)
    volume_shape: np.ndarray  # [T] volume multiplier (mean 1 over a full session)

    @classmethod
    def of(cls, grid: calendar.MinuteGrid, extended: bool) -> _Shape:
        day = grid.segments["day"]
        start = np.r_[True, day[1:] != day[:-1]]
        day_idx = np.cumsum(start) - 1
        m = grid.minute_of_session.astype(np.float64)
        length = grid.session_minutes.astype(np.float64)
        in_rth = (m >= 0) & (m < length)
        vol, volume = _profiles(m, length)
        vol_full, volume_full = _profiles(np.arange(390.0), np.full(390, 390.0))
        vol = vol / np.sqrt(np.mean(vol_full**2))
        volume = volume / np.mean(volume_full)
        if extended:
            vol = np.where(in_rth, vol, 0.3)
            volume = np.where(in_rth, volume, 0.03)
        return cls(grid.ts, day_idx, start, int(day_idx[-1]) + 1, in_rth, vol, volume)


def _profiles(m: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volatility and volume multipliers at minute ``m`` of a session of ``length``."""
    to_close = np.maximum(length - 1.0 - m, 0.0)
    mo = np.maximum(m, 0.0)
    vol = 1.0 + 1.6 * np.exp(-mo / 12.0) + 0.35 * np.exp(-to_close / 25.0)
    volume = 1.0 + 3.0 * np.exp(-mo / 18.0) + 2.2 * np.exp(-to_close / 14.0)
    volume = volume + 4.0 * (to_close == 0)  # the closing auction's minute
    return vol, volume


def _ar1_exp(rng: np.random.Generator, n: int, phi: float, shock: float) -> np.ndarray:
    """A per-day volatility regime: ``exp`` of an AR(1), mean about 1."""
    x = np.empty(n)
    e = rng.normal(0.0, shock, n)
    prev = 0.0
    for i in range(n):
        prev = phi * prev + e[i]
        x[i] = prev
    return np.exp(x - 0.5 * shock**2 / (1 - phi**2))


def _slow(rng: np.random.Generator, t: int) -> np.ndarray:
    """Slow log-vol factor: a moving average of white noise (stationary at both ends)."""
    w = _SLOW_WINDOW
    c = np.cumsum(rng.normal(0.0, _SLOW_STD / np.sqrt(w), t + w))
    return c[w:] - c[:-w]


@dataclass(frozen=True)
class _Index:
    ret: np.ndarray  # [T] one-minute log return of the index factor
    gap: np.ndarray  # [n_days] overnight log gap (0 on the first day)


def _index_factor(shape: _Shape, seed: int) -> _Index:
    rng = _rng(seed, "^demo-index")
    t = len(shape.ts)
    regime = _ar1_exp(rng, shape.n_days, 0.8, 0.2)
    sigma = INDEX_DAILY_VOL / np.sqrt(390.0) * regime[shape.day_idx] * shape.vol_shape
    gap = rng.normal(0.0, 0.35 * INDEX_DAILY_VOL, shape.n_days)
    gap[0] = 0.0
    return _Index(ret=rng.normal(0.0, 1.0, t) * sigma, gap=gap)


def _symbol_bars(
    symbol: str, shape: _Shape, index: _Index, seed: int, extended: bool
) -> tuple[np.ndarray, ...]:
    rng = _rng(seed, symbol)
    t, n_days, day_idx = len(shape.ts), shape.n_days, shape.day_idx
    traits = _traits().get(symbol)
    drawn_price = float(np.exp(rng.uniform(np.log(10.0), np.log(500.0))))
    drawn_beta = rng.uniform(0.7, 1.4)
    drawn_vol = rng.uniform(0.006, 0.015)
    p0 = traits.price if traits else drawn_price
    beta = traits.beta if traits and traits.beta is not None else drawn_beta
    own_vol = traits.daily_vol if traits and traits.daily_vol is not None else drawn_vol

    regime = _ar1_exp(rng, n_days, 0.75, 0.25)
    own_sigma = (
        own_vol / np.sqrt(390.0) * regime[day_idx] * np.exp(_slow(rng, t)) * shape.vol_shape
    )
    z = rng.standard_t(5, t) / np.sqrt(5 / 3)
    ret = beta * index.ret + own_sigma * z

    gaps = beta * index.gap + rng.normal(0.0, 0.5 * own_vol, n_days)
    gaps[0] = 0.0
    # Pull the log price back toward the table's price, one step per overnight gap:
    # x_end[d] = (1 - k) x_end[d-1] + (day d's own moves); keeps any history sane.
    intraday = np.bincount(day_idx, weights=ret, minlength=n_days)
    jump = np.empty(n_days)
    x = 0.0  # log price at the previous close, relative to the table's price
    for d in range(n_days):
        jump[d] = gaps[d] - _REVERSION * x
        x += jump[d] + intraday[d]
    step = ret + np.where(shape.day_start, jump[day_idx], 0.0)
    log_close = np.log(p0) + np.cumsum(step)
    close = np.exp(log_close)
    prev_close = np.exp(np.r_[np.log(p0), log_close[:-1]])
    sigma_bar = np.sqrt((beta * INDEX_DAILY_VOL) ** 2 + own_vol**2) / np.sqrt(390.0)
    sigma_t = sigma_bar * shape.vol_shape
    open_jump = np.where(shape.day_start, jump[day_idx], 0.0)
    open_ = prev_close * np.exp(open_jump + rng.normal(0.0, 0.1, t) * sigma_t)
    wick = np.abs(rng.normal(0.0, 0.6, (2, t))) * sigma_t * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]

    open_, high, low, close = (np.round(a, 2) for a in (open_, high, low, close))
    low = np.maximum(np.minimum(low, np.minimum(open_, close)), 0.01)
    open_, close = np.maximum(open_, 0.01), np.maximum(close, 0.01)
    high = np.maximum(high, np.maximum(open_, close))

    # A symbol's daily volume: the table's (approximate) average in shares, else a
    # dollar volume drawn from the seed, $80M-$1.2B a day (a typical large US name;
    # the draw is made either way so the minutes' noise below stays the same).
    dollar_volume = float(np.exp(rng.uniform(np.log(8e7), np.log(1.2e9))))
    daily = traits.adv if traits and traits.adv is not None else dollar_volume / p0
    per_minute = daily / 390.0
    surprise = 0.6 + 0.5 * np.abs(z)  # busier minutes move more
    volume = (
        per_minute
        * shape.volume_shape
        * regime[day_idx] ** 0.7
        * surprise
        * rng.lognormal(-0.5 * 0.35**2, 0.35, t)
    )
    volume = np.maximum(np.round(volume), 1.0)

    keep = np.ones(t, dtype=bool)
    if extended:
        keep = shape.in_rth | (rng.random(t) < 0.3)  # outside hours, bars are sparse
    return (
        shape.ts[keep],
        open_[keep],
        high[keep],
        low[keep],
        close[keep],
        volume[keep],
    )


def seed_cache(
    cache: Cache,
    symbols: Sequence[str],
    days: int = 20,
    *,
    end: dt.date = DEFAULT_END,
    seed: int = DEFAULT_SEED,
    extended: bool = False,
    chunk_symbols: int = 64,
) -> DemoResult:
    """Write demo bars into ``cache`` in chunks of symbols (bounded memory).

    Invalid symbols are named in the result and not generated; the result's
    sessions and dates are the ones really written (``days`` is clamped to the
    calendar, which starts in 2000).
    """
    dates = sessions_for(days, end)
    valid = [s for s in dict.fromkeys(symbols) if validate.symbol_ok(s)]
    invalid = tuple(s for s in dict.fromkeys(symbols) if not validate.symbol_ok(s))
    per_symbol = len(dates) * (960 if extended else 390)
    chunk = max(1, min(chunk_symbols, _MAX_CELLS // per_symbol))
    total = WriteResult()
    for i in range(0, len(valid), chunk):
        table = _generate_on(valid[i : i + chunk], dates, seed, extended)
        total.add(cache.write_bars(table, source="demo"))
    notes = []
    if len(dates) < days:
        notes.append(
            f"only {len(dates):,} sessions exist from {dates[0]} to {end} "
            f"(the calendar starts in 2000); asked for {days:,}"
        )
    return DemoResult(
        write=total,
        symbols=tuple(valid),
        invalid=invalid,
        sessions=len(dates),
        first=dates[0].astype(object),
        last=dates[-1].astype(object),
        requested_days=days,
        notes=notes,
    )
