"""The generic suite over the WHOLE registry (AVWAP entries included).

For every registered output: the incremental form stepped minute by minute
equals the batch form bar for bar (same NaNs, values within a tolerance per
symbol and per kind of output, ``_tolerance.py``), on panels with missing
minutes, several sessions, extended hours and prices from $1 to $4,000;
revising a still-forming minute never double counts; warm-up is exactly
``warmup_of``.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import mlx.core as mx
import numpy as np
import pytest
from _panels import make_panel
from _tolerance import LEVEL_RTOL, assert_close, symbol_prices

from engine.compute import compute_outputs
from engine.incremental import IncrementalEngine
from engine.inputs import batch_inputs
from engine.registry import REGISTRY, indicators, output_names
from storage.types import Panel

ALL = output_names()


def close_enough(name: str, got: np.ndarray, want: np.ndarray, price: np.ndarray | None = None,
                 rtol: float = 2e-4) -> None:
    """Same NaN pattern; elsewhere ``|got - want| <= rtol * (|want| + mean_s |want|)``.

    ``mean_s`` is the symbol's own mean |want| (the first axis is the symbol),
    never a mean over symbols. ``price[S]`` (the symbol's price level) adds a
    floor of 2e-7 x price: float32 resolves a $4,000 price to 2.4e-4, so a
    difference of two price-level quantities (MACD histogram) cannot be closer
    than a few float32 ulps of price. (The parity suites use the per-kind
    ``_tolerance.assert_close``; this form serves the float64 reference tests.)
    """
    gn, wn = np.isnan(got), np.isnan(want)
    bad = np.argwhere(gn != wn)
    assert not len(bad), (f"{name}: NaN mismatch at {bad[:5].tolist()} "
                          f"got={got[tuple(bad[0])]} want={want[tuple(bad[0])]}")
    if wn.all():
        return
    flat = np.abs(want).reshape(want.shape[0], -1)
    with np.errstate(all="ignore"):
        scale = np.nan_to_num(np.nanmean(flat, axis=1)).reshape((-1,) + (1,) * (want.ndim - 1))
    err = np.abs(np.where(wn, 0, got - want))
    tol = rtol * (np.abs(np.nan_to_num(want)) + scale) + 1e-6
    if price is not None:
        tol = np.maximum(tol, 2e-7 * price.reshape((-1,) + (1,) * (want.ndim - 1)))
    over = np.argwhere(err > tol)
    assert not len(over), (
        f"{name}: {len(over)} values differ, first at {over[0].tolist()}: "
        f"got {got[tuple(over[0])]}, want {want[tuple(over[0])]}"
    )


def stepped(panel: Panel, names: list[str], revise: bool = False) -> np.ndarray:
    eng = IncrementalEngine(panel.symbols, names)
    out = np.empty((len(panel.symbols), len(panel.ts), len(names)), dtype=np.float32)
    rng = np.random.default_rng(1)
    for t in range(len(panel.ts)):
        b = panel.batch(t)
        if revise and t % 7 == 3:
            # a forming version of the bar first: other prices, part of the volume
            noisy = panel.batch(t, final=False)
            for f in ("open", "high", "low", "close"):
                getattr(noisy, f)[:] *= 1 + rng.normal(0, 1e-3, len(panel.symbols))
            noisy.volume[:] *= 0.5
            eng.step(noisy)
            eng.step(noisy)
        out[:, t, :] = eng.step(b).values
    return out


@lru_cache(maxsize=4)
def _case(kind: str) -> tuple[Panel, dict[str, np.ndarray], np.ndarray]:
    if kind == "regular":
        p = make_panel(s=4, start=dt.date(2024, 3, 6), end=dt.date(2024, 3, 8), seed=3,
                       levels=(1.0, 40.0, 400.0, 4000.0))
    else:
        p = make_panel(s=3, start=dt.date(2024, 3, 8), end=dt.date(2024, 3, 11), hours="extended",
                       seed=4, missing=0.3)
    batch = compute_outputs(batch_inputs(p), ALL)
    mx.eval(list(batch.values()))
    step = stepped(p, ALL, revise=(kind != "regular"))
    return p, {k: np.array(v) for k, v in batch.items()}, step


@pytest.mark.parametrize("kind", ["regular", "extended"])
@pytest.mark.parametrize("name", ALL)
def test_incremental_equals_batch(kind: str, name: str) -> None:
    p, batch, step = _case(kind)
    assert_close(name, step[:, :, ALL.index(name)], batch[name], symbol_prices(p.close),
                 where=f" [{kind}]")


PRICE_LIKE = [n for n in ALL if REGISTRY.meta(n).kind.price_like]


def test_a_level_off_by_1e4_of_the_cheapest_price_fails() -> None:
    """On a $1 / $4,000 panel, every price level and band is held to 1e-5 of its own symbol's
    price, so 1e-4 of the $1 price is a failure for each of them (a tolerance pooled over
    symbols, ~2e-4 of the mean level, would let it pass)."""
    p, batch, step = _case("regular")
    price = symbol_prices(p.close)
    cheap = int(np.argmin(price))
    assert price[cheap] < 2.0 and price.max() > 3000.0
    assert LEVEL_RTOL * 10 <= 1e-4
    for name in PRICE_LIKE:
        got = step[:, :, ALL.index(name)].astype(np.float64)
        assert_close(name, got, batch[name], price)  # the real values pass
        t = np.flatnonzero(np.isfinite(got[cheap]))[-1]
        bad = got.copy()
        bad[cheap, t] += 1e-4 * price[cheap]
        with pytest.raises(AssertionError, match=name):
            assert_close(name, bad, batch[name], price)
        pooled = 2e-4 * float(np.nanmean(np.abs(batch[name])))
        assert 1e-4 * price[cheap] < pooled, "the old pooled tolerance would have passed it"


def _sequence_outputs() -> list[str]:
    """Outputs of indicators on the bar sequence: AVWAP and intraday outputs are
    calendar-anchored (NaN until their segment has data), so a fixed warm-up
    count does not describe them; their NaN rules are tested in their own suites."""
    from engine.registry import indicator_for

    return [n for n in ALL if indicator_for(n).family not in ("avwap", "intraday")]


@pytest.mark.parametrize("name", _sequence_outputs())
def test_warmup_is_declared(name: str) -> None:
    """Sequence outputs are NaN exactly for the first ``warmup_of`` real bars."""
    from engine.registry import indicator_for

    ind = indicator_for(name)
    p, batch, _ = _case("regular")
    w = ind.warmup_of(name)
    for s in range(len(p.symbols)):
        vals = batch[name][s][p.valid[s]]
        assert np.isnan(vals[:w]).all(), f"{name}: value inside warm-up"
        assert not np.isnan(vals[w:]).any(), f"{name}: NaN after warm-up {w}"


def test_registry_is_large_and_unique() -> None:
    from engine.registry import FAMILIES

    assert len(ALL) >= 111
    assert {i.family for i in indicators()} == set(FAMILIES)
    assert len(set(ALL)) == len(ALL)
