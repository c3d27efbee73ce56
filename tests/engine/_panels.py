"""Panels for the indicator tests: generated random walks and (if present) real SPY."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from storage.calendar import minute_grid
from storage.types import SEGMENT_KINDS, Panel

SPY_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "spy-2011"
SPY_CSV = SPY_DIR / "SPY_1min_2011-03.csv"


def make_panel(
    s: int = 4,
    start: dt.date = dt.date(2024, 3, 5),
    end: dt.date = dt.date(2024, 3, 7),
    hours: str = "regular",
    seed: int = 0,
    missing: float = 0.1,
    levels: tuple[float, ...] = (5.0, 40.0, 400.0, 4000.0),
    cents: bool = False,
) -> Panel:
    """Random-walk OHLCV on the exchange grid, prices float32-representable.

    Some minutes are missing (``missing`` fraction, plus a whole missing first
    half-hour for the second symbol) and prices sit at levels from $5 to $4,000.
    """
    rng = np.random.default_rng(seed)
    g = minute_grid(start, end, hours)
    t = len(g.ts)
    lv = np.array([levels[i % len(levels)] for i in range(s)])[:, None]
    ret = rng.normal(0, 8e-4, (s, t)) + rng.normal(0, 2e-4, (s, 1))
    close = lv * np.exp(np.cumsum(ret, axis=1))
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    open_ = prev * (1 + rng.normal(0, 2e-4, (s, t)))
    spread = np.abs(rng.normal(0, 6e-4, (s, t))) * lv
    high = np.maximum(open_, close) + spread * rng.random((s, t))
    low = np.minimum(open_, close) - spread * rng.random((s, t))
    volume = np.round(rng.lognormal(7, 1, (s, t)))
    valid = rng.random((s, t)) >= missing
    if s > 1:
        valid[1, :30] = False
    f32 = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    if cents:  # decimal prices, as real bars are (the engine differences them in ticks)
        f32 = lambda a: np.round(a, 2)  # noqa: E731
    nanv = lambda a: np.where(valid, f32(a), np.nan)  # noqa: E731
    return Panel(
        symbols=tuple(f"S{i}" for i in range(s)), ts=g.ts,
        open=nanv(open_), high=nanv(high), low=nanv(low), close=nanv(close),
        volume=np.where(valid, volume, 0.0), valid=valid,
        segments={k: g.segments[k] for k in SEGMENT_KINDS},
        minute_of_session=g.minute_of_session, session_minutes=g.session_minutes, hours=hours,
    )


def spy_panel(hours: str = "extended") -> Panel | None:
    """March 2011 SPY minute bars on the exchange grid (None when the file is absent)."""
    if not SPY_CSV.exists():
        return None
    import pandas as pd

    df = pd.read_csv(SPY_CSV)
    ts = pd.to_datetime(df["timestamp"], utc=True).dt.tz_localize(None).values
    ts = ts.astype("datetime64[m]")
    g = minute_grid(dt.date(2011, 3, 1), dt.date(2011, 3, 31), hours)
    idx = np.searchsorted(g.ts, ts)
    ok = (idx < len(g.ts)) & (g.ts[np.minimum(idx, len(g.ts) - 1)] == ts)
    t = len(g.ts)
    arrs = {}
    for f in ("open", "high", "low", "close"):
        a = np.full((1, t), np.nan)
        a[0, idx[ok]] = df[f].to_numpy()[ok]
        arrs[f] = a
    vol = np.zeros((1, t))
    vol[0, idx[ok]] = df["volume"].to_numpy()[ok]
    valid = np.zeros((1, t), dtype=bool)
    valid[0, idx[ok]] = True
    return Panel(
        symbols=("SPY",), ts=g.ts, volume=vol, valid=valid,
        segments={k: g.segments[k] for k in SEGMENT_KINDS},
        minute_of_session=g.minute_of_session, session_minutes=g.session_minutes, hours=hours,
        **arrs,
    )


ADVERSARIAL_LEVELS = (1.0, 7.0, 130.0, 900.0, 5000.0)


def adversarial_panel(seed: int = 3, days: int = 3) -> Panel:
    """Decimal prices from $1 to $5,000 with the bars that break float formulas.

    Every symbol gets: zero-volume bars, flat bars (h = l = o = c), a run of
    unchanged closes, bars whose typical price exactly equals the previous one
    and whose up and down moves are exactly equal (an inside-out bar widened by
    the same number of ticks at both ends), and a halt (40 missing minutes).
    Prices are whole cents, except the $1 symbol's, which trade in 1/10,000.
    """
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 3, 4)
    g = minute_grid(start, start + dt.timedelta(days=days + 2))
    t, s = len(g.ts), len(ADVERSARIAL_LEVELS)
    unit = np.array([1e-4 if lv < 2 else 1e-2 for lv in ADVERSARIAL_LEVELS])[:, None]
    lv = np.array(ADVERSARIAL_LEVELS)[:, None]
    step = np.maximum(np.rint(lv * 4e-4 / unit), 1)  # typical move in units
    close = np.rint(lv / unit) + np.cumsum(rng.integers(-2, 3, (s, t)) * step, axis=1)
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1) + rng.integers(-1, 2, (s, t))
    high = np.maximum(open_, close) + rng.integers(0, 3, (s, t)) * step
    low = np.minimum(open_, close) - rng.integers(0, 3, (s, t)) * step
    volume = np.round(rng.lognormal(7, 1, (s, t)))
    volume[rng.random((s, t)) < 0.05] = 0.0
    for i in range(s):
        flat = rng.choice(np.arange(1, t), t // 25, replace=False)
        open_[i, flat] = high[i, flat] = low[i, flat] = close[i, flat] = close[i, flat - 1]
        a = int(rng.integers(200, t - 300))
        close[i, a : a + 25] = close[i, a]  # unchanged closes (ranges still move)
        open_[i, a : a + 25] = close[i, a]
        high[i, a : a + 25] = np.maximum(high[i, a : a + 25], close[i, a])
        low[i, a : a + 25] = np.minimum(low[i, a : a + 25], close[i, a])
        ties = rng.choice(np.arange(2, t), t // 20, replace=False)
        for j in np.sort(ties):  # same typical price, equal up and down moves
            k = int(rng.integers(1, 4)) * step[i, 0]
            high[i, j], low[i, j] = high[i, j - 1] + k, low[i, j - 1] - k
            close[i, j] = close[i, j - 1]
            open_[i, j] = np.clip(open_[i, j], low[i, j], high[i, j])
    valid = np.ones((s, t), dtype=bool)
    valid[:, rng.integers(60, t - 60)] = False
    valid[2, 500:540] = False  # a halt
    price = lambda a: np.where(valid, np.round(a * unit, 4), np.nan)  # noqa: E731
    return Panel(
        symbols=tuple(f"A{int(x)}" for x in ADVERSARIAL_LEVELS), ts=g.ts,
        open=price(open_), high=price(high), low=price(low), close=price(close),
        volume=np.where(valid, volume, 0.0), valid=valid,
        segments={k: g.segments[k] for k in SEGMENT_KINDS},
        minute_of_session=g.minute_of_session, session_minutes=g.session_minutes,
    )
