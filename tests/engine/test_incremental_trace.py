"""The compiled step is traced once per engine, whatever built its state.

Why: ``mx.compile`` keys its cache on the flattened inputs, dict order included.
The warm-up's state (read off the batch) had its keys in another order than the
step's own output, so the first live minute traced the ~1,100-node step again
(the console's slowest update, and a second compiled graph kept for good). A
state loaded from disk had never been traced: ``rehearse`` does it before the
first live minute, changing nothing. The trace count is counted (each trace runs
the Python ``_step_all``), never timed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from _panels import make_panel

from engine.incremental import IncrementalEngine
from storage.types import Panel


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every trace of an engine's compiled step made after this fixture (one entry each)."""
    seen: list[int] = []
    real = IncrementalEngine._step_all

    def counted(self, state, raw):  # type: ignore[no-untyped-def]
        seen.append(1)
        return real(self, state, raw)

    monkeypatch.setattr(IncrementalEngine, "_step_all", counted)
    yield seen


@pytest.fixture(scope="module")
def panel() -> Panel:
    return make_panel(s=4, start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 8), seed=9)


def _values(eng: IncrementalEngine, panel: Panel, start: int, n: int) -> np.ndarray:
    return np.stack([eng.step(panel.batch(t)).values for t in range(start, start + n)])


def test_a_warm_up_and_its_live_minutes_trace_the_step_once(
        traces: list[int], panel: Panel) -> None:
    t = len(panel.ts) - 20
    eng = IncrementalEngine(panel.symbols)
    eng.warm(panel.slice_time(0, t), step_sessions=1)
    assert len(traces) == 1  # the warm-up's last minute
    _values(eng, panel, t, 5)
    assert len(traces) == 1


def test_rehearse_traces_a_loaded_state_and_changes_nothing(
        traces: list[int], panel: Panel) -> None:
    t = len(panel.ts) - 20
    warm = IncrementalEngine(panel.symbols)
    warm.warm(panel.slice_time(0, t), step_sessions=1)
    saved = warm.export_state()
    plain, rehearsed = IncrementalEngine(panel.symbols), IncrementalEngine(panel.symbols)
    for eng in (plain, rehearsed):
        eng.import_state(saved)
    n = len(traces)
    rehearsed.rehearse(panel.batch(t - 1))
    assert len(traces) == n + 1
    after = _values(rehearsed, panel, t, 5)
    assert len(traces) == n + 1  # its live minutes: no trace
    expected = _values(plain, panel, t, 5)
    np.testing.assert_array_equal(after, expected)  # bit for bit, NaN where NaN
    np.testing.assert_array_equal(_values(warm, panel, t, 5), expected)
