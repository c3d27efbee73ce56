"""Every registry output declares complete, sane metadata, and the engine's numbers honour it.

The metadata is data (``engine.meta``) the engine, the selection model and the
backtester act on, so a wrong declaration is a wrong number somewhere: these
tests check it against the values the outputs actually take on a panel.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from engine.compute import compute
from engine.indicators import DECLARED
from engine.meta import Direction, History, Kind, OutputMeta, Scale, direction_reading
from engine.registry import REGISTRY, Registry, indicator_for, output_names, reading
from storage import demo
from storage.cache import Cache
from tests.engine._panels import make_panel

NAMES = REGISTRY.output_names()


@pytest.fixture(scope="module")
def demo_values(tmp_path_factory):
    """The demo's bars (4 sessions, 4 symbols) through a real cache, and every output on them."""
    symbols = ["AAPL", "SPY", "F", "NVDA"]
    table = demo.generate(symbols, 4, end=dt.date(2024, 11, 29))
    cache = Cache(tmp_path_factory.mktemp("demo") / "cache.duckdb")
    cache.write_bars(table)
    dates = demo.sessions_for(4, dt.date(2024, 11, 29))
    panel = cache.load_panel(symbols, dates[0].astype(object), dates[-1].astype(object))
    return panel, compute(panel).numpy()


def test_every_output_has_one_complete_declaration():
    assert output_names() == NAMES
    assert len(NAMES) == len(set(NAMES))
    for name in NAMES:
        m = REGISTRY.meta(name)
        assert m.name == name
        assert isinstance(m.kind, Kind) and isinstance(m.scale, Scale)
        assert isinstance(m.history, History)
        if m.kind is Kind.OSCILLATOR:
            assert m.value_range is not None and m.scale is Scale.RANGE, name
        if m.kind.price_like:
            assert m.scale is Scale.PRICE_DISTANCE, name
        if m.kind is Kind.CUMULATIVE:
            assert m.history.unbounded and m.scale is Scale.DIFF, name
        h = m.history
        assert h.unbounded or h.replayed or h.bars or h.sessions or name == "minutes_since_open"
        if h.unbounded:  # needs an exact state: closed form or batch-derived
            assert indicator_for(name).warm_state is not None, name
        if m.prior is not None:
            assert 0.0 <= m.prior <= 1.0


def test_selectable_and_priors_follow_the_contract():
    sel = REGISTRY.selectable()
    assert sel == [n for n in NAMES if REGISTRY.meta(n).direction is not None]
    for name in ("avwap_session", "avwap_day", "rsi_14", "macd_hist", "avwap_session_up2"):
        assert name in sel
    for name in ("regime", "obv", "atr_14", "minutes_since_open"):
        assert name not in sel
    assert REGISTRY.meta("avwap_session").prior == 0.9
    assert REGISTRY.meta("avwap_day").prior == 0.8


def test_unknown_name_is_a_clear_key_error():
    with pytest.raises(KeyError, match="no indicator output named 'nope'"):
        REGISTRY.meta("nope")
    with pytest.raises(ValueError, match="no directional reading"):
        reading("atr_14", np.ones(3), np.ones(3))


def test_readings_of_each_rule():
    close = np.array([10.0, 10.0, 10.0, np.nan])
    value = np.array([9.0, 11.0, 10.0, 9.0])
    assert direction_reading(Direction.level(), value, close).tolist() == [1, -1, 0, 0]
    assert direction_reading(Direction.fade("upper"), value, close).tolist() == [-1, 0, 0, 0]
    assert direction_reading(Direction.fade("lower"), value, close).tolist() == [0, 1, 0, 0]
    assert direction_reading(Direction.breakout("upper"), value, close).tolist() == [1, 0, 0, 0]
    assert direction_reading(Direction.breakout("lower"), value, close).tolist() == [0, -1, 0, 0]
    osc = np.array([10.0, 50.0, 90.0, np.nan])
    assert reading("rsi_14", osc, np.ones(4)).tolist() == [1, 0, -1, 0]
    assert reading("avwap_session_z", np.array([-3.0, 0.0, 3.0, 1.0]),
                   np.ones(4)).tolist() == [1, 0, -1, 0]
    assert reading("macd_hist", np.array([-1.0, 0.0, 2.0, np.nan]),
                   np.ones(4)).tolist() == [-1, 0, 1, 0]
    out = reading("avwap_session", np.full((2, 3), 5.0), np.full((2, 3), 6.0))
    assert out.dtype == np.int8 and out.shape == (2, 3) and (out == 1).all()


def test_values_on_the_demo_honour_their_declarations(demo_values):
    """Levels sit at the symbol's own price, oscillators in their range, readings in {-1,0,1}."""
    panel, values = demo_values
    close = panel.close
    lo, hi = np.nanmin(panel.low, axis=1), np.nanmax(panel.high, axis=1)
    for f, name in enumerate(NAMES):
        m = REGISTRY.meta(name)
        v = values[:, :, f]
        for s in range(len(panel.symbols)):  # per symbol, never pooled
            vs = v[s][np.isfinite(v[s])]
            if not len(vs):
                continue
            if m.kind is Kind.LEVEL:
                assert vs.min() >= lo[s] * 0.999 and vs.max() <= hi[s] * 1.001, (name, s)
            if m.kind is Kind.BAND:
                width = hi[s] - lo[s]
                assert vs.min() > lo[s] - 4 * width and vs.max() < hi[s] + 4 * width, (name, s)
            if m.value_range is not None:
                a, b = m.value_range
                slack = 1e-4 * (b - a)
                assert vs.min() >= a - slack and vs.max() <= b + slack, (name, s)
        if m.direction is not None:
            r = reading(name, v, close)
            assert set(np.unique(r)) <= {-1, 0, 1}, name
            assert (r[~np.isfinite(v) | ~np.isfinite(close)] == 0).all(), name


def test_declarations_have_no_import_side_effect():
    """The registry is built from the families' data; rebuilding gives the same registry."""
    def load():
        return ([i for fam in DECLARED for i in fam.INDICATORS],
                [m for fam in DECLARED for m in fam.META])

    again = Registry(load)
    assert again.output_names() == NAMES
    assert [i.key for i in again.indicators()] == [i.key for i in REGISTRY.indicators()]


def test_a_registry_refuses_incomplete_or_duplicate_declarations():
    inds = [i for fam in DECLARED for i in fam.INDICATORS]
    metas = [m for fam in DECLARED for m in fam.META]
    with pytest.raises(ValueError, match="without metadata: rsi_14"):
        Registry(lambda: (inds, [m for m in metas if m.name != "rsi_14"])).output_names()
    with pytest.raises(ValueError, match="declared twice"):
        Registry(lambda: (inds, [*metas, metas[0]])).output_names()
    stray = OutputMeta("not_an_output", Kind.RATIO, Scale.NONE, History(bars=1))
    with pytest.raises(ValueError, match="which no indicator outputs"):
        Registry(lambda: (inds, [*metas, stray])).output_names()
    with pytest.raises(ValueError, match="needs a value_range"):
        OutputMeta("x", Kind.OSCILLATOR, Scale.RANGE, History(bars=1))


def test_step_sessions_from_declared_history():
    assert History.window(20).step_sessions() == 2
    assert History.cumulative().step_sessions() == 0
    assert History(sessions=11, replayed=True).step_sessions() == 1
    assert REGISTRY.step_sessions(["avwap_hh"]) == 6
    assert REGISTRY.step_sessions(["avwap_month", "obv"]) == 0
    assert REGISTRY.step_sessions() == max(REGISTRY.meta(n).history.step_sessions() for n in NAMES)


def test_oscillators_in_range_on_random_panels():
    panel = make_panel(s=4, seed=3)
    values = compute(panel).numpy()
    for f, name in enumerate(NAMES):
        rng = REGISTRY.meta(name).value_range
        if rng is None:
            continue
        for s in range(len(panel.symbols)):
            vs = values[s, :, f]
            vs = vs[np.isfinite(vs)]
            slack = 1e-4 * (rng[1] - rng[0])
            assert (vs >= rng[0] - slack).all() and (vs <= rng[1] + slack).all(), (name, s)
