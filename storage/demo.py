"""Deterministic demo minute bars: realistic enough to trade on, no server needed.

Each symbol's series is seeded from ``seed`` and the symbol's name alone, so a
symbol's bars are the same whichever list it is generated with. Bars exist only
on real NYSE sessions (holidays skipped, half days short) and have:

- a start price from $5 to $3,000 (log-uniform, from the symbol's seed);
- volatility clustering: a per-day volatility regime (AR(1) in log space) times
  a slowly varying intraday factor, times a U-shaped intraday profile (more
  movement at the open and the close);
- overnight gaps between sessions;
- U-shaped intraday volume with log-normal noise, larger for cheaper names;
- optional sparse pre-market (04:00–09:30 ET) and after-hours bars.

Prices are rounded to the cent and every bar passes the cache's validation.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from storage import calendar
from storage.cache import Cache, WriteResult, bars_table

#: The last session of the default demo data set (a fixed date keeps it deterministic).
DEFAULT_END = dt.date(2025, 11, 21)
DEFAULT_SEED = 20111


def _rng(seed: int, symbol: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(symbol.encode())])


def generate(
    symbols: Sequence[str],
    days: int = 20,
    *,
    end: dt.date = DEFAULT_END,
    seed: int = DEFAULT_SEED,
    extended: bool = False,
) -> pa.Table:
    """Bars for ``symbols`` over the ``days`` sessions ending at ``end`` (inclusive)."""
    dates = calendar.previous_sessions(end, days)
    if len(dates) == 0:
        return bars_table([], np.array([], "datetime64[us]"), *(np.array([]),) * 5)
    hours = "extended" if extended else "regular"
    grid = calendar.minute_grid(dates[0].astype(object), dates[-1].astype(object), hours)
    parts = [_symbol_bars(sym, grid, seed, extended) for sym in symbols]
    cols = list(zip(*parts, strict=True))
    return bars_table(
        np.repeat(np.array(list(symbols), dtype=object), [len(p[0]) for p in parts]),
        np.concatenate(cols[0]),
        *(np.concatenate(c) for c in cols[1:]),
    )


def _symbol_bars(
    symbol: str, grid: calendar.MinuteGrid, seed: int, extended: bool
) -> tuple[np.ndarray, ...]:
    rng = _rng(seed, symbol)
    t = len(grid.ts)
    day = grid.segments["day"]
    new_day = np.r_[True, day[1:] != day[:-1]]
    day_idx = np.cumsum(new_day) - 1
    n_days = int(day_idx[-1]) + 1

    start_price = float(np.exp(rng.uniform(np.log(5.0), np.log(3000.0))))
    daily_vol = rng.uniform(0.006, 0.025)  # typical daily move of this name
    # Per-day volatility regime: AR(1) in log space.
    regime = np.empty(n_days)
    x = 0.0
    shocks = rng.normal(0.0, 0.25, n_days)
    for i in range(n_days):
        x = 0.75 * x + shocks[i]
        regime[i] = np.exp(x)
    # Slowly varying intraday factor: a smoothed random walk of log-vol.
    slow = np.cumsum(rng.normal(0.0, 0.05, t))
    slow -= np.convolve(slow, np.ones(60) / 60, mode="same")
    mos = grid.minute_of_session.astype(np.float64)
    length = grid.session_minutes.astype(np.float64)
    frac = np.clip(mos / length, 0.0, 1.0)
    u_shape = 0.6 + 1.6 * (frac - 0.5) ** 2 * 4  # 2.2 at the open/close, 0.6 midday
    in_rth = (mos >= 0) & (mos < length)
    u_shape = np.where(in_rth, u_shape, 0.5)
    sigma = daily_vol / np.sqrt(390.0) * regime[day_idx] * np.exp(slow) * u_shape

    rets = rng.standard_t(5, t) * sigma / np.sqrt(5 / 3)
    gaps = rng.normal(0.0, daily_vol * 0.6, n_days)
    rets = rets + np.where(new_day, gaps[day_idx], 0.0)
    rets[0] = 0.0
    close = start_price * np.exp(np.cumsum(rets))
    open_ = np.r_[start_price, close[:-1]] * np.exp(rng.normal(0.0, 0.1, t) * sigma)
    wick = np.abs(rng.normal(0.0, 0.6, (2, t))) * sigma * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]

    open_, high, low, close = (np.round(a, 2) for a in (open_, high, low, close))
    low = np.maximum(np.minimum(low, np.minimum(open_, close)), 0.01)
    high = np.maximum(high, np.maximum(open_, close))

    base_volume = 2.0e7 / np.sqrt(start_price) * rng.uniform(0.3, 3.0)
    vol_profile = np.where(in_rth, u_shape**2, 0.02)
    volume = np.round(
        base_volume / 390.0 * vol_profile * rng.lognormal(0.0, 0.5, t) * regime[day_idx]
    )
    volume = np.maximum(volume, 1.0)

    keep = np.ones(t, dtype=bool)
    if extended:
        keep = in_rth | (rng.random(t) < 0.3)  # outside hours, bars are sparse
    return (
        grid.ts[keep],
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
) -> WriteResult:
    """Write demo bars into ``cache`` in chunks of symbols (bounded memory)."""
    total = WriteResult()
    syms = list(symbols)
    for i in range(0, len(syms), chunk_symbols):
        table = generate(syms[i : i + chunk_symbols], days, end=end, seed=seed, extended=extended)
        total.add(cache.write_bars(table, source="demo"))
    return total
