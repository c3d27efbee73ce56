"""Incremental equals batch, bar for bar, on random panels (hypothesis).

Panels have gaps (missing bars, symbols absent for whole segments), calendar
boundaries (extended hours, a DST change, a holiday, a half day) and live
revisions: some minutes first arrive as a still-forming bar with other values
and are then resent; the driver re-steps from the state before the minute, as
the IncrementalEngine does, so the revision must not double count.
"""

from __future__ import annotations

import datetime as dt

import mlx.core as mx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import avwap as A
from engine import stepping
from engine.inputs import batch_inputs, to_ticks
from engine.registry import BatchInputs, StepInputs
from storage.calendar import minute_grid
from storage.types import Panel

WINDOWS = [  # (start, end, hours): each crosses anchors the calendar must get right
    (dt.date(2024, 11, 1), dt.date(2024, 11, 4), "regular"),  # DST end, week edge
    (dt.date(2024, 11, 27), dt.date(2024, 12, 2), "regular"),  # holiday, half day, month
    (dt.date(2024, 3, 28), dt.date(2024, 4, 1), "regular"),  # Good Friday, quarter edge
    (dt.date(2024, 12, 31), dt.date(2025, 1, 2), "regular"),  # holiday, year edge
    (dt.date(2024, 7, 3), dt.date(2024, 7, 5), "extended"),  # pre-market, half day
]


def random_panel(window: int, s: int, seed: int, missing: float, price: float) -> Panel:
    start, end, hours = WINDOWS[window]
    g = minute_grid(start, end, hours)
    t = len(g.ts)
    rng = np.random.default_rng(seed)
    c = price * np.exp(np.cumsum(rng.normal(0, 1e-3, (s, t)), axis=1))
    h = c * (1 + np.abs(rng.normal(0, 5e-4, (s, t))))
    lo = c * (1 - np.abs(rng.normal(0, 5e-4, (s, t))))
    valid = rng.random((s, t)) >= missing
    if s > 1:  # the last symbol is absent for one whole day
        day = g.segments["day"]
        valid[-1, day == day[t // 2]] = False
    vol = np.where(valid, np.round(rng.lognormal(6, 2, (s, t))), 0.0)
    vol[rng.random((s, t)) < 0.02] = 0.0  # zero-volume prints
    nan = np.where(valid, 1.0, np.nan)
    return Panel(
        tuple(f"S{i}" for i in range(s)), g.ts, c * nan, h * nan, lo * nan, c * nan,
        vol, valid, g.segments, g.minute_of_session, g.session_minutes, hours,
    )  # fmt: skip


def forming(si: StepInputs, rng: np.random.Generator) -> StepInputs:
    """A still-forming version of a minute: other prices, partial volume, other symbols."""
    s = si.close.shape[0]
    k = mx.array(rng.uniform(0.99, 1.01, s).astype(np.float32))
    valid = rng.random(s) < 0.7
    px = {f: getattr(si, f) * k for f in ("open", "high", "low", "close")}
    ticks = {f + "_t": mx.array(to_ticks(np.array(a, dtype=np.float64), valid))
             for f, a in px.items()}
    return StepInputs(
        **px,
        volume=si.volume * 0.5 + 7.0,
        valid=mx.array(valid),
        segments=si.segments,
        minute_of_session=si.minute_of_session,
        session_minutes=si.session_minutes,
        ts_minutes=si.ts_minutes,
        **ticks,
    )


RUN = stepping.compile_step(A.calendar_step)


def live(inp: BatchInputs, s: int, seed: int) -> dict[str, np.ndarray]:
    """Step minute by minute; ~1/3 of minutes are first sent forming, then revised."""
    run = RUN
    state = A.calendar_init(s)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[mx.array]] = {}
    for t in range(inp.close.shape[1]):
        final = stepping.step_at(inp, t)
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.33 else 0):
            _, out = run(state, forming(final, rng))  # state before the minute is kept
            mx.eval(out)
        state, out = run(state, final)
        mx.eval(state, out)
        for k, a in out.items():
            rows.setdefault(k, []).append(a)
    return {k: np.array(mx.stack(v, axis=1)) for k, v in rows.items()}


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=st.integers(0, len(WINDOWS) - 1),
    s=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    missing=st.sampled_from([0.0, 0.3, 0.9]),
    price=st.sampled_from([1.0, 150.0, 4500.0]),
)
@pytest.mark.slow
def test_incremental_equals_batch(
    window: int, s: int, seed: int, missing: float, price: float
) -> None:
    panel = random_panel(window, s, seed, missing, price)
    inp = batch_inputs(panel)
    batch = {k: np.array(v) for k, v in A.calendar_batch(inp).items()}
    inc = live(inp, s, seed)
    assert set(inc) == set(batch)
    for name, want in batch.items():
        got = inc[name]
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        ok = ~np.isnan(want)
        if name.endswith("_z"):
            # z = (close − level)/σ: near 0 its error is absolute, so 1e-6 of (1 + |z|)
            err = np.abs(got[ok] - want[ok]) / (1.0 + np.abs(want[ok]))
            assert err.max(initial=0.0) <= 2e-6, (name, err.max())
        else:
            err = np.abs(got[ok] - want[ok]) / np.abs(want[ok])
            assert err.max(initial=0.0) <= 1e-6, (name, err.max())
