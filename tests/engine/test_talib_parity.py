"""Every output TA-Lib (or a float64 formula) computes matches it, per symbol and per kind.

The reference sees the bars' original float64 prices (``references.Ref``;
TA-Lib on integer ticks where float64's own rounding decides exact ties: ADX,
±DI, SAR). The engine takes price differences from int32 ticks, so ties stay
ties. Tolerances (issue 14), for each symbol on its own numbers, never a mean
over symbols, from the output's declared kind (``engine.meta``):

- OSCILLATOR: 1e-4 of its declared range;
- LEVEL, BAND: 1e-4 of the value itself (a price level relative to its own price);
- everything else (price differences, ratios, z-scores, volume-weighted sums):
  1e-4 of ``|value|`` plus the symbol's own RMS of that output, since these cross
  zero and have no relative precision there.

NaN patterns (warm-up) must match exactly. Panels: a generated random walk, the
adversarial panel (zero volume, flat bars, unchanged closes, exact ties of
typical price and of up/down moves, a halt, $1 to $5,000), and SPY March 2011
(skipped when ../shared/data is absent).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import mlx.core as mx
import numpy as np
import pytest
from _panels import adversarial_panel, make_panel, spy_panel
from references import TALIB, evaluate

from engine.compute import compute_outputs
from engine.inputs import batch_inputs
from engine.meta import Kind
from engine.registry import REGISTRY
from storage.types import Panel

RTOL = 1e-4
NAMES = sorted(TALIB)


def reference(panel: Panel, name: str) -> np.ndarray:
    """The reference on each symbol's real bars, placed back at those minutes."""
    out = np.full(panel.close.shape, np.nan)
    for s in range(len(panel.symbols)):
        m = panel.valid[s]
        bars = {k: getattr(panel, f)[s][m].astype(np.float64)
                for k, f in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"),
                             ("v", "volume"))}
        out[s, m] = evaluate(TALIB[name], bars)
    return out


def allowed(name: str, want: np.ndarray) -> np.ndarray:
    """|got - want| allowed for one symbol's values of ``name`` (issue 14's tolerances)."""
    meta = REGISTRY.meta(name)
    w = np.abs(want)
    if meta.kind is Kind.OSCILLATOR:
        assert meta.value_range is not None
        lo, hi = meta.value_range
        return np.full(want.shape, RTOL * (hi - lo))
    if meta.kind in (Kind.LEVEL, Kind.BAND):
        return RTOL * w
    rms = np.sqrt(np.nanmean(want * want)) if np.isfinite(want).any() else 0.0
    return RTOL * (w + rms)


def check(name: str, panel: Panel, got: np.ndarray, want: np.ndarray) -> None:
    for s, sym in enumerate(panel.symbols):
        m = panel.valid[s]
        g, w = got[s, m], want[s, m]
        nan_g, nan_w = ~np.isfinite(g), ~np.isfinite(w)
        assert (nan_g == nan_w).all(), (
            f"{name} {sym}: NaN pattern differs at {np.flatnonzero(nan_g != nan_w)[:5]}")
        ok = ~nan_w
        err = np.abs(g[ok] - w[ok])
        tol = allowed(name, w[ok])
        bad = err > tol
        worst = int(np.argmax(err - tol))
        assert not bad.any(), (
            f"{name} {sym}: {bad.sum()} values off, worst |err| {err.max():.3g} "
            f"(allowed {tol[worst]:.3g}) at bar {np.flatnonzero(ok)[worst]}")


@lru_cache(maxsize=3)
def _case(kind: str) -> tuple[Panel, dict[str, np.ndarray]] | None:
    if kind == "generated":
        p = make_panel(s=4, start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 5), seed=11,
                       cents=True)
    elif kind == "adversarial":
        p = adversarial_panel()
    else:
        p = spy_panel("extended")
        if p is None:
            return None
    res = compute_outputs(batch_inputs(p), NAMES)
    mx.eval(list(res.values()))
    return p, {k: np.array(v) for k, v in res.items()}


@pytest.mark.parametrize("kind", ["generated", "adversarial", "spy"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_reference(kind: str, name: str) -> None:
    case = _case(kind)
    if case is None:
        pytest.skip("../shared/data/spy-2011 not present")
    p, ours = case
    check(name, p, np.where(p.valid, ours[name], np.nan), reference(p, name))


def test_cheap_symbol_level_error_is_caught() -> None:
    """A price level off by 1e-4 of its own price on the $1 symbol of a $1–$5,000 panel fails."""
    p, ours = _case("adversarial")  # type: ignore[misc]
    want = reference(p, "sma_20")
    got = np.where(p.valid, ours["sma_20"], np.nan).copy()
    cheap = int(np.nanargmin(np.nanmean(p.close, axis=1)))
    check("sma_20", p, got, want)  # as computed: passes
    got[cheap] *= 1 + 1.0001e-4
    with pytest.raises(AssertionError, match=p.symbols[cheap]):
        check("sma_20", p, got, want)


def test_table_covers_the_registry_outputs_it_names() -> None:
    names = set(REGISTRY.output_names())
    assert set(TALIB) <= names
    assert len(TALIB) >= 50


@lru_cache(maxsize=1)
def _adversarial_stepped() -> tuple[Panel, dict[str, np.ndarray], np.ndarray, list[str]]:
    from test_registry_parity import stepped

    p = adversarial_panel(seed=5, days=0)
    names = REGISTRY.output_names()
    batch = compute_outputs(batch_inputs(p), names)
    mx.eval(list(batch.values()))
    return p, {k: np.array(v) for k, v in batch.items()}, stepped(p, names), names


def test_incremental_equals_batch_on_adversarial_bars() -> None:
    """Zero volume, flat bars, unchanged closes, exact ties, a halt, $1-$5,000: the
    stepped engine equals the batch for every output (per symbol and kind)."""
    from _tolerance import assert_close, symbol_prices

    p, batch, step, names = _adversarial_stepped()
    for i, name in enumerate(names):
        assert_close(name, step[:, :, i], batch[name], symbol_prices(p.close),
                     where=" [adversarial]")
