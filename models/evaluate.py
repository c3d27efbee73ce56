"""Selection metrics and the end-of-training evaluation against honest baselines.

Definitions (docs/model.md states them for users):

- selection accuracy: precision of a top-k pick, i.e. for each held-out sample
  the share of the k picked indicators whose label is 1, averaged;
- sparsity: the share of weights below 0.5, beside the mean weight;
- baselines, scored the same way on the same held-out samples:
  base rate (all selectable indicators, i.e. what picking blindly earns),
  the AVWAP prior's top-k (the outputs with a registry prior first, then the
  rest of the AVWAP family in registry order), random k (1,000 random k-sets,
  averaged), and the best fixed k-set chosen on the training days;
- error bars: a bootstrap over held-out *days* (samples of one day are not
  independent; with a single held-out day, over samples, and the verdict says
  so), 1,000 resamples, 95 % percentile interval; the verdict uses
  the paired difference model − baseline on the same resamples and says the
  model beats a baseline only when that difference's interval is above zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BOOTSTRAP = 1000
RANDOM_DRAWS = 1000


def top_k(weights: np.ndarray, k: int) -> np.ndarray:
    """Indices ``[B, k]`` of the k largest weights per row, largest first."""
    k = min(k, weights.shape[1])
    part = np.argpartition(-weights, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(weights, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def precision_at_k(weights: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per sample: the share of the top-k picks whose label is 1."""
    idx = top_k(weights, k)
    return np.take_along_axis(labels, idx, axis=1).mean(axis=1)


def epoch_metrics(weights: np.ndarray, labels: np.ndarray, k: int) -> dict[str, float]:
    """Selection accuracy, sparsity and mean weight of one set of predictions."""
    if len(weights) == 0:
        return {"selection_accuracy": float("nan"), "sparsity": float("nan"),
                "mean_weight": float("nan")}
    return {
        "selection_accuracy": float(precision_at_k(weights, labels, k).mean()),
        "sparsity": float((weights < 0.5).mean()),
        "mean_weight": float(weights.mean()),
    }


def prior_ranking(outputs: Sequence[str], priors: Sequence[float | None],
                  families: Sequence[str]) -> list[int]:
    """Outputs with a prior (highest first), then the other AVWAP outputs, then the rest."""
    with_prior = sorted((i for i, p in enumerate(priors) if p is not None),
                        key=lambda i: -(priors[i] or 0.0))
    avwap = [i for i, f in enumerate(families) if f == "avwap" and i not in with_prior]
    rest = [i for i in range(len(outputs)) if i not in with_prior and i not in avwap]
    return with_prior + avwap + rest


def evaluate(weights: np.ndarray, labels: np.ndarray, days: np.ndarray, k: int,
             train_labels: np.ndarray, prior_order: Sequence[int], outputs: Sequence[str],
             seed: int = 0) -> dict[str, Any]:
    """The evaluation table: each row's precision, bootstrap 95 % interval, verdicts."""
    rng = np.random.default_rng(seed)
    y = labels.astype(np.float64)
    kk = min(k, y.shape[1])
    best_fixed = np.argsort(-train_labels.mean(axis=0), kind="stable")[:kk]
    prior_set = np.asarray(prior_order[:kk])
    freq = np.zeros(y.shape[1])
    for _ in range(RANDOM_DRAWS):
        freq[rng.choice(y.shape[1], kk, replace=False)] += 1
    per_sample = {
        "model": precision_at_k(weights, labels, kk),
        "base rate": y.mean(axis=1),
        "AVWAP prior": y[:, prior_set].mean(axis=1),
        "random k": y @ (freq / RANDOM_DRAWS) / kk,
        "best fixed k-set": y[:, best_fixed].mean(axis=1),
    }
    uniq, day_of = np.unique(days, return_inverse=True)
    n_days = len(uniq)
    # resample days; with a single held-out day that is degenerate (zero-width), so
    # resample samples instead and say so: too narrow, but never a free "win"
    unit = day_of if n_days >= 2 else np.arange(len(y))
    n_units = int(unit.max()) + 1 if len(unit) else 0
    sums = {name: np.bincount(unit, weights=v, minlength=n_units)
            for name, v in per_sample.items()}
    counts = np.bincount(unit, minlength=n_units).astype(np.float64)
    draws = rng.integers(0, n_units, size=(BOOTSTRAP, n_units))
    boot_n = counts[draws].sum(axis=1)
    boot = {name: s[draws].sum(axis=1) / np.maximum(boot_n, 1) for name, s in sums.items()}
    rows = []
    for name, v in per_sample.items():
        lo, hi = np.percentile(boot[name], [2.5, 97.5])
        row: dict[str, Any] = {"name": name, "precision": float(v.mean()), "ci95": [float(lo),
                               float(hi)]}
        if name != "model":
            diff = boot["model"] - boot[name]
            dlo, dhi = np.percentile(diff, [2.5, 97.5])
            row["model_minus"] = float(per_sample["model"].mean() - v.mean())
            row["diff_ci95"] = [float(dlo), float(dhi)]
            row["model_beats"] = bool(dlo > 0)
        rows.append(row)
    lost = [r["name"] for r in rows if r["name"] != "model" and not r["model_beats"]]
    if not lost:
        verdict = (f"The model beats every baseline (paired bootstrap over {n_days} held-out "
                   "days, 95 %).")
    else:
        verdict = (f"The model does NOT beat: {', '.join(lost)} (paired bootstrap over {n_days} "
                   "held-out days, 95 %); do not trust its picks over those.")
    if n_days < 2:
        verdict += (" Only 1 held-out day: the intervals resample samples, not days, and "
                    "understate the uncertainty; hold out more days (--val-days).")
    elif n_days < 3:
        verdict += (f" Only {n_days} held-out days: these intervals understate the "
                    "uncertainty; hold out more days (--val-days).")
    return {
        "k": kk, "samples": len(y), "days": n_days, "rows": rows, "verdict": verdict,
        "beats_all": not lost,
        "best_fixed_set": [outputs[i] for i in best_fixed],
        "prior_set": [outputs[i] for i in prior_set],
    }


def table_lines(ev: dict[str, Any]) -> list[str]:
    """The evaluation as plain text lines (the CLI prints them in a rich table)."""
    out = [f"top-{ev['k']} precision on {ev['samples']} held-out samples over {ev['days']} days"]
    for r in ev["rows"]:
        lo, hi = r["ci95"]
        out.append(f"  {r['name']:<18} {r['precision']:.3f}  [{lo:.3f}, {hi:.3f}]")
    out.append(ev["verdict"])
    return out
