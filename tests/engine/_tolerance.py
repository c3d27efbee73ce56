"""Per-symbol, per-kind tolerances for comparing two evaluations of a registry output.

Why one helper: a tolerance pooled over symbols (a mean of |value| over a panel
with $1 and $4,000 symbols) lets a price level on the $1 symbol be off by
percents and pass. Here every bound is computed for each symbol from that
symbol's own numbers, and its form follows the output's declared ``Kind``
(``engine.meta``):

- LEVEL, BAND, PRICE_DIFF: ``LEVEL_RTOL`` of the symbol's own price (float32
  resolves a price to 6e-8 of it; a few operations stay far below 1e-5);
- OSCILLATOR: ``OSC_RTOL`` of its declared range;
- ZSCORE: ``Z_TOL * (1 + |z|)``;
- RATIO, VOLUME, CUMULATIVE: ``RATIO_RTOL`` of ``|value|`` plus the symbol's own
  typical magnitude (median |value|), so near-zero values are judged on the
  symbol's scale, not the panel's, plus ``RATIO_ATOL`` (percent-of-price
  resolution);
- COUNT, CATEGORICAL: exact.

NaN patterns must match exactly in every case.
"""

from __future__ import annotations

import numpy as np

from engine.meta import Kind
from engine.registry import REGISTRY

LEVEL_RTOL = 1e-5
OSC_RTOL = 1e-4
Z_TOL = 1e-4
RATIO_RTOL = 1e-4
#: Percent-of-price ratios (PPO, ROC, NATR) carry the price's own float32
#: resolution times 100: 1e-6 of a price is 1e-4 percentage points.
RATIO_ATOL = 1e-4


def symbol_prices(close: np.ndarray) -> np.ndarray:
    """Each symbol's own price level ``[S]`` (median close over its real bars)."""
    with np.errstate(all="ignore"):
        return np.nanmedian(np.abs(close), axis=1)


def bound(name: str, want: np.ndarray, price: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The allowed |got - want| for ``want[S, ...]`` of output ``name`` (``scale`` loosens)."""
    m = REGISTRY.meta(name)
    shape = (-1,) + (1,) * (want.ndim - 1)
    w = np.abs(np.nan_to_num(want))
    if m.kind in (Kind.LEVEL, Kind.BAND, Kind.PRICE_DIFF):
        return np.broadcast_to(scale * LEVEL_RTOL * price.reshape(shape), want.shape)
    if m.kind is Kind.OSCILLATOR:
        assert m.value_range is not None
        lo, hi = m.value_range
        return np.full(want.shape, scale * OSC_RTOL * (hi - lo))
    if m.kind is Kind.ZSCORE:
        return scale * Z_TOL * (1.0 + w)
    if m.kind in (Kind.COUNT, Kind.CATEGORICAL):
        return np.zeros(want.shape)
    flat = np.where(np.isnan(want), np.nan, np.abs(want)).reshape(want.shape[0], -1)
    with np.errstate(all="ignore"):
        typical = np.nan_to_num(np.nanmedian(flat, axis=1))
    return scale * (RATIO_RTOL * (w + typical.reshape(shape)) + RATIO_ATOL)


def assert_close(name: str, got: np.ndarray, want: np.ndarray, price: np.ndarray,
                 scale: float = 1.0, where: str = "") -> None:
    """Same NaNs; each symbol within its own bound for ``name``'s kind."""
    gn, wn = np.isnan(got), np.isnan(want)
    bad = np.argwhere(gn != wn)
    assert not len(bad), (f"{name}{where}: NaN mismatch at {bad[:5].tolist()} "
                          f"got={got[tuple(bad[0])]} want={want[tuple(bad[0])]}")
    err = np.abs(np.where(wn, 0.0, got.astype(np.float64) - want))
    tol = bound(name, want, price, scale)
    over = np.argwhere(err > tol)
    if len(over):
        i = tuple(over[0])
        worst = np.unravel_index(np.argmax(err - tol), err.shape)
        raise AssertionError(
            f"{name}{where} ({REGISTRY.meta(name).kind.value}): {len(over)} values off, first "
            f"at {list(i)}: got {got[i]!r}, want {want[i]!r}, tol {tol[i]:.3g} "
            f"(symbol price {price[i[0]]:.4g}); worst at {list(worst)}: err {err[worst]:.3g}"
        )
