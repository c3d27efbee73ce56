"""Score one fold's fitted pipeline on a set of samples: the model and every baseline.

The *fitted pipeline* of a fold is what its training slice produced: the best
checkpoint (chosen on the validation slice) with its scaler, the best fixed
k-set, the logistic baseline and the AVWAP prior's k-set
(``fit_baselines`` writes the last three to ``baselines.npz`` beside the
checkpoints). ``score`` runs that pipeline, unchanged, on any samples of a
data set with the same features: the fold's test slice, or the same days of
the null copy (``models.null``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.registry import REGISTRY
from models import baselines as bl
from models.dataset import Dataset, standardize
from models.evaluate import (
    BASE,
    FIXED,
    LOGISTIC,
    MODEL,
    PRIOR,
    RANDOM_NZ,
    concentration,
    precision_at_k,
    prior_ranking,
    top_k,
    turnover,
)

BASELINES = "baselines.npz"
SCORES = "scores.npz"
EVAL_BATCH = 512

WeightsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Fitted:
    """A fold's baselines, fitted on its training slice only."""

    fixed: np.ndarray  # [k] output indices
    prior: np.ndarray  # [k]
    logistic: bl.Logistic

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, fixed=self.fixed, prior=self.prior, w=self.logistic.w,
                     b=self.logistic.b, c=self.logistic.c)

    @classmethod
    def load(cls, path: Path) -> Fitted:
        with np.load(path) as z:
            return cls(np.array(z["fixed"]), np.array(z["prior"]),
                       bl.Logistic(np.array(z["w"]), np.array(z["b"]), np.array(z["c"])))


@dataclass
class Scores:
    """Per-sample precision of every row, with the sample's day and regime."""

    per_sample: dict[str, np.ndarray]
    days: np.ndarray  # datetime64[D] session of each sample
    regime: np.ndarray  # int8
    turnover: dict[str, float] = field(default_factory=dict)
    sparsity: float = float("nan")  # the model's top-k weight share on these samples
    entropy: float = float("nan")

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {f"ps:{k}": v for k, v in self.per_sample.items()}
        arrays.update({f"to:{k}": np.array(v) for k, v in self.turnover.items()})
        arrays.update(days=self.days.astype("datetime64[D]").astype(np.int64),
                      regime=self.regime, sparsity=np.array(self.sparsity),
                      entropy=np.array(self.entropy))
        with open(path, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> Scores:
        with np.load(path) as z:
            ps = {k[3:]: np.array(z[k]) for k in z.files if k.startswith("ps:")}
            to = {k[3:]: float(z[k]) for k in z.files if k.startswith("to:")}
            return cls(ps, np.array(z["days"]).astype("datetime64[D]"), np.array(z["regime"]),
                       to, float(z["sparsity"]), float(z["entropy"]))

    @staticmethod
    def pool(parts: list[Scores]) -> Scores:
        names = list(parts[0].per_sample)
        n = np.array([len(p.days) for p in parts], dtype=np.float64)
        share = n / max(n.sum(), 1)

        def wavg(vals: list[float]) -> float:
            return float(np.nansum(np.array(vals) * share))

        return Scores({k: np.concatenate([p.per_sample[k] for p in parts]) for k in names},
                      np.concatenate([p.days for p in parts]),
                      np.concatenate([p.regime for p in parts]),
                      {k: wavg([p.turnover.get(k, np.nan) for p in parts])
                       for k in parts[0].turnover},
                      wavg([p.sparsity for p in parts]), wavg([p.entropy for p in parts]))


def last_rows(ds: Dataset, idx: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Standardized features of each sample's last minute, ``[len(idx), F]``."""
    x = np.empty((len(idx), len(ds.names)), dtype=np.float32)
    for i, k in enumerate(idx):
        x[i] = ds.arrays[int(ds.sample_sym[k])][int(ds.sample_t[k])]
    return standardize(x, mean, std)


def prior_set(outputs: tuple[str, ...], k: int) -> np.ndarray:
    priors: list[float | None] = []
    families = []
    for n in outputs:
        try:
            priors.append(REGISTRY.meta(n).prior)
            families.append(REGISTRY.indicator_for(n).family)
        except KeyError:  # a synthetic output planted by a test
            priors.append(None)
            families.append("synthetic")
    return np.asarray(prior_ranking(outputs, priors, families)[:k], dtype=np.int64)


def fit_baselines(ds: Dataset, k: int, seed: int) -> Fitted:
    """The fold's baselines from its training slice (labels, features, readings)."""
    idx = ds.train_idx
    kk = min(k, len(ds.outputs))
    x = bl.design(last_rows(ds, idx, ds.mean, ds.std), ds.regime[idx])
    return Fitted(bl.fixed_set(ds.labels[idx], kk), prior_set(ds.outputs, kk),
                  bl.fit_logistic(x, ds.active[idx], ds.labels[idx], seed=seed))


def score(ds: Dataset, idx: np.ndarray, weights_of: WeightsFn, fitted: Fitted,
          mean: np.ndarray, std: np.ndarray, k: int) -> Scores:
    """Every row's per-sample precision at k on samples ``idx`` of ``ds``.

    ``weights_of(raw_windows, regimes)`` is the model (it applies its own scaler);
    ``mean``/``std`` standardize the logistic's inputs (the fold's scaler).
    """
    kk = min(k, len(ds.outputs))
    y = ds.labels[idx].astype(np.float64)
    act = ds.active[idx]
    reg = ds.regime[idx]
    w = np.empty((len(idx), len(ds.outputs)), dtype=np.float32)
    for b in range(0, len(idx), EVAL_BATCH):
        part = idx[b: b + EVAL_BATCH]
        w[b: b + len(part)] = weights_of(ds.windows(part, scaled=False),
                                         ds.regime[part].astype(np.int32))
    logit = fitted.logistic.scores(bl.design(last_rows(ds, idx, mean, std), reg), act)
    picks = {MODEL: top_k(w, kk), LOGISTIC: top_k(logit, kk)}
    per = {
        MODEL: precision_at_k(w, y, kk),
        RANDOM_NZ: bl.nonzero_random(y, act, kk),
        FIXED: y[:, fitted.fixed].mean(axis=1),
        LOGISTIC: precision_at_k(logit, y, kk),
        BASE: y.mean(axis=1),
        PRIOR: y[:, fitted.prior].mean(axis=1),
    }
    sym, t, day = ds.sample_sym[idx], ds.sample_t[idx], ds.sample_day[idx]
    turn = {name: turnover(p, sym, t, day) for name, p in picks.items()}
    share, ent = concentration(w, kk) if len(w) else (float("nan"), float("nan"))
    return Scores(per, ds.sessions[ds.sample_day[idx]], reg, turn, share, ent)

