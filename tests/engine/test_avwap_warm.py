"""Warming the calendar AVWAP from a panel equals stepping every minute of it."""

from __future__ import annotations

import datetime as dt

import mlx.core as mx
import numpy as np
import pytest

from engine import avwap, stepping
from engine.inputs import step_inputs
from storage.calendar import minute_grid
from storage.types import Panel


def _panel(start: dt.date, end: dt.date, hours: str, s: int = 5, seed: int = 3) -> Panel:
    g = minute_grid(start, end, hours)
    t = len(g.ts)
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(np.log(1.0), np.log(5000.0), (s, 1)))
    close = base * np.exp(np.cumsum(rng.normal(0, 1e-3, (s, t)), axis=1))
    high = close * (1 + np.abs(rng.normal(0, 5e-4, (s, t))))
    low = close * (1 - np.abs(rng.normal(0, 5e-4, (s, t))))
    open_ = np.clip(close * (1 + rng.normal(0, 2e-4, (s, t))), low, high)
    volume = np.exp(rng.uniform(0, np.log(1e8), (s, t))).round()
    valid = rng.random((s, t)) > 0.2
    valid[-1, -500:] = False  # a symbol silent through the end of the history
    nan = np.where(valid, 1.0, np.nan)
    return Panel(
        symbols=tuple(f"S{i}" for i in range(s)),
        ts=g.ts,
        open=open_ * nan,
        high=high * nan,
        low=low * nan,
        close=close * nan,
        volume=np.where(valid, volume, 0.0),
        valid=valid,
        segments=g.segments,
        minute_of_session=g.minute_of_session,
        session_minutes=g.session_minutes,
        hours=hours,
    )


def _rel(a: mx.array, b: mx.array) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both = ~np.isnan(x) & ~np.isnan(y)
    assert np.array_equal(np.isnan(x), np.isnan(y))
    return float(np.max(np.abs(x[both] - y[both]) / np.maximum(np.abs(y[both]), 1e-9), initial=0))


@pytest.mark.parametrize(
    ("start", "end", "hours", "cut"),
    [
        # Regular hours across the 2024 spring DST change and a month end; the
        # history ends mid-session, so the live minutes continue that session.
        (dt.date(2024, 2, 26), dt.date(2024, 3, 12), "regular", 390 * 11 + 200),
        # Extended hours over Thanksgiving and the 2024-11-29 half day; the history
        # ends in the pre-market, where the session anchor is undefined.
        (dt.date(2024, 11, 25), dt.date(2024, 12, 3), "extended", 960 * 5 + 100),
    ],
)
def test_state_from_panel_continues_like_stepping(start, end, hours, cut):
    panel = _panel(start, end, hours)
    history, live = panel.slice_time(0, cut), panel.slice_time(cut, len(panel.ts))
    step = stepping.compile_step(avwap.calendar_step)
    stepped = avwap.calendar_init(len(panel.symbols))
    for t in range(len(history.ts)):
        stepped, _ = step(stepped, step_inputs(history.batch(t)))
    warmed = avwap.calendar_state_from_panel(history)
    worst = 0.0
    for t in range(min(400, len(live.ts))):
        inp = step_inputs(live.batch(t))
        stepped, out_a = step(stepped, inp)
        warmed, out_b = step(warmed, inp)
        for name in ("avwap_session", "avwap_day", "avwap_month", "avwap_year"):
            worst = max(worst, _rel(out_b[name], out_a[name]))
        for name in ("avwap_week_up2", "avwap_quarter_dn3"):
            level = out_a[name.rsplit("_", 1)[0]]
            band = np.asarray(out_b[name], np.float64) - np.asarray(level, np.float64)
            ref = np.asarray(out_a[name], np.float64) - np.asarray(level, np.float64)
            ok = ~np.isnan(ref)
            assert np.allclose(band[ok], ref[ok], rtol=1e-3, atol=1e-6 * np.nanmax(np.abs(level)))
    assert worst < 1e-6


def test_empty_panel_gives_the_initial_state():
    panel = _panel(dt.date(2024, 3, 4), dt.date(2024, 3, 4), "regular").slice_time(0, 0)
    st = avwap.calendar_state_from_panel(panel)
    init = avwap.calendar_init(len(panel.symbols))
    assert all(np.array_equal(np.asarray(st[k]), np.asarray(init[k]), equal_nan=True) for k in init)
