"""Selection metrics and the evaluation table: the model against baselines with skill.

Definitions (docs/model.md states them for users):

- **selection accuracy**: precision of a top-k pick, i.e. for each sample the
  share of the k picked indicators whose label is 1, averaged;
- **sparsity**: the share of the total weight on the top-k picks (k/K when
  the weights are flat, 1 when all weight is on k indicators), beside the
  normalized entropy of the weights (1 flat, 0 one indicator);
- **rows** of the table, scored the same way on the same test samples: the
  gated baselines (``GATED``; ``models.baselines``) the verdict is about, and
  two context rows that need no skill to beat (base rate, AVWAP prior);
- **intervals**: a bootstrap over test *days* (a day's samples are not
  independent; with one test day, over samples, and the verdict says so),
  1,000 resamples, 95 % percentile interval; the verdict compares the model
  with each gated baseline by the paired difference on the same resamples and
  says "beats" only when every such difference's interval is above zero;
- **per regime**: precision at k of the model and each gated baseline on the
  samples of each regime;
- **turnover**: for consecutive samples of one symbol within a session, the
  share of the top-k picks that changed, averaged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BOOTSTRAP = 1000
MODEL = "model"
RANDOM_NZ = "random k (nonzero)"
FIXED = "best fixed k-set"
LOGISTIC = "logistic"
BASE = "base rate"
PRIOR = "AVWAP prior"
GATED = (RANDOM_NZ, FIXED, LOGISTIC)  # what the verdict is about
CONTEXT = (BASE, PRIOR)  # shown, never enough
REGIME_NAMES = ("unknown", "range", "trend-up", "trend-down", "volatile")  # code + 1


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


def concentration(weights: np.ndarray, k: int) -> tuple[float, float]:
    """(share of the weight on the top-k, normalized entropy of the weights), averaged."""
    w = np.maximum(weights.astype(np.float64), 1e-12)
    total = w.sum(axis=1)
    share = np.take_along_axis(w, top_k(w, k), axis=1).sum(axis=1) / total
    p = w / total[:, None]
    ent = -(p * np.log(p)).sum(axis=1) / np.log(max(w.shape[1], 2))
    return float(share.mean()), float(ent.mean())


def epoch_metrics(weights: np.ndarray, labels: np.ndarray, k: int) -> dict[str, float]:
    """Selection accuracy, sparsity (top-k weight share), weight entropy and mean weight."""
    if len(weights) == 0:
        nan = float("nan")
        return {"selection_accuracy": nan, "sparsity": nan, "weight_entropy": nan,
                "mean_weight": nan}
    share, ent = concentration(weights, k)
    return {
        "selection_accuracy": float(precision_at_k(weights, labels, k).mean()),
        "sparsity": share, "weight_entropy": ent,
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


def turnover(picks: np.ndarray, sym: np.ndarray, t: np.ndarray, day: np.ndarray) -> float:
    """Mean share of the k picks that changed between consecutive samples of a symbol and day."""
    if len(picks) < 2:
        return float("nan")
    order = np.lexsort((t, day, sym))
    p, s, d = picks[order], sym[order], day[order]
    same = (s[1:] == s[:-1]) & (d[1:] == d[:-1])
    if not same.any():
        return float("nan")
    a, b = np.sort(p[:-1][same], axis=1), np.sort(p[1:][same], axis=1)
    k = picks.shape[1]
    kept = np.array([len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(a, b,
                                                                                   strict=True)])
    return float(1.0 - kept.mean() / k)


def compare(per_sample: Mapping[str, np.ndarray], days: np.ndarray, k: int,
            seed: int = 0, what: str = "test") -> dict[str, Any]:
    """The table: each row's precision with its bootstrap 95 % interval, and the verdict."""
    rng = np.random.default_rng(seed)
    uniq, day_of = np.unique(days, return_inverse=True)
    n_days = len(uniq)
    n = len(per_sample[MODEL])
    # resample days; with a single day that is degenerate (zero-width), so resample
    # samples instead and say so: too narrow, but never a free "win"
    unit = day_of if n_days >= 2 else np.arange(n)
    n_units = int(unit.max()) + 1 if n else 0
    counts = np.bincount(unit, minlength=n_units).astype(np.float64)
    draws = rng.integers(0, n_units, size=(BOOTSTRAP, n_units))
    boot_n = np.maximum(counts[draws].sum(axis=1), 1)
    boot = {name: np.bincount(unit, weights=v, minlength=n_units)[draws].sum(axis=1) / boot_n
            for name, v in per_sample.items()}
    rows = []
    for name, v in per_sample.items():
        lo, hi = np.percentile(boot[name], [2.5, 97.5])
        row: dict[str, Any] = {"name": name, "precision": float(v.mean()),
                               "ci95": [float(lo), float(hi)], "gate": name in GATED}
        if name != MODEL:
            diff = boot[MODEL] - boot[name]
            dlo, dhi = np.percentile(diff, [2.5, 97.5])
            row["model_minus"] = float(per_sample[MODEL].mean() - v.mean())
            row["diff_ci95"] = [float(dlo), float(dhi)]
            row["model_beats"] = bool(dlo > 0)
        rows.append(row)
    lost = [r["name"] for r in rows if r["gate"] and not r["model_beats"]]
    if not lost:
        verdict = (f"The model beats every baseline (paired bootstrap over {n_days} {what} "
                   "days, 95 %).")
    else:
        verdict = (f"The model does NOT beat: {', '.join(lost)} (paired bootstrap over {n_days} "
                   f"{what} days, 95 %); do not trust its picks over those.")
    if n_days < 2:
        verdict += (f" Only 1 {what} day: the intervals resample samples, not days, and "
                    "understate the uncertainty; use more days.")
    elif n_days < 3:
        verdict += (f" Only {n_days} {what} days: these intervals understate the "
                    "uncertainty; use more days.")
    return {"k": k, "samples": n, "days": n_days, "rows": rows, "verdict": verdict,
            "beats_all": not lost, "_boot": boot}


def by_regime(per_sample: Mapping[str, np.ndarray], regime: np.ndarray) -> list[dict[str, Any]]:
    """Precision at k of the model and the gated baselines on each regime's samples."""
    out = []
    for code in np.unique(regime):
        m = regime == code
        row: dict[str, Any] = {"regime": REGIME_NAMES[int(code) + 1], "samples": int(m.sum())}
        for name in (MODEL, *GATED):
            if name in per_sample:
                row[name] = float(per_sample[name][m].mean())
        out.append(row)
    return out


def null_comparison(real: dict[str, Any], null: dict[str, Any]) -> dict[str, Any]:
    """How the real margins compare with the same pipeline's margins on the null copy.

    Per gated baseline: the null's margin with its bootstrap interval and a
    one-sided p-value, the share of null resamples whose margin reaches the real
    margin (``(1 + count) / (1 + resamples)``). ``p_value`` is the largest of
    them: the model's edge over its strongest baseline is that unlikely under
    "no predictable direction".
    """
    rows = []
    for r in real["rows"]:
        if not r["gate"]:
            continue
        nb = null["_boot"][MODEL] - null["_boot"][r["name"]]
        lo, hi = np.percentile(nb, [2.5, 97.5])
        p = (1 + int((nb >= r["model_minus"]).sum())) / (1 + len(nb))
        rows.append({"name": r["name"], "real_margin": r["model_minus"],
                     "null_margin": float(nb.mean()), "null_ci95": [float(lo), float(hi)],
                     "p_value": p})
    return {"rows": rows, "p_value": max((r["p_value"] for r in rows), default=1.0),
            "null_beats_all": bool(null["beats_all"]), "null_verdict": null["verdict"],
            "samples": null["samples"], "days": null["days"]}


def public(table: dict[str, Any]) -> dict[str, Any]:
    """The table without its bootstrap draws (what ``evaluation.json`` stores)."""
    return {k: v for k, v in table.items() if not k.startswith("_")}


def table_lines(ev: dict[str, Any]) -> list[str]:
    """The evaluation as plain text lines (for logs; the CLI prints rich tables)."""
    out = [f"top-{ev['k']} precision on {ev['samples']} test samples over {ev['days']} days"]
    for r in ev["rows"]:
        lo, hi = r["ci95"]
        out.append(f"  {r['name']:<18} {r['precision']:.3f}  [{lo:.3f}, {hi:.3f}]")
    out.append(ev["verdict"])
    return out
