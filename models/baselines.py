"""The baselines a selector with skill must beat, fitted on the training slice only.

A 0 reading is never labelled right, so any selector that picks indicators
*with a reading* beats "base rate" and "random k" without knowing anything
about direction. These baselines know that much and nothing more, or learn on
the same features with a far simpler model:

- **random k (nonzero)**: k indicators drawn at random among those with a
  nonzero reading at the sample (all of them, and zeros to fill, when fewer
  than k read); scored by its exact expectation, so it has no draw noise;
- **best fixed k-set**: the k indicators with the highest label rate on the
  training days, picked at every sample;
- **logistic**: one logistic regression per indicator on the last minute's
  standardized features, the regime and whether the indicator reads now
  (``Logistic``), fitted by full-batch Adam on a subsample of the training
  slice; its top-k probabilities are the picks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOGISTIC_SAMPLES = 8192  # training samples the logistic baseline is fitted on (at most)
LOGISTIC_STEPS = 300
LOGISTIC_LR = 0.05
LOGISTIC_L2 = 1e-3
N_REGIME_CODES = 5  # engine.snapshot.REGIMES plus "unknown" (-1)


def nonzero_random(labels: np.ndarray, active: np.ndarray, k: int) -> np.ndarray:
    """Per sample, the expected precision of k picks drawn among the nonzero readings."""
    y = labels.astype(np.float64) * active
    n_active = active.sum(axis=1)
    hits = y.sum(axis=1)
    return np.where(n_active >= k, hits / np.maximum(n_active, 1), hits / k)


def fixed_set(train_labels: np.ndarray, k: int) -> np.ndarray:
    """The k outputs with the highest label rate on the training samples (ties: first)."""
    return np.argsort(-train_labels.astype(np.float64).mean(axis=0), kind="stable")[:k]


def design(last: np.ndarray, regime: np.ndarray) -> np.ndarray:
    """The logistic's shared inputs: last-minute features and a one-hot regime, ``[N, F + 5]``."""
    onehot = np.eye(N_REGIME_CODES, dtype=np.float32)[np.clip(regime.astype(np.int64) + 1, 0,
                                                              N_REGIME_CODES - 1)]
    return np.concatenate([last.astype(np.float32), onehot], axis=1)


@dataclass
class Logistic:
    """``p[n, k] = σ(x[n] · w[:, k] + b[k] + c[k] · active[n, k])``, one model per output."""

    w: np.ndarray  # [D, K]
    b: np.ndarray  # [K]
    c: np.ndarray  # [K]

    def scores(self, x: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Logits ``[N, K]`` (monotone in the probability, so enough to rank)."""
        return x @ self.w + self.b + self.c * active

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, w=self.w, b=self.b, c=self.c)

    @classmethod
    def load(cls, path: Path) -> Logistic:
        with np.load(path) as z:
            return cls(np.array(z["w"]), np.array(z["b"]), np.array(z["c"]))


def fit_logistic(x: np.ndarray, active: np.ndarray, y: np.ndarray, seed: int = 0) -> Logistic:
    """Full-batch Adam on the mean cross-entropy plus an L2 penalty on ``w``.

    ``x[N, D]`` from ``design``; at most ``LOGISTIC_SAMPLES`` rows are used
    (drawn with ``seed``). Deterministic for the same inputs.
    """
    rng = np.random.default_rng(seed)
    if len(x) > LOGISTIC_SAMPLES:
        pick = np.sort(rng.choice(len(x), LOGISTIC_SAMPLES, replace=False))
        x, active, y = x[pick], active[pick], y[pick]
    x = x.astype(np.float32)
    a = active.astype(np.float32)
    t = y.astype(np.float32)
    n, d = x.shape
    k = t.shape[1]
    rate = np.clip(t.mean(axis=0), 1e-4, 1 - 1e-4)
    params = [np.zeros((d, k), np.float32), np.log(rate / (1 - rate)).astype(np.float32),
              np.zeros(k, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, LOGISTIC_STEPS + 1):
        w, b, c = params
        z = x @ w + b + c * a
        g = (1.0 / (1.0 + np.exp(-z)) - t) / n  # d(mean BCE)/dz
        grads = [x.T @ g + LOGISTIC_L2 * w, g.sum(axis=0), (g * a).sum(axis=0)]
        for i, gr in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * gr
            v[i] = b2 * v[i] + (1 - b2) * gr * gr
            mh = m[i] / (1 - b1 ** step)
            vh = v[i] / (1 - b2 ** step)
            params[i] = params[i] - LOGISTIC_LR * mh / (np.sqrt(vh) + eps)
    return Logistic(*params)


__all__ = ["Logistic", "design", "fit_logistic", "fixed_set", "nonzero_random"]
