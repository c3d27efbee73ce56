"""Registry outputs made scale-free, so one model reads a $1 stock and a $5,000 one alike.

Each output is transformed by the ``scale`` its registry metadata declares
(``engine.meta.Scale``); nothing here knows a particular indicator:

- PRICE_DISTANCE ``(close - value) / atr``: how many ATRs the close sits above
  a level or band;
- PRICE_UNITS ``value / atr``: MACD, ATR itself, σ, momentum in ATR units;
- RANGE ``(value - lo) / (hi - lo)``: oscillators on [0, 1];
- NONE: the value as is (z-scores, ratios, counts, regime codes);
- DIFF ``(x[t] - x[t-L]) / sqrt(Σ (x[j] - x[j-1])²)`` over the model's
  lookback ``L``: a running sum's change measured against its own minute-to-
  minute noise (an OBV that rose every minute gives sqrt(L), a random walk ~1);
- RMS ``x[t] / sqrt(mean x[j]²)`` over the lookback: a zero-centred oscillator
  in volume units against its own recent size.

``atr`` is ``ATR_NAME`` from the same registry, floored at ``ATR_FLOOR`` of the
close so a symbol that did not move cannot divide by zero. ``close`` is the last
real close (carried across minutes without a bar, as the engine does).

The one function ``scale_free`` serves both the data set builder (whole
``[S, T]`` histories) and the live selector (a ring of the last ``L + 1`` raw
rows), so training and the console cannot disagree about a feature.
NaN in means "no value yet" (warm-up, or fewer than ``L`` minutes for
DIFF / RMS) and stays NaN; the builder masks those rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.meta import OutputMeta, Scale

ATR_NAME = "atr_14"
ATR_FLOOR = 1e-4  # of the close: 1 basis point


def ffill(a: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward along the last axis (NaN before the first)."""
    ok = np.isfinite(a)
    idx = np.where(ok, np.arange(a.shape[-1]), 0)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    out = np.take_along_axis(a, idx, axis=-1)
    first = np.maximum.accumulate(ok, axis=-1)
    return np.where(first, out, np.nan)


def _rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum over the last ``n`` positions (inclusive) along the last axis; NaN when the
    window is incomplete or holds a NaN."""
    bad = ~np.isfinite(x)
    z = np.zeros((*x.shape[:-1], 1))
    cs = np.concatenate([z, np.cumsum(np.where(bad, 0.0, x), axis=-1)], axis=-1)
    cb = np.concatenate([z, np.cumsum(bad, axis=-1)], axis=-1)
    out = np.full(x.shape, np.nan)
    if x.shape[-1] >= n:
        s = cs[..., n:] - cs[..., :-n]
        nb = cb[..., n:] - cb[..., :-n]
        out[..., n - 1:] = np.where(nb > 0, np.nan, s)
    return out


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        zero = np.where(np.isnan(den) | np.isnan(num), np.nan, 0.0)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), zero)


def scale_column(m: OutputMeta, v: np.ndarray, close: np.ndarray, atr: np.ndarray,
                 lookback: int) -> np.ndarray:
    """One output ``[..., T]`` (float64) made scale-free by its declared ``scale``."""
    if m.scale is Scale.PRICE_DISTANCE:
        return (close - v) / atr
    if m.scale is Scale.PRICE_UNITS:
        return v / atr
    if m.scale is Scale.RANGE:
        assert m.value_range is not None
        lo, hi = m.value_range
        return (v - lo) / (hi - lo)
    if m.scale is Scale.DIFF:
        d = np.diff(v, axis=-1, prepend=np.nan)
        den = np.sqrt(_rolling_sum(d * d, lookback))
        num = np.full(v.shape, np.nan)
        num[..., lookback:] = v[..., lookback:] - v[..., :-lookback]
        return _safe_ratio(num, den)
    if m.scale is Scale.RMS:
        den = np.sqrt(_rolling_sum(v * v, lookback) / lookback)
        return _safe_ratio(v, den)
    return v


def scale_free(raw: np.ndarray, close: np.ndarray, names: Sequence[str],
               metas: Sequence[OutputMeta], lookback: int) -> np.ndarray:
    """``raw[S, T, F]`` registry outputs -> float32 ``[S, T, F]`` scale-free features.

    ``close[S, T]`` is the carried-forward close; ``names`` must include
    ``ATR_NAME``. Columns are transformed one at a time in float64.
    """
    close = close.astype(np.float64)
    atr_raw = raw[:, :, list(names).index(ATR_NAME)].astype(np.float64)
    atr = np.maximum(atr_raw, ATR_FLOOR * np.abs(close))
    out = np.empty(raw.shape, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for j, m in enumerate(metas):
            out[:, :, j] = scale_column(m, raw[:, :, j].astype(np.float64), close, atr, lookback)
    return out


class RowScaler:
    """``scale_free`` for one new minute of every symbol, vectorized by scale.

    The live selector calls it once per minute: the same formulas as
    ``scale_column`` applied to ``[S, F]`` at once (grouped by scale), and the
    lookback-scaled columns (DIFF, RMS) from the last ``lookback + 1`` raw values
    kept by the caller. ``tests/models/test_training.py`` checks the rows it
    produces against the data set's windows.
    """

    def __init__(self, names: Sequence[str], metas: Sequence[OutputMeta], lookback: int) -> None:
        self.lookback = lookback
        self.atr = list(names).index(ATR_NAME)
        by = {s: np.array([j for j, m in enumerate(metas) if m.scale is s], dtype=np.int64)
              for s in Scale}
        self.dist, self.units = by[Scale.PRICE_DISTANCE], by[Scale.PRICE_UNITS]
        self.range, self.none = by[Scale.RANGE], by[Scale.NONE]
        self.lo = np.array([metas[j].value_range[0] for j in self.range])  # type: ignore[index]
        self.hi = np.array([metas[j].value_range[1] for j in self.range])  # type: ignore[index]
        self.rolling = np.array([j for j, m in enumerate(metas)
                                 if m.scale in (Scale.DIFF, Scale.RMS)], dtype=np.int64)
        self.is_diff = np.array([metas[j].scale is Scale.DIFF for j in self.rolling])

    def __call__(self, raw: np.ndarray, close: np.ndarray, hist: np.ndarray) -> np.ndarray:
        """``raw[S, F]``, ``close[S]``, ``hist[S, lookback + 1, R]`` -> float32 ``[S, F]``."""
        raw = raw.astype(np.float64)
        c = close.astype(np.float64)[:, None]
        atr = np.maximum(raw[:, self.atr], ATR_FLOOR * np.abs(close))[:, None]
        out = np.empty(raw.shape, dtype=np.float32)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            out[:, self.dist] = (c - raw[:, self.dist]) / atr
            out[:, self.units] = raw[:, self.units] / atr
            out[:, self.range] = (raw[:, self.range] - self.lo) / (self.hi - self.lo)
            out[:, self.none] = raw[:, self.none]
            if len(self.rolling):
                lb = self.lookback
                d = np.diff(hist, axis=1)  # [S, lb, R]
                diff_den = np.sqrt((d * d).sum(axis=1))
                diff_num = hist[:, lb] - hist[:, 0]
                last = hist[:, lb]
                rms_den = np.sqrt((hist[:, 1:] ** 2).sum(axis=1) / lb)
                num = np.where(self.is_diff, diff_num, last)
                den = np.where(self.is_diff, diff_den, rms_den)
                out[:, self.rolling] = _safe_ratio(num, den)
        return out
