"""The walk-forward evaluation: every fold's test table, the pooled one, and the null.

``avwap train`` trains the kept model on the last fold (``models.train``),
then ``run`` trains one model per earlier fold with the same settings (each
chooses its checkpoint on its own validation slice, in
``<model>/folds/fold-N/``), scores every fold's fitted pipeline on its test
slice, pools the test samples of all folds, and runs the same fitted
pipelines on the sign-randomized copy of the test days (``models.null``).
The result is ``evaluation.json`` beside the kept model: the pooled table at
the top level (what ``avwap models`` and the screens read), ``folds``,
``regimes``, ``turnover``, ``sparsity`` and ``null``.

A fold's work is kept once done (``scores.npz``), so ``--resume`` after a
Ctrl-C continues with the fold it stopped in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models import checkpoint as ck
from models.dataset import Dataset, SyntheticFn
from models.errors import ModelError
from models.evaluate import GATED, by_regime, compare, null_comparison, public
from models.scoring import BASELINES, SCORES, Fitted, Scores, WeightsFn, score
from storage import events

if TYPE_CHECKING:
    from models.selector import Selector
    from models.train import Emit, StopFlag, TrainConfig

EVALUATION = "evaluation.json"
FOLDS = "folds"
NullSource = Callable[[], Dataset]


def fold_dir(model_dir: Path, fold: int, last: int) -> Path:
    """Where fold ``fold``'s pipeline lives (the last fold is the kept model itself)."""
    return model_dir if fold == last else model_dir / FOLDS / f"fold-{fold + 1}"


def _span(view: Dataset) -> str:
    a, b = view.test_start, view.test_end
    return str(a) if a == b else f"{a}..{b}"


def assemble(parts: list[Scores], views: list[Dataset], k: int, seed: int,
             null_parts: list[Scores] | None = None) -> dict[str, Any]:
    """The evaluation dict from each fold's test scores (and their null copies)."""
    pooled = Scores.pool(parts)
    kk = min(k, len(views[0].outputs))
    table = compare(pooled.per_sample, pooled.days, kk, seed)
    folds = []
    for i, (p, v) in enumerate(zip(parts, views, strict=True)):
        t = public(compare(p.per_sample, p.days, kk, seed + 1 + i))
        folds.append({"fold": v.fold + 1, "test": _span(v), "train_samples": len(v.train_idx),
                      "val_samples": len(v.val_idx), **t})
    out = public(table)
    out.update({
        "baselines": list(GATED), "folds": folds, "regimes": by_regime(pooled.per_sample,
                                                                        pooled.regime),
        "turnover": pooled.turnover, "sparsity": pooled.sparsity,
        "weight_entropy": pooled.entropy, "test_days": sorted({str(d) for d in pooled.days}),
        "null": None,
    })
    if null_parts:
        npool = Scores.pool(null_parts)
        null = compare(npool.per_sample, npool.days, kk, seed, what="null")
        out["null"] = null_comparison(table, null)
        out["verdict"] += null_sentence(out["null"])
    return out


def null_sentence(null: dict[str, Any]) -> str:
    """One sentence on the null for the verdict."""
    p = null["p_value"]
    if null["null_beats_all"]:
        return (" On the sign-randomized copy it also \"beats\" every baseline: the edge is "
                "not about direction.")
    return (f" Null test (sign-randomized test days): p = {p:.3f} for the margin over the "
            "strongest baseline.")


def run(ds: Dataset, cfg: TrainConfig, models_dir: Path, emit: Emit, *,
        null_source: NullSource | None = None,
        stop: StopFlag | None = None) -> dict[str, Any] | None:
    """Train the earlier folds, pool every fold's test scores, run the null; ``None`` when
    stopped (the finished folds are kept for ``--resume``)."""
    from models.selector import Selector
    from models.train import train

    model_dir = Path(models_dir) / cfg.name
    last = len(ds.folds) - 1
    views = [ds.use_fold(f) for f in range(len(ds.folds))]
    parts = []
    for f, view in enumerate(views):
        where = fold_dir(model_dir, f, last)
        if not (where / SCORES).exists():
            resume = ck.load(where, "last") if (where / ck.POINTER).exists() else None
            emit(events.Fold(fold=f + 1, folds=len(views), test=_span(view),
                             train_samples=len(view.train_idx), val_samples=len(view.val_idx),
                             test_samples=len(view.test_idx)))
            res = train(view, dataclasses.replace(cfg, name=where.name), where.parent,
                        _fold_events(emit, f + 1, len(views)), resume=resume, stop=stop,
                        evaluate=False)
            if res.interrupted:
                emit(events.Done(name=cfg.name, path=str(model_dir), interrupted=True,
                                 fold=f + 1))
                return None
        parts.append(Scores.load(where / SCORES))
    null_parts = None
    if null_source is not None:
        emit(events.Null(test_days=int(sum(v.folds[v.fold].test[1] - v.folds[v.fold].test[0]
                                           for v in views))))
        null_ds = null_source()
        with null_ds:
            null_parts = []
            for f, view in enumerate(views):
                where = fold_dir(model_dir, f, last)
                sel = Selector.load(where, check_registry=False)
                days = view.sessions[view.folds[view.fold].test[0]: view.folds[view.fold].test[1]]
                idx = np.flatnonzero(np.isin(null_ds.sessions[null_ds.sample_day], days))
                null_parts.append(score(null_ds, idx, _weights_of(sel),
                                        Fitted.load(where / BASELINES), sel.mean, sel.std,
                                        cfg.top_k))
    evaluation = assemble(parts, views, cfg.top_k, cfg.seed, null_parts)
    evaluation["checkpoint"] = ck.resolve(model_dir).name
    fitted = Fitted.load(model_dir / BASELINES)
    evaluation["best_fixed_set"] = [ds.outputs[i] for i in fitted.fixed]
    ck.write_json_atomic(model_dir / EVALUATION, evaluation)
    emit(events.Eval(table=evaluation))
    emit(events.Done(name=cfg.name, path=str(model_dir), interrupted=False))
    return evaluation


def _weights_of(sel: Selector) -> WeightsFn:
    return lambda x, r: sel.select_indicators(x, r)[0]


def _fold_events(emit: Emit, fold: int, folds: int) -> Emit:
    """A fold's training reports only its epochs, as ``fold_epoch`` events."""
    def inner(e: events.Event) -> None:
        if isinstance(e, events.Epoch):
            emit(events.FoldEpoch(fold=fold, folds=folds, epoch=e.epoch, epochs=e.epochs,
                                  loss=e.loss, val_loss=e.val_loss,
                                  selection_accuracy=e.selection_accuracy, best=e.best))
    return inner


def null_dataset(cache_path: Path, ds: Dataset, workdir: Path | None = None,
                 synthetic: SyntheticFn | None = None) -> Dataset:
    """Build the sign-randomized copy of ``ds``'s test days (every fold's) from the cache
    (``synthetic``: the same planted features as ``ds``, recomputed on the copy)."""
    from models.dataset import build
    from models.null import null_spec, sign_randomized
    from storage.cache import Cache

    first = ds.folds[0].test[0]
    start = ds.sessions[first].astype(dt.date)
    end = ds.sessions[-1].astype(dt.date)
    spec = null_spec(ds.spec, end, len(ds.sessions) - first)
    with Cache(cache_path, read_only=True) as cache:
        null = build(cache, spec, workdir=workdir, synthetic=synthetic,
                     transform=lambda p: sign_randomized(p, start))
    if null.names != ds.names or null.outputs != ds.outputs:
        null.close()
        raise ModelError("the null copy's features differ from the data set's")
    return null


__all__ = ["EVALUATION", "assemble", "null_dataset", "run"]
