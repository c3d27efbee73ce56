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
