"""A console warm-up that steps only the last sessions keeps the key outputs exact."""

from __future__ import annotations

import datetime as dt

import numpy as np

from engine import IncrementalEngine
from engine.registry import output_names
from storage.calendar import minute_grid
from storage.types import Panel

EXACT = [  # closed form (AVWAP), replayed history (rvol), or a short window (SMA 20)
    "avwap_session", "avwap_day", "avwap_week", "avwap_month", "avwap_quarter", "avwap_year",
    "avwap_month_up2", "avwap_year_dn1", "rvol_10", "sma_20",
]  # fmt: skip


def _panel(s: int = 4, seed: int = 11) -> Panel:
    # 14 sessions across a month end (2024-02-29 → 03-01) and the DST change.
    g = minute_grid(dt.date(2024, 2, 20), dt.date(2024, 3, 11), "regular")
    t = len(g.ts)
    rng = np.random.default_rng(seed)
    close = rng.uniform(5, 3000, (s, 1)) * np.exp(np.cumsum(rng.normal(0, 1e-3, (s, t)), 1))
    high = close * (1 + np.abs(rng.normal(0, 4e-4, (s, t))))
    low = close * (1 - np.abs(rng.normal(0, 4e-4, (s, t))))
    valid = rng.random((s, t)) > 0.1
    nan = np.where(valid, 1.0, np.nan)
    return Panel(
        symbols=tuple(f"S{i}" for i in range(s)), ts=g.ts,
        open=close * nan, high=high * nan, low=low * nan, close=close * nan,
        volume=np.where(valid, rng.integers(1, 10**6, (s, t)).astype(float), 0.0), valid=valid,
        segments=g.segments, minute_of_session=g.minute_of_session,
        session_minutes=g.session_minutes,
    )  # fmt: skip


def test_fast_warm_matches_stepping_every_minute():
    panel = _panel()
    history, live = panel.slice_time(0, len(panel.ts) - 150), panel.slice_time(
        len(panel.ts) - 150, len(panel.ts)
    )
    names = [n for n in EXACT if n in output_names()]
    slow, fast = IncrementalEngine(panel.symbols, names), IncrementalEngine(panel.symbols, names)
    a, b = slow.warm(history), fast.warm(history, step_sessions=2)
    assert a is not None and b is not None
    snaps = [(a, b)] + [(slow.step(live.batch(t)), fast.step(live.batch(t))) for t in range(150)]
    for x, y in snaps:
        assert np.array_equal(np.isnan(x.values), np.isnan(y.values))
        ok = ~np.isnan(x.values)
        rel = np.abs(x.values[ok] - y.values[ok]) / np.maximum(np.abs(x.values[ok]), 1e-6)
        assert rel.max(initial=0.0) < 2e-6
        assert np.array_equal(x.last, y.last, equal_nan=True)


def test_fast_warm_month_level_needs_the_whole_month():
    """Stepping only the tail would start the month AVWAP late: the closed form does not."""
    panel = _panel()
    eng = IncrementalEngine(panel.symbols, ["avwap_month"])
    snap = eng.warm(panel, step_sessions=2)
    assert snap is not None
    tail_only = IncrementalEngine(panel.symbols, ["avwap_month"])
    day = panel.segments["day"]
    start = int(np.flatnonzero(np.r_[True, day[1:] != day[:-1]])[-2])
    wrong = tail_only.warm(panel.slice_time(start, len(panel.ts)))
    assert wrong is not None
    assert not np.allclose(snap.values, wrong.values, rtol=1e-6)
