"""``avwap precheck``: will the cache support a training run, before spending an hour on it.

Per symbol it shows the sessions the cache holds in the window and the missing
ones; then the sample estimate ``(days × 390 − lookback) ÷ interval × tickers``
beside the exact count the data set builder will produce (it runs the same
builder, without writing feature files). Below ``--min-samples`` it stops with
``Insufficient samples for training`` and the three remedies (exit 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from storage.cache import Cache
from storage.errors import AvwapError, CacheError
from tui.commands.common import cli_console, count, db_of
from tui.commands.demo_cmd import symbols_from

if TYPE_CHECKING:  # the models (and MLX) load only when a command runs
    from models.dataset import Dataset, DataSpec
    from models.errors import InsufficientSamples

MIN_SAMPLES = 1000


def add_data_args(p: argparse.ArgumentParser) -> None:
    """The data flags precheck and train share."""
    p.add_argument("--tickers", default="curated",
                   help="a ticker list (curated, all, …), a list file, or A,B,C (default: curated)")
    p.add_argument("--days", type=count(1), default=20, help="sessions in the window (default: 20)")
    p.add_argument("--sample-interval", type=count(1), default=15, dest="interval",
                   help="minutes between samples (default: 15)")
    p.add_argument("--max-tickers", type=count(1), default=None, help="use at most N symbols")
    p.add_argument("--lookback", type=count(1), default=120, help="window minutes (default: 120)")
    p.add_argument("--horizon", type=count(1), default=15,
                   help="forward-return minutes for the labels (default: 15)")
    p.add_argument("--cost-bps", type=float, default=5.0,
                   help="round-trip cost a return must exceed to count (default: 5 bps)")
    p.add_argument("--val-days", type=count(1), default=None,
                   help="validation sessions per fold, for early stopping and the checkpoint "
                        "(default: a tenth of --days, at least 1)")
    p.add_argument("--test-days", type=count(1), default=None,
                   help="test sessions per fold, reported only (default: a tenth of --days, "
                        "at least 1)")
    p.add_argument("--folds", type=count(1), default=None,
                   help="walk-forward folds (default: up to 3 while the first keeps half the "
                        "days to train on)")
    p.add_argument("--end", type=dt.date.fromisoformat, default=None,
                   help="last session YYYY-MM-DD (default: the newest in the cache)")
    p.add_argument("--min-samples", type=count(0), default=MIN_SAMPLES,
                   help=f"fewest samples worth training on (default: {MIN_SAMPLES})")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("precheck", parents=[common],
                       help="check the cache can support training (coverage, sample count)")
    add_data_args(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (coverage, estimate, exact count, the time of "
                        "a training step) instead of tables: what the Training screen reads")
    p.set_defaults(func=run)


def spec_of(args: argparse.Namespace) -> DataSpec:
    from models.dataset import DataSpec

    symbols = symbols_from(args.tickers)
    if args.max_tickers is not None:
        symbols = symbols[: max(args.max_tickers, 0)]
    return DataSpec(tickers=tuple(symbols), days=args.days, interval=args.interval,
                    lookback=args.lookback, horizon=args.horizon, cost_bps=args.cost_bps,
                    val_days=args.val_days, test_days=args.test_days, folds=args.folds,
                    end=args.end)


def open_cache(args: argparse.Namespace) -> Cache:
    path = db_of(args)
    if not path.exists():
        raise CacheError(f"no cache at {path} (create one with `avwap demo-data` or `avwap sync`)")
    return Cache(path, read_only=True)


def insufficient(n: int, spec: DataSpec, minimum: int) -> InsufficientSamples:
    from models.errors import InsufficientSamples

    return InsufficientSamples(
        f"Insufficient samples for training: {n:,} samples (estimate {spec.estimate():,}), at "
        f"least {minimum:,} needed; remedies: more days (--days, now {spec.days}), a lower "
        f"interval (--sample-interval, now {spec.interval}), more tickers (--tickers, now "
        f"{len(spec.tickers)})")


def check_count(ds: Dataset, spec: DataSpec, minimum: int) -> None:
    if ds.n < minimum:
        raise insufficient(ds.n, spec, minimum)


def coverage_rows(cache: Cache, spec: DataSpec, sessions: Any,
                  missing: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """Per symbol: sessions held in the window and the ones missing (skipped if none)."""
    rows: list[dict[str, Any]] = []
    cov = {c.symbol: c for c in cache.coverage(spec.tickers)}
    for sym in spec.tickers:
        c = cov.get(sym)
        if sym in missing or c is None or c.first is None or c.last is None:
            rows.append({"symbol": sym, "sessions": 0, "missing": [], "skipped": True})
            continue
        first = c.first.astype("datetime64[D]")
        last = c.last.astype("datetime64[D]")
        gone = {str(d) for d in c.missing_sessions}
        lacking = [str(d) for d in sessions
                   if d < first or d > last or str(d.astype(dt.date)) in gone]
        rows.append({"symbol": sym, "sessions": len(sessions) - len(lacking),
                     "missing": lacking, "skipped": False})
    return rows


def step_ms(ds: Dataset, batch_size: int = 256, repeats: int = 3) -> float:
    """Median milliseconds of one compiled training step at the data set's shapes.

    Measured on random inputs (the step's cost depends on shapes, not values),
    after one warm-up call that compiles it: what an epoch of training will pay
    per step on this machine now.
    """
    import mlx.core as mx
    import mlx.optimizers as optim

    from models.model import ModelArgs, SelectorModel, make_train_step

    args = ModelArgs(n_features=len(ds.names), n_outputs=len(ds.outputs),
                     lookback=ds.spec.lookback)
    model = SelectorModel(args)
    opt = optim.AdamW(learning_rate=1e-3)
    step = make_train_step(model, opt)
    x = mx.random.normal((batch_size, args.lookback, args.n_features))
    regime = mx.zeros((batch_size,), dtype=mx.int32)
    y = (mx.random.uniform(shape=(batch_size, args.n_outputs)) > 0.5).astype(mx.float32)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        mx.eval(step(x, regime, y), model.state, opt.state)
        if i:
            times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def report(cache: Cache, spec: DataSpec, minimum: int, *, time_step: bool = True
           ) -> dict[str, Any]:
    """Everything precheck finds, as plain data (the tables and ``--json`` print it)."""
    from models.dataset import build, present_symbols, window_of

    sessions = window_of(cache, spec)
    present, missing = present_symbols(cache, spec, sessions)
    out: dict[str, Any] = {
        "window": [str(sessions[0]), str(sessions[-1])], "sessions": len(sessions),
        "coverage": coverage_rows(cache, spec, sessions, missing),
        "missing": list(missing), "tickers": len(spec.tickers),
        "estimate": spec.estimate(len(present)), "min_samples": minimum,
        "formula": f"({spec.days} × 390 − {spec.lookback}) ÷ {spec.interval} × "
                   f"{len(present)} tickers",
    }
    ds = build(cache, spec, store=False)
    out.update(exact=ds.n, train=len(ds.train_idx), val=len(ds.val_idx),
               test=len(ds.test_idx), folds=len(ds.folds), val_start=str(ds.val_start),
               test_start=str(ds.test_start), ok=ds.n >= minimum)
    if ds.n < minimum:
        out["error"] = str(insufficient(ds.n, spec, minimum))
    elif time_step:
        ms = step_ms(ds)
        steps = max(1, len(ds.train_idx) // 256)
        out.update(step_ms=round(ms, 3), steps_per_epoch=steps,
                   epoch_s=round(ms * steps / 1e3, 2))
    return out


def run(args: argparse.Namespace) -> int:
    spec = spec_of(args)
    if args.json:
        try:
            with open_cache(args) as cache:
                rep = report(cache, spec, args.min_samples)
        except AvwapError as e:  # one object, so the screen shows the same line the CLI would
            print(json.dumps({"ok": False, "error": str(e)}), flush=True)
            return e.exit_code
        print(json.dumps(rep), flush=True)
        return 0 if rep["ok"] else 2
    return _run_tables(args, spec)


def _run_tables(args: argparse.Namespace, spec: DataSpec) -> int:
    from models.dataset import build, present_symbols, window_of

    console = cli_console()
    with open_cache(args) as cache:
        sessions = window_of(cache, spec)
        present, missing = present_symbols(cache, spec, sessions)
        table = Table(title=f"Coverage {sessions[0]} .. {sessions[-1]} ({len(sessions)} sessions)")
        for col in ("symbol", "sessions", "missing"):
            table.add_column(col)
        for row in coverage_rows(cache, spec, sessions, missing):
            sym = escape(row["symbol"])
            if row["skipped"]:
                table.add_row(sym, "0", "[red]not in the cache for this window: skipped[/]")
                continue
            lacking = row["missing"]
            more = f" … (+{len(lacking) - 4})" if len(lacking) > 4 else ""
            table.add_row(sym, str(row["sessions"]), ", ".join(lacking[:4]) + more or "-")
        console.print(table)
        if missing:
            more = " …" if len(missing) > 20 else ""
            console.print(f"[yellow]{len(missing)} of {len(spec.tickers)} symbols missing "
                          f"(skipped): {escape(', '.join(missing[:20]))}{more}[/]")
        with console.status("Counting samples (the builder's own rules)…"):
            ds = build(cache, spec, store=False)
    est = spec.estimate(len(present))
    console.print(f"Samples: estimate {est:,} = ({spec.days} × 390 − {spec.lookback}) ÷ "
                  f"{spec.interval} × {len(present)} tickers; exact {ds.n:,} "
                  f"(kept model: {len(ds.train_idx):,} training, {len(ds.val_idx):,} "
                  f"validation from {ds.val_start}, {len(ds.test_idx):,} test from "
                  f"{ds.test_start}; {len(ds.folds)} walk-forward fold(s); warm-up, gaps, "
                  "session ends and the purge excluded)")
    check_count(ds, spec, args.min_samples)
    console.print("[green]Enough samples for training.[/]")
    return 0
