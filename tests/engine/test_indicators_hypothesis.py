"""Batch equals incremental over random panels: missing minutes, sessions, price levels.

Tolerances are per symbol and per kind of output (``_tolerance.py``); the two
symbols of a panel sit at a price and three times it, from $1 to $15,000.
"""

from __future__ import annotations

import datetime as dt

import mlx.core as mx
import numpy as np
import pytest
from _panels import make_panel
from _tolerance import assert_close, symbol_prices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_registry_parity import stepped

from engine.compute import compute_outputs
from engine.inputs import batch_inputs
from engine.registry import output_names

ALL = output_names()


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), missing=st.sampled_from([0.0, 0.2, 0.6]),
       day=st.integers(4, 8), hours=st.sampled_from(["regular", "extended"]),
       level=st.sampled_from([1.0, 75.0, 5000.0]))
@pytest.mark.slow
def test_random_panels(seed: int, missing: float, day: int, hours: str, level: float) -> None:
    p = make_panel(s=2, start=dt.date(2024, 3, day), end=dt.date(2024, 3, day + 1), hours=hours,
                   seed=seed, missing=missing, levels=(level, level * 3))
    if hours == "extended":
        p = p.slice_time(200, 200 + 700)  # two session boundaries, pre- and post-market
    batch = compute_outputs(batch_inputs(p), ALL)
    mx.eval(list(batch.values()))
    step = stepped(p, ALL, revise=True)
    price = symbol_prices(p.close)
    for i, name in enumerate(ALL):
        assert_close(name, step[:, :, i], np.array(batch[name]), price,
                     where=f" [seed {seed}, missing {missing}, {hours}, ${level:g}]")
