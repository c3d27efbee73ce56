"""The null: the test days again, with every minute's direction made a coin flip.

``sign_randomized(panel, start, seed)`` rewrites each bar from the first
session ``start`` on: its close-to-close log return, and its open, high and
low measured from the previous close, get one random sign per symbol and
minute (high and low swap when the sign is −1, so the bar stays a bar).
Volume, the size of every move, the bar ranges, missing minutes and the
session calendar are kept; direction is destroyed, so no indicator can know
where price goes next except by chance. The path starts from the last real
close before ``start``, so prices stay in the symbol's own range.

The evaluation (``models.walkforward``) rebuilds the features and labels of
the test days from that copy and runs each fold's *fitted* pipeline on it,
unchanged: the model, its scaler, the fixed set and the logistic baseline.
A real edge shows as a margin over the baselines well outside the null's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from models.dataset import DataSpec
from models.features import ffill
from storage.types import Panel

NULL_SEED = 20_111


def sign_randomized(panel: Panel, start: dt.date, seed: int = NULL_SEED) -> Panel:
    """A copy of ``panel`` whose bars from session ``start`` on have random directions."""
    flip = panel.segments["day"] >= start.toordinal()  # [T]
    if not flip.any():
        return panel
    c = panel.close.astype(np.float64)
    ok = panel.valid & np.isfinite(c) & (c > 0)
    real = np.where(ok, c, np.nan)
    prev = np.full(c.shape, np.nan)
    prev[:, 1:] = ffill(real)[:, :-1]  # the last real close before each minute
    prev = np.where(np.isfinite(prev), prev, panel.open.astype(np.float64))
    rng = np.random.default_rng([seed, len(panel.symbols), len(panel.ts)])
    sign = rng.choice(np.array([-1.0, 1.0]), size=c.shape)
    moving = ok & flip[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(moving, np.log(c / prev), 0.0)
    r = np.nan_to_num(r)
    # new log close: the real one before the flip, then the real base plus signed moves
    base = np.log(prev[:, np.argmax(flip)])[:, None]
    new_logc = base + np.cumsum(sign * r * flip[None, :], axis=1)
    new_prev = np.exp(new_logc - sign * r)
    out = {}
    for name in ("open", "high", "low", "close"):
        x = getattr(panel, name).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = new_prev * np.exp(sign * np.log(x / prev))
    down = sign < 0
    out["high"], out["low"] = (np.where(down, out["low"], out["high"]),
                               np.where(down, out["high"], out["low"]))
    out["close"] = np.exp(new_logc)
    fields = {}
    for name, v in out.items():
        orig = getattr(panel, name)
        fields[name] = np.where(moving, v, orig).astype(orig.dtype)
    return dataclasses.replace(panel, **fields)


def null_spec(spec: DataSpec, last: dt.date, test_days: int) -> DataSpec:
    """A spec whose window covers the test days (plus the one validation and one training
    session a spec needs); the null build's own split and scaler are not used."""
    return dataclasses.replace(spec, days=test_days + 2, val_days=1, test_days=test_days,
                               folds=1, end=last)


__all__ = ["NULL_SEED", "null_spec", "sign_randomized"]
