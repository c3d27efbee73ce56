"""Our simulator against vectorbt's ``Portfolio.from_signals`` on identical orders.

Same entry/exit arrays, fees, fixed fees, slippage, stops and direction; the
trades must agree bar for bar and price for price, PnL within 1e-6 relative.
Real SPY March 2011 bars (skipped when ../shared/data is absent) and random
panels with missing bars (hypothesis, derandomized, few examples).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _panels import make_panel
from _parity import assert_same_trades
from _vbt import vbt_portfolio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.backtest.orders import fill_orders
from engine.backtest.sim import RowParams, simulate
from storage.types import Panel


def _params(s: int, **kw: Any) -> RowParams:
    base: dict[str, Any] = dict(
        stop_loss=np.nan, trailing=np.nan, take_profit=np.nan, time_stop=0,
        size_value=10_000.0, size_fraction=np.nan, init_cash=100_000.0, fee_rate=0.0005,
        commission_per_share=0.0, commission_min=1.0, slippage=0.0002,
    )
    base.update(kw)
    return RowParams(**{k: np.full(s, v, dtype=np.int64 if k == "time_stop" else np.float64)
                        for k, v in base.items()})


def _signals(panel: Panel, seed: int, density: float, shorts: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (1, *panel.shape)
    out = [rng.random(shape) < density for _ in range(4)]
    if not shorts:
        out[2][:] = False
        out[3][:] = False
    return [a & panel.valid[None] for a in out]


def _run(panel: Panel, params: RowParams, sig: list[np.ndarray], overnight: bool) -> tuple:
    orders = fill_orders(
        sig[0], sig[1], sig[2], sig[3], panel.valid, panel.segments["session"],
        panel.minute_of_session, panel.session_minutes, hold_overnight=overnight,
    )
    s = panel.shape[0]
    ours = simulate(panel.open, panel.high, panel.low, panel.close, orders, params,
                    np.arange(s), np.zeros(s, dtype=np.int64), window=16)
    pf = vbt_portfolio(panel.open, panel.high, panel.low, panel.close, orders, params)
    return ours, pf


CASES = {
    "stops_both_sides": dict(stop_loss=0.002, take_profit=0.003),
    "trailing_long_short": dict(trailing=0.0015),
    "fraction_no_stops": dict(size_value=np.nan, size_fraction=0.5, slippage=0.0),
}



@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.slow
def test_spy_2011_matches_vectorbt(vbt: Any, spy: Panel, case: str) -> None:
    shorts = case != "fraction_no_stops"
    sig = _signals(spy, seed=len(case), density=0.01, shorts=shorts)
    ours, pf = _run(spy, _params(1, **CASES[case]), sig, overnight=False)
    assert len(ours) > 30
    assert_same_trades(ours, pf)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    density=st.sampled_from([0.005, 0.03, 0.2]),
    sl=st.sampled_from([np.nan, 0.001, 0.004]),
    tp=st.sampled_from([np.nan, 0.002]),
    trail=st.booleans(),
    overnight=st.booleans(),
)
@pytest.mark.slow
def test_random_panels_match_vectorbt(
    vbt: Any, seed: int, density: float, sl: float, tp: float, trail: bool, overnight: bool
) -> None:
    panel = make_panel(s=3, seed=seed, missing=0.1)
    kw: dict[str, Any] = dict(take_profit=tp)
    kw["trailing" if trail else "stop_loss"] = sl
    ours, pf = _run(panel, _params(3, **kw), _signals(panel, seed, density, True), overnight)
    assert_same_trades(ours, pf)
