"""After the console's warm-up, every registry output equals its batch value on the same history.

The console warms with ``warm(history, step_sessions=1)`` (``--warm-days``
default) and then steps live minutes. ``warm`` steps at least the sessions the
outputs in use declare (``engine.meta.History``) and takes exact state for the
unbounded ones (calendar AVWAP in closed form, OBV and A/D from the batch), so
for EVERY output the warmed-then-stepped values must equal the batch values
computed on the whole history, with a tolerance per symbol and per kind
(``_tolerance.py``), on random panels ($1 to $4,000, missing minutes, a month
end) and on the real SPY minutes of March 2011 (skipped when absent).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import mlx.core as mx
import numpy as np
import pytest
from _panels import make_panel, spy_panel
from _tolerance import assert_close, symbol_prices

from engine import IncrementalEngine
from engine.compute import compute_outputs
from engine.inputs import batch_inputs
from engine.registry import REGISTRY, output_names
from storage.types import Panel

ALL = output_names()
CONSOLE_WARM_DAYS = 1  # tui: --warm-days default
LIVE = 90  # minutes stepped after the warm-up


def _random() -> Panel:
    """12 sessions across a month end (02-29 -> 03-01) and the DST change (03-10), $1 to
    $4,000; the $4,000 symbol is illiquid (two minutes in three without a bar), so its
    declared bar histories span more sessions than the others'."""
    p = make_panel(s=4, start=dt.date(2024, 2, 26), end=dt.date(2024, 3, 12), seed=21,
                   levels=(1.0, 40.0, 400.0, 4000.0))
    drop = np.random.default_rng(5).random(len(p.ts)) < 0.67
    p.valid[3, drop] = False
    for a in (p.open, p.high, p.low, p.close):
        a[3, drop] = np.nan
    p.volume[3, drop] = 0.0
    return p


def _spy() -> Panel | None:
    return spy_panel("regular")


@lru_cache(maxsize=2)
def _case(kind: str) -> tuple[Panel, np.ndarray, np.ndarray, int]:
    """(panel, warmed-then-stepped [S, n, F], batch [S, n, F], first compared minute)."""
    panel = _random() if kind == "random" else _spy()
    if panel is None:
        pytest.skip("SPY 2011 minute bars not present (../shared/data/spy-2011)")
    t = len(panel.ts)
    cut = t - LIVE
    eng = IncrementalEngine(panel.symbols, ALL)
    first = eng.warm(panel.slice_time(0, cut), step_sessions=CONSOLE_WARM_DAYS)
    assert first is not None
    snaps = [first.values] + [eng.step(panel.batch(i)).values for i in range(cut, t)]
    stepped = np.stack(snaps, axis=1)
    batch = compute_outputs(batch_inputs(panel), ALL)
    mx.eval(list(batch.values()))
    want = np.stack([np.array(batch[n])[:, cut - 1:] for n in ALL], axis=2)
    return panel, stepped, want, cut - 1


@pytest.mark.parametrize("kind", ["random", "spy"])
@pytest.mark.parametrize("name", ALL)
def test_console_warm_then_step_equals_batch(kind: str, name: str) -> None:
    panel, got, want, t0 = _case(kind)
    f = ALL.index(name)
    assert_close(name, got[:, :, f], want[:, :, f], symbol_prices(panel.close),
                 where=f" [{kind}, minutes {t0}..]")


def test_warm_steps_the_declared_history() -> None:
    """The step count is the outputs' longest declared history, not the console's 2 days."""
    eng = IncrementalEngine(("A",), ["avwap_hh", "sma_20"])
    assert eng.warm_sessions == REGISTRY.step_sessions(["avwap_hh", "sma_20"]) == 6
    # the engine always steps the regime (Snapshot.regime): its ATR-120 memory counts
    assert IncrementalEngine(("A",), ["avwap_month"]).warm_sessions == 5
    assert REGISTRY.step_sessions(["avwap_month", "obv"]) == 0
    assert IncrementalEngine(("A",)).warm_sessions == REGISTRY.step_sessions()


def test_an_illiquid_symbol_steps_more_days() -> None:
    """Declared bars are counted on each symbol's own bars (a day with 100 bars is 100)."""
    from engine.incremental import _day_with_bars_left

    starts = np.arange(0, 10 * 390, 390)
    valid = np.ones((3, 10 * 390), bool)
    valid[1] = np.arange(10 * 390) % 390 < 100  # 100 bars a day
    valid[2] = False  # no bars at all: needs nothing
    assert _day_with_bars_left(valid[[0]], starts, 780) == 8
    assert _day_with_bars_left(valid, starts, 780) == 2  # 8 days x 100 bars
    assert _day_with_bars_left(valid, starts, 5000) == 0  # fewer in the panel: all of it
    assert _day_with_bars_left(valid, starts, 0) == 10


def test_the_auto_anchors_are_wrong_without_their_declared_history() -> None:
    """Control: the auto anchors' state read from fewer days than they declare (the
    console's old two-day warm-up) misses the anchors, so the declared days matter."""
    from engine.avwap.auto import auto_state
    from engine.inputs import last_days

    panel = _random()
    cut = len(panel.ts) - LIVE
    names = ["avwap_hh", "avwap_ll_z"]
    want = compute_outputs(batch_inputs(panel), names)
    price = symbol_prices(panel.close)
    off = {}
    for days in (2, 6):
        eng = IncrementalEngine(panel.symbols, names)
        eng.warm(panel.slice_time(0, cut), step_sessions=CONSOLE_WARM_DAYS)
        eng.state["avwap_auto"] = auto_state(batch_inputs(last_days(panel.slice_time(0, cut),
                                                                    days)))
        got = np.stack([eng.step(panel.batch(i)).column("avwap_hh")
                        for i in range(cut, len(panel.ts))], axis=1)
        ref = np.array(want["avwap_hh"])[:, cut:]
        bad = np.isnan(got) != np.isnan(ref)
        off[days] = bad.any() or (np.nanmax(np.abs(got - ref) / price[:, None]) > 1e-4)
    assert off[2] and not off[6]


def test_fast_warm_month_level_needs_the_whole_month() -> None:
    """Stepping only the tail would start the month AVWAP late: the closed form does not."""
    panel = _random()
    eng = IncrementalEngine(panel.symbols, ["avwap_month"])
    snap = eng.warm(panel, step_sessions=2)
    assert snap is not None
    tail_only = IncrementalEngine(panel.symbols, ["avwap_month"])
    day = panel.segments["day"]
    start = int(np.flatnonzero(np.r_[True, day[1:] != day[:-1]])[-2])
    wrong = tail_only.warm(panel.slice_time(start, len(panel.ts)))
    assert wrong is not None
    assert not np.allclose(snap.values, wrong.values, rtol=1e-6)
