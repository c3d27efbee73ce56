"""The training loop: compiled MLX steps, validation by time, best checkpoint, resume.

``train(ds, cfg, models_dir, emit)`` trains a ``SelectorModel`` on a built
``Dataset`` and reports through ``emit(event)`` (typed: ``storage.events``), the one channel both
the CLI's rich progress and ``--progress-json`` (the console's Training screen)
read; the event schema is in docs/model.md.

Determinism (what makes ``--resume`` exact): the initial weights come from
``mx.random.seed(seed)``; epoch ``e`` visits the training samples in
``default_rng([seed, e]).permutation`` order, in full batches only; a
checkpoint stores the optimizer's moments and the position (epoch, step), so
a resumed run replays the same batches into the same state as a run that was
never stopped.

Ctrl-C (SIGINT) sets a flag; the current step finishes, the state is saved as
the model's ``last`` checkpoint and the run ends with ``interrupted=True``.

Data-parallel: under ``mlx.launch`` every process builds the same data set and
takes its own equal slice of each global batch; the compiled step averages the
gradients with ``mx.distributed.all_sum``. Only rank 0 writes and reports.
"""

from __future__ import annotations

import datetime as dt
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from engine.registry import REGISTRY
from models import checkpoint as ck
from models.dataset import Dataset
from models.errors import ModelError
from models.evaluate import epoch_metrics
from models.model import ModelArgs, SelectorModel, loss_fn, make_optimizer, make_train_step
from models.scoring import BASELINES, SCORES, Scores, fit_baselines, score
from models.walkforward import EVALUATION, assemble
from storage import events

Emit = Callable[[events.Event], None]
VAL_EVAL_MAX = 20_000  # held-out samples scored per epoch (all of them at the end)
EVAL_BATCH = 512


ARCH_KEYS = ("dims", "heads", "layers", "mlp_dims", "patch", "dropout")


def _arch() -> ModelArgs:
    return ModelArgs(n_features=0, n_outputs=0)


@dataclass
class TrainConfig:
    """Training settings (stored in the checkpoint's config.json).

    ``model`` holds the architecture; its data-dependent fields (feature and
    output counts, lookback, prior) are filled from the data set by
    ``model_args`` when training starts.
    """

    name: str
    epochs: int = 10
    batch_size: int = 256  # global batch (split across processes)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    top_k: int = 10
    model: ModelArgs = field(default_factory=_arch)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """From ``config.json``'s ``train``; older files kept the architecture flat."""
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in names and k != "model"}
        arch = dict(d["model"]) if isinstance(d.get("model"), dict) else {}
        arch.update({k: d[k] for k in ARCH_KEYS if k in d})
        arch.setdefault("n_features", 0)
        arch.setdefault("n_outputs", 0)
        return cls(**kw, model=ModelArgs.from_dict(arch))


@dataclass
class TrainResult:
    name: str
    path: Path
    interrupted: bool
    history: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    global_step: int


class StopFlag:
    """Set by SIGINT (or a test): the loop ends after the current step."""

    def __init__(self) -> None:
        self.set = False

    def __call__(self, *_: object) -> None:
        self.set = True


def prior_of(outputs: tuple[str, ...]) -> list[float]:
    """Initial weight per output: the registry's prior where declared, else 0.5."""
    out = []
    for n in outputs:
        try:
            p = REGISTRY.meta(n).prior
        except KeyError:  # a synthetic output planted by a test
            p = None
        out.append(0.5 if p is None else float(p))
    return out


def model_args(ds: Dataset, cfg: TrainConfig) -> ModelArgs:
    """``cfg.model`` with the data set's feature and output counts, lookback and prior."""
    return replace(cfg.model, n_features=len(ds.names), n_outputs=len(ds.outputs),
                   lookback=ds.spec.lookback, prior=prior_of(ds.outputs))


def config_dict(ds: Dataset, cfg: TrainConfig, args: ModelArgs) -> dict[str, Any]:
    """``config.json``: everything needed to rebuild the data and to use the model."""
    spec = ds.spec
    return {
        "name": cfg.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": args.to_dict(),
        "features": list(ds.names),
        "outputs": list(ds.outputs),
        "lookback": spec.lookback, "horizon": spec.horizon, "top_k": cfg.top_k,
        "interval": spec.interval, "cost_bps": spec.cost_bps, "days": spec.days,
        "val_days": spec.n_val, "test_days": spec.n_test, "folds": len(ds.folds),
        "fold": ds.fold + 1,
        "tickers": list(ds.symbols), "requested_tickers": list(spec.tickers),
        "skipped": list(ds.skipped),
        "start": str(ds.sessions[0]), "end": str(ds.sessions[-1]),
        "val_start": str(ds.val_start), "test_start": str(ds.test_start),
        "test_end": str(ds.test_end),
        "samples": {"train": len(ds.train_idx), "val": len(ds.val_idx),
                    "test": len(ds.test_idx)},
        "seed": cfg.seed, "train": asdict(cfg),
    }


def predict_all(model: SelectorModel, ds: Dataset, idx: np.ndarray) -> np.ndarray:
    """Weights ``[len(idx), K]`` (NumPy) for samples ``idx``, in eval batches."""
    out = np.empty((len(idx), len(ds.outputs)), dtype=np.float32)
    fn = mx.compile(lambda x, r: mx.sigmoid(model(x, r)))
    for b in range(0, len(idx), EVAL_BATCH):
        part = idx[b: b + EVAL_BATCH]
        x, r, _ = ds.batch(part)
        out[b: b + len(part)] = np.array(fn(mx.array(x), mx.array(r)))
    return out


def _f(a: mx.array) -> float:
    return float(np.asarray(a))


def _bce(w: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(w.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def train(ds: Dataset, cfg: TrainConfig, models_dir: Path, emit: Emit, *,
          resume: ck.CheckpointData | None = None, stop: StopFlag | None = None,
          group: mx.distributed.Group | None = None,
          on_step: Callable[[int], None] | None = None,
          evaluate: bool = True) -> TrainResult:
    """Train on ``ds``'s training slice, keep the best checkpoint by its validation slice,
    then score that checkpoint and the baselines on the test slice.

    The test slice is read once, after the checkpoint is chosen: its scores go to
    ``scores.npz`` (``models.scoring``) for the walk-forward evaluation to pool;
    with ``evaluate`` this fold's own table is also written to ``evaluation.json``
    and emitted. ``on_step(global_step)`` is a hook for tests.
    """
    rank, size = (group.rank(), group.size()) if group is not None else (0, 1)
    lead = rank == 0
    say: Emit = emit if lead else (lambda e: None)
    train_idx, val_idx = ds.train_idx, ds.val_idx
    if len(train_idx) == 0 or len(val_idx) == 0 or len(ds.test_idx) == 0:
        raise ModelError(f"need samples in all three slices: {len(train_idx)} training, "
                         f"{len(val_idx)} validation, {len(ds.test_idx)} test (use more "
                         "--days, or fewer --folds)")
    gb = min(cfg.batch_size, len(train_idx)) // size * size
    if gb == 0:
        raise ModelError(f"{len(train_idx)} training samples cannot fill a batch on {size} "
                         "processes")
    per = gb // size
    steps = len(train_idx) // gb
    args = model_args(ds, cfg)
    mx.random.seed(cfg.seed)
    model = SelectorModel(args)
    opt = make_optimizer(cfg.lr, cfg.weight_decay)
    opt.init(model.trainable_parameters())
    history: list[dict[str, Any]] = []
    epoch0, step0, gstep, best = 0, 0, 0, -math.inf
    if resume is not None:
        model.update(ck.unflat(resume.weights))
        opt.state = ck.unflat(resume.optimizer)
        history = list(resume.metrics)
        epoch0, step0 = int(resume.progress["epoch"]), int(resume.progress["step"])
        gstep, best = int(resume.progress["global_step"]), float(resume.progress["best"])
    mx.eval(model.parameters(), opt.state)
    step_fn = make_train_step(model, opt, group if size > 1 else None)
    state = [model.state, opt.state]
    cfg_json = config_dict(ds, cfg, args)
    model_dir = Path(models_dir) / cfg.name
    val_eval = val_idx if len(val_idx) <= VAL_EVAL_MAX else np.sort(
        np.random.default_rng(cfg.seed).choice(val_idx, VAL_EVAL_MAX, replace=False))
    stop = stop or StopFlag()

    def save(roles: tuple[str, ...], epoch: int, step: int) -> None:
        if not lead:
            return
        path = ck.save(model_dir, f"ckpt-{gstep:07d}", roles,
                       weights=ck.flat(model.parameters()), optimizer=ck.flat(opt.state),
                       config=cfg_json, mean=ds.mean, std=ds.std, metrics=history,
                       progress={"epoch": epoch, "step": step, "global_step": gstep,
                                 "best": best, "steps_per_epoch": steps})
        say(events.Checkpoint(roles=list(roles), path=str(path), global_step=gstep))

    say(events.Start(name=cfg.name, epochs=cfg.epochs, steps_per_epoch=steps, batch_size=gb,
                     processes=size, train_samples=len(train_idx), val_samples=len(val_idx),
                     test_samples=len(ds.test_idx), fold=ds.fold + 1, folds=len(ds.folds),
                     features=len(ds.names), outputs=len(ds.outputs),
                     resumed_at=gstep if resume is not None else None))
    t0, done_steps = time.monotonic(), 0
    interrupted = False
    with _sigint(stop):
        for epoch in range(epoch0, cfg.epochs):
            perm = np.random.default_rng([cfg.seed, epoch]).permutation(train_idx)
            losses: list[mx.array] = []
            for s in range(step0 if epoch == epoch0 else 0, steps):
                idx = perm[s * gb: (s + 1) * gb][rank * per: (rank + 1) * per]
                x, r, y = ds.batch(idx)
                loss = step_fn(mx.array(x), mx.array(r), mx.array(y))
                mx.eval(state, loss)
                losses.append(loss)
                gstep += 1
                done_steps += 1
                if on_step is not None:
                    on_step(gstep)
                say(events.Step(epoch=epoch + 1, step=s + 1, steps=steps, global_step=gstep,
                                loss=_f(loss)))
                if stop.set:
                    interrupted = True
                    save(("last",), epoch, s + 1)
                    break
            if interrupted:
                break
            w = predict_all(model, ds, val_eval)
            yv = ds.labels[val_eval].astype(np.float32)
            m = epoch_metrics(w, yv, cfg.top_k)
            train_loss = float(np.mean([_f(v) for v in losses])) if losses else math.nan
            rec = {"epoch": epoch + 1, "global_step": gstep, "loss": train_loss,
                   "val_loss": _bce(w, yv), **m}
            history.append(rec)
            elapsed = time.monotonic() - t0
            left = (cfg.epochs - epoch - 1) * steps
            eta = elapsed / max(done_steps, 1) * left
            improved = m["selection_accuracy"] > best
            if improved:
                best = m["selection_accuracy"]
            say(events.Epoch(epoch=epoch + 1, epochs=cfg.epochs, global_step=gstep,
                             loss=train_loss, val_loss=rec["val_loss"],
                             selection_accuracy=m["selection_accuracy"], sparsity=m["sparsity"],
                             weight_entropy=m["weight_entropy"], mean_weight=m["mean_weight"],
                             best=improved, eta_s=eta))
            save(("best", "last") if improved else ("last",), epoch + 1, 0)
    result_path = model_dir
    if interrupted:
        say(events.Done(name=cfg.name, path=str(model_dir), interrupted=True,
                        global_step=gstep))
        return TrainResult(cfg.name, result_path, True, history, None, gstep)
    evaluation = None
    if lead:
        scores = score_test(ds, cfg, model_dir)
        if evaluate:
            evaluation = assemble([scores], [ds], cfg.top_k, cfg.seed)
            evaluation["checkpoint"] = ck.resolve(model_dir).name
            ck.write_json_atomic(model_dir / EVALUATION, evaluation)
            say(events.Eval(table=evaluation))
    if evaluate:  # else the walk-forward evaluation that follows says when all is done
        say(events.Done(name=cfg.name, path=str(model_dir), interrupted=False,
                        global_step=gstep))
    return TrainResult(cfg.name, result_path, False, history, evaluation, gstep)


def score_test(ds: Dataset, cfg: TrainConfig, model_dir: Path) -> Scores:
    """Fit the baselines on the training slice, then score them and the best checkpoint
    on the test slice (saved as ``scores.npz`` and ``baselines.npz``)."""
    from models.selector import Selector

    fitted = fit_baselines(ds, cfg.top_k, cfg.seed)
    fitted.save(model_dir / BASELINES)
    sel = Selector.load(model_dir, check_registry=False)
    scores = score(ds, ds.test_idx, lambda x, r: sel.select_indicators(x, r)[0], fitted,
                   ds.mean, ds.std, cfg.top_k)
    scores.save(model_dir / SCORES)
    return scores


class _sigint:
    """Route SIGINT to ``stop`` while training (main thread only), restore after."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.old: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self.stop)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


__all__ = ["StopFlag", "TrainConfig", "TrainResult", "loss_fn", "train"]
