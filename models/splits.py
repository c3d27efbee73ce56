"""Walk-forward folds of three disjoint slices, purged so no label leaks across a cut.

Each fold cuts the window's sessions into, oldest first::

    [ training ............ ][ validation ][ test ]

- **training** fits the weights (and the scaler);
- **validation** stops training and chooses the checkpoint;
- **test** is what the evaluation table reports, and nothing else sees it.

Folds walk forward: the test blocks of the folds tile the newest sessions, the
last fold's test block ends at the window's end, and each fold trains on every
session before its validation block (an expanding window). The last fold is the
model that is kept; the earlier folds exist to be evaluated, so the reported
table pools several test blocks instead of one lucky (or unlucky) stretch.

**The purge.** A sample at minute ``t`` reads the window ``[t - lookback + 1, t]``
and its label reads ``[t, t + horizon]``. A window may reach back over the
previous session's close, so the first validation samples can read minutes
whose labels were learned in training. Training samples whose label interval
ends at or after the first minute any validation or test window reads are
dropped, and likewise validation samples against the test slice. Minute
indices are on the one grid every symbol of a data set shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.errors import ModelError

MAX_AUTO_FOLDS = 3


@dataclass(frozen=True)
class Fold:
    """Session index ranges ``[lo, hi)`` of one fold's three slices."""

    index: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


def default_block(days: int) -> int:
    """Validation and test sessions per fold by default: a tenth of the days, at least 1."""
    return max(1, days // 10)


def auto_folds(days: int, val: int, test: int) -> int:
    """As many folds (up to ``MAX_AUTO_FOLDS``) as leave the first fold half the days to train."""
    spare = days - val - math.ceil(days / 2)
    return max(1, min(MAX_AUTO_FOLDS, spare // test if test else 1))


def plan(days: int, val: int, test: int, folds: int) -> tuple[Fold, ...]:
    """The folds, oldest first; ``ModelError`` when a fold would have no training day."""
    if val < 1 or test < 1 or folds < 1:
        raise ModelError("--val-days, --test-days and --folds must be ≥ 1")
    first_val = days - folds * test - val
    if first_val < 1:
        raise ModelError(f"{folds} fold(s) of {val} validation + {test} test days leave no "
                         f"training day of {days}; use more --days or fewer --folds")
    out = []
    for f in range(folds):
        t_lo = days - (folds - f) * test
        out.append(Fold(f, (0, t_lo - val), (t_lo - val, t_lo), (t_lo, t_lo + test)))
    return tuple(out)


def slices(fold: Fold, day: np.ndarray, t: np.ndarray, lookback: int,
           horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted sample indices (train, val, test) of ``fold``, purged.

    ``day[N]`` is each sample's session index, ``t[N]`` its minute index.
    """
    def within(r: tuple[int, int]) -> np.ndarray:
        return (day >= r[0]) & (day < r[1])

    tr, va, te = within(fold.train), within(fold.val), within(fold.test)
    reads_from = _first_read(t[va | te], lookback)
    tr &= t + horizon < reads_from
    va &= t + horizon < _first_read(t[te], lookback)
    return np.flatnonzero(tr), np.flatnonzero(va), np.flatnonzero(te)


def _first_read(t: np.ndarray, lookback: int) -> int:
    """The first minute any of these samples' windows reads (a huge number when none)."""
    return int(t.min()) - lookback + 1 if len(t) else np.iinfo(np.int64).max


__all__ = ["Fold", "auto_folds", "default_block", "plan", "slices"]
