"""Every output TA-Lib also computes matches TA-Lib: same warm-up NaNs, 1e-4 relative.

TA-Lib runs in float64 on each symbol's sequence of real bars. Its inputs are
the prices the engine sees, i.e. rounded to float32 (the engine's input
precision, as on Apple GPUs): SPY's cent prices are not float32-exact, and a
0.02 stochastic range would otherwise compare input rounding, not maths. The tolerance is
1e-4 relative to the value plus the output's mean magnitude (an oscillator
crossing zero has no relative precision at zero), with a floor of 2e-7 x the
price level for differences of price-level quantities (see
``test_registry_parity.close_enough``).
"""

from __future__ import annotations

import datetime as dt
import sys
from functools import lru_cache
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import talib

from engine.compute import compute_outputs
from engine.inputs import batch_inputs
from engine.registry import indicators
from storage.types import Panel

sys.path.insert(0, str(Path(__file__).parent))
from _panels import make_panel, spy_panel
from test_registry_parity import close_enough

SHARED = [(name, expr) for ind in indicators() for name, expr in ind.talib.items()]


def talib_reference(panel: Panel, expr: str) -> np.ndarray:
    """TA-Lib on each symbol's real bars, placed back at those minutes (NaN elsewhere)."""
    out = np.full(panel.close.shape, np.nan)
    for s in range(len(panel.symbols)):
        m = panel.valid[s]
        cols = {k: getattr(panel, f)[s][m].astype(np.float32).astype(np.float64)
                for k, f in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"),
                             ("v", "volume"))}
        env = {"talib": talib, "np": np, **cols}
        out[s, m] = eval(expr, env)  # expressions come from the registry, not from input
    return out


@lru_cache(maxsize=2)
def _ours(kind: str) -> tuple[Panel, dict[str, np.ndarray]] | None:
    if kind == "generated":
        p = make_panel(s=4, start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 5), seed=11)
    else:
        p = spy_panel("extended")
        if p is None:
            return None
    res = compute_outputs(batch_inputs(p), [n for n, _ in SHARED])
    mx.eval(list(res.values()))
    return p, {k: np.array(v) for k, v in res.items()}


@pytest.mark.parametrize("kind", ["generated", "spy"])
@pytest.mark.parametrize(("name", "expr"), SHARED, ids=[n for n, _ in SHARED])
def test_matches_talib(kind: str, name: str, expr: str) -> None:
    case = _ours(kind)
    if case is None:
        pytest.skip("../shared/data/spy-2011 not present")
    p, ours = case
    want = talib_reference(p, expr)
    got = np.where(p.valid, ours[name], np.nan)
    close_enough(name, got, want, np.nanmean(np.abs(p.close), 1), rtol=1e-4)


def test_shared_subset_is_substantial() -> None:
    assert len(SHARED) >= 40 or len(indicators()) < 40
