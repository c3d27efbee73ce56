"""``avwap train``: build the data set from the cache, train the selector, evaluate it.

Progress goes to one ``emit(event)`` channel (``models.train``): rendered with
rich here, or printed as one JSON object per line with ``--progress-json``
(``storage.events``: what the console's Training screen reads from its child
process; schema in docs/model.md). Ctrl-C stops after the current step, saves, and prints the
command that resumes; ``--resume NAME`` continues that run exactly.

Under ``mlx.launch --backend ring -n N … avwap train …`` the processes train
data-parallel (``mx.distributed``); rank 0 reports and writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from storage import events
from storage.errors import AvwapError
from tui.commands.common import count, db_of
from tui.commands.precheck_cmd import add_data_args, check_count, open_cache, spec_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="train the indicator-selection model")
    add_data_args(p)
    p.add_argument("--epochs", type=count(1), default=None, help="epochs (default: 10)")
    p.add_argument("--top-k", type=count(1), default=10, help="indicators picked (default: 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=count(1), default=256, help="global batch (default: 256)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--name", default=None, help="model name (default: selector-<UTC time>)")
    p.add_argument("--resume", metavar="NAME", default=None,
                   help="continue an interrupted run (its data and settings are reused)")
    p.add_argument("--models-dir", default=None,
                   help="where models live (default: $AVWAP_MODELS_DIR or the user data dir)")
    p.add_argument("--progress-json", action="store_true",
                   help="print progress as JSON lines (for the Training screen)")
    p.add_argument("--no-null", action="store_true",
                   help="skip the null test (the sign-randomized copy of the test days)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    json_mode = bool(args.progress_json)
    try:
        return _run(args, json_mode)
    except AvwapError as e:
        if json_mode:
            _print_json(events.Error(message=str(e)))
        raise


def _run(args: argparse.Namespace, json_mode: bool) -> int:
    import mlx.core as mx  # MLX and the models load only when a training runs

    from models import checkpoint as ck
    from models.dataset import DataSpec, build
    from models.errors import ModelError
    from models.registry import models_dir
    from models.train import StopFlag, TrainConfig, train

    group = mx.distributed.init()
    lead = group.rank() == 0
    root = models_dir(args.models_dir)
    resume = None
    if args.resume:
        resume = ck.load(root / args.resume, "last")
        cfg = TrainConfig.from_dict(resume.config["train"])
        if args.epochs is not None:
            cfg.epochs = args.epochs
        c = resume.config
        spec = DataSpec(tickers=tuple(c["requested_tickers"]), days=int(c["days"]),
                        interval=int(c["interval"]), lookback=int(c["lookback"]),
                        horizon=int(c["horizon"]), cost_bps=float(c["cost_bps"]),
                        val_days=int(c["val_days"]), test_days=c.get("test_days"),
                        folds=c.get("folds"), end=dt.date.fromisoformat(c["end"]))
    else:
        spec = spec_of(args)
        name = args.name or "selector-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        if (root / name / ck.POINTER).exists():
            raise ModelError(f"a model named {name!r} exists in {root}; choose another --name "
                             f"or continue it with --resume {name}")
        cfg = TrainConfig(name=name, epochs=args.epochs or 10, batch_size=args.batch_size,
                          lr=args.lr, seed=args.seed, top_k=args.top_k)
    from models import walkforward
    console = Console(stderr=json_mode, quiet=not lead)
    shown = _JsonReporter() if json_mode else _RichReporter(console)
    reporter = shown if lead else (lambda e: None)  # other ranks train silently
    with open_cache(args) as cache:
        reporter(events.Build(tickers=len(spec.tickers), days=spec.days))
        ds = build(cache, spec, progress=lambda done, total: reporter(
            events.BuildProgress(done=done, total=total)))
    with ds:
        if ds.skipped:
            reporter(events.Skipped(symbols=list(ds.skipped)))
        check_count(ds, spec, args.min_samples)
        stop = StopFlag()
        result = train(ds, cfg, root, reporter, resume=resume, stop=stop,
                       group=group if group.size() > 1 else None, evaluate=False)
        evaluation = None
        if lead and not result.interrupted:
            null = None if args.no_null else (
                lambda: walkforward.null_dataset(db_of(args), ds))
            evaluation = walkforward.run(ds, cfg, root, reporter, null_source=null, stop=stop)
    if not lead:
        return 0
    if result.interrupted or evaluation is None:
        extra = f" --models-dir {args.models_dir}" if args.models_dir else ""
        db = f" --db {args.db}" if getattr(args, "db", None) else ""
        where = (f"after step {result.global_step}" if result.interrupted
                 else "during the walk-forward evaluation")
        msg = (f"Interrupted {where}; saved to {result.path}. Resume "
               f"with: avwap train{db} --resume {cfg.name}{extra}")
        if json_mode:
            _print_json(events.Interrupted(message=msg, name=cfg.name))
        else:
            console.print(f"[yellow]{msg}[/]")
        return 130
    if not json_mode:
        console.print(f"Saved the best checkpoint to {result.path}; make it the console's "
                      f"model with: avwap models use {cfg.name}")
    return 0


def _print_json(event: events.Event) -> None:
    sys.stdout.write(events.encode(event) + "\n")
    sys.stdout.flush()


class _JsonReporter:
    def __call__(self, event: events.Event) -> None:
        _print_json(event)


class _RichReporter:
    """Progress bar per epoch, one line of metrics per epoch, the evaluation table."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None

    def __call__(self, ev: events.Event) -> None:
        kind, e = ev.kind, ev.to_dict()  # rendered by wire name, as docs/model.md lists them
        c = self.console
        if kind == "build":
            c.print(f"Building the data set: {e['tickers']} symbols, {e['days']} sessions…")
        elif kind == "skipped":
            c.print(f"[yellow]{len(e['symbols'])} symbols not in the cache (skipped): "
                    f"{', '.join(e['symbols'][:20])}[/]")
        elif kind == "start":
            fold = (f" (walk-forward fold {e['fold']} of {e['folds']}: the kept model)"
                    if e.get("folds", 1) > 1 else "")
            c.print(f"Training {e['name']}{fold}: {e['train_samples']:,} training / "
                    f"{e['val_samples']:,} validation / {e.get('test_samples', 0):,} test "
                    f"samples, {e['features']} features, "
                    f"{e['outputs']} selectable outputs, {e['steps_per_epoch']} steps × "
                    f"{e['epochs']} epochs, batch {e['batch_size']} on {e['processes']} "
                    "process(es)")
            self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                     TextColumn("{task.completed}/{task.total} loss "
                                                "{task.fields[loss]:.4f}"),
                                     TimeRemainingColumn(), console=c, transient=True)
            self.progress.start()
        elif kind == "step" and self.progress is not None:
            if self.task is None or e["step"] == 1 or self.progress.tasks[0].total != e["steps"]:
                if self.task is not None:
                    self.progress.remove_task(self.task)
                self.task = self.progress.add_task("train", total=e["steps"], epoch=e["epoch"],
                                                   loss=e["loss"])
            self.progress.update(self.task, completed=e["step"], loss=e["loss"],
                                 epoch=e["epoch"])
        elif kind == "epoch":
            star = " *best*" if e["best"] else ""
            c.print(f"epoch {e['epoch']}/{e['epochs']}  loss {e['loss']:.4f}  val loss "
                    f"{e['val_loss']:.4f}  validation selection accuracy "
                    f"{e['selection_accuracy']:.3f}  sparsity {e['sparsity']:.2f} (top-k weight "
                    f"share; entropy {e['weight_entropy']:.2f})  ETA {e['eta_s']:.0f}s{star}")
        elif kind == "fold":
            c.print(f"Walk-forward fold {e['fold']}/{e['folds']} (test {e['test']}): training "
                    f"on {e['train_samples']:,}, choosing on {e['val_samples']:,}…")
        elif kind == "fold_epoch":
            star = " *best*" if e["best"] else ""
            c.print(f"  fold {e['fold']} epoch {e['epoch']}/{e['epochs']}  loss {e['loss']:.4f}"
                    f"  validation accuracy {e['selection_accuracy']:.3f}{star}")
        elif kind == "null":
            c.print(f"Null test: rebuilding the {e['test_days']} test days with random "
                    "directions…")
        elif kind in ("eval", "done") and self.progress is not None:
            self.progress.stop()
            self.progress = None
        if kind == "eval":
            for line in eval_tables(e):
                c.print(line)


def eval_tables(ev: dict[str, Any]) -> list[Any]:
    """The evaluation as rich renderables: pooled table, per fold, per regime, the null."""
    out: list[Any] = []
    folds = ev.get("folds") or []
    title = (f"Top-{ev['k']} precision on the TEST slices: {ev['samples']:,} samples over "
             f"{ev['days']} days" + (f", {len(folds)} walk-forward folds pooled"
                                     if len(folds) > 1 else "") +
             " (bootstrap 95 % over days)")
    out.append(_rows_table(title, ev["rows"]))
    if len(folds) > 1:
        t = Table(title="Per fold (model − baseline, 95 % interval; * = beats)")
        t.add_column("fold")
        t.add_column("test days")
        t.add_column("model")
        gated = [r["name"] for r in folds[0]["rows"] if r.get("gate")]
        for g in gated:
            t.add_column(g)
        for f in folds:
            rows = {r["name"]: r for r in f["rows"]}
            cells = [f"{rows[g]['model_minus']:+.3f} [{rows[g]['diff_ci95'][0]:+.3f}, "
                     f"{rows[g]['diff_ci95'][1]:+.3f}]" + ("*" if rows[g]["model_beats"] else "")
                     for g in gated]
            t.add_row(str(f["fold"]), f["test"], f"{rows['model']['precision']:.3f}", *cells)
        out.append(t)
    if ev.get("regimes"):
        t = Table(title="Precision at k per regime (test)")
        names = [k for k in ev["regimes"][0] if k not in ("regime", "samples")]
        for col in ("regime", "samples", *names):
            t.add_column(col)
        for r in ev["regimes"]:
            t.add_row(r["regime"], f"{r['samples']:,}", *(f"{r[n]:.3f}" for n in names))
        out.append(t)
    turn = ev.get("turnover") or {}
    if turn:
        out.append("Pick turnover between consecutive samples of a symbol: " + ", ".join(
            f"{k} {v:.2f}" for k, v in turn.items()) + f"; sparsity (top-k weight share) "
            f"{ev.get('sparsity', float('nan')):.2f}, weight entropy "
            f"{ev.get('weight_entropy', float('nan')):.2f}")
    null = ev.get("null")
    if null:
        t = Table(title=f"Null test: the same fitted pipelines on the sign-randomized test days "
                        f"({null['samples']:,} samples)")
        for col in ("baseline", "real margin", "null margin", "null 95 %", "p"):
            t.add_column(col)
        for r in null["rows"]:
            lo, hi = r["null_ci95"]
            t.add_row(r["name"], f"{r['real_margin']:+.4f}", f"{r['null_margin']:+.4f}",
                      f"[{lo:+.4f}, {hi:+.4f}]", f"{r['p_value']:.3f}")
        out.append(t)
    style = "green" if ev["beats_all"] else "bold red"
    out.append(f"[{style}]{escape(ev['verdict'])}[/]")
    return out


def _rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    t = Table(title=title)
    for col in ("selector", "precision", "95 % interval", "model − this", "diff 95 %",
                "model better?"):
        t.add_column(col)
    for r in rows:
        lo, hi = r["ci95"]
        if r["name"] == "model":
            t.add_row("model", f"{r['precision']:.3f}", f"[{lo:.3f}, {hi:.3f}]", "", "", "")
            continue
        dlo, dhi = r["diff_ci95"]
        beats = "yes" if r["model_beats"] else "[red]no[/]"
        name = r["name"] if r.get("gate") else f"[dim]{r['name']} (context)[/]"
        t.add_row(name, f"{r['precision']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
                  f"{r['model_minus']:+.4f}", f"[{dlo:+.4f}, {dhi:+.4f}]",
                  beats if r.get("gate") else f"[dim]{'yes' if r['model_beats'] else 'no'}[/]")
    return t
