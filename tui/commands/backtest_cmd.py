"""``avwap backtest`` (run and save) and ``avwap backtests`` (list, show, delete saved runs).

The run happens in ``engine.backtest`` and is saved only once it has finished,
in one transaction: a Ctrl-C at any point leaves no half-saved run (exit 130).
Bad input (unknown strategy, parameter or expression name, dates without data,
a grid too large, a negative cost, an empty ticker list) is one ``avwap: error:``
line and exit 2; the engine's ``BacktestError`` becomes the CLI's ``InputError``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from storage import events
from storage.cache import Cache
from storage.errors import AvwapError, InputError
from tui.backtest_fmt import fmt_stat
from tui.commands.common import db_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("backtest", parents=[common],
                       help="backtest a strategy over symbols and save the run")
    p.add_argument("--strategy", default="avwap-reversion",
                   help="strategy name (see --list-strategies; default: avwap-reversion)")
    p.add_argument("--tickers", default="curated",
                   help="a ticker list name, a list file, or A,B,C (default: curated)")
    p.add_argument("--start", help="first session YYYY-MM-DD (default: the cache's first)")
    p.add_argument("--end", help="last session YYYY-MM-DD (default: the cache's last)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                   help="a parameter value, or a comma list to sweep (repeatable)")
    p.add_argument("--entry", help="entry expression (strategy expr)")
    p.add_argument("--exit", dest="exit_expr", help="exit expression (strategy expr)")
    p.add_argument("--split", help="out-of-sample from this date (the best is chosen before it)")
    p.add_argument("--rank-by", default="sharpe", help="statistic choosing the best combination")
    p.add_argument("--commission", type=float, default=0.005, help="per share (default 0.005)")
    p.add_argument("--commission-min", type=float, default=1.0, help="per order (default 1.0)")
    p.add_argument("--fee-bps", type=float, default=0.0, help="proportional fee, bps of value")
    p.add_argument("--slippage-bps", type=float, default=1.0, help="slippage, bps (default 1)")
    p.add_argument("--cash", type=float, default=100_000.0, help="account per symbol")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--cash-per-trade", type=float, default=10_000.0)
    size.add_argument("--equity-fraction", type=float, help="size as a fraction of equity")
    p.add_argument("--overnight", action="store_true", help="hold positions overnight")
    p.add_argument("--no-entry-minutes", type=int, default=15,
                   help="no new entries in the session's last N minutes (default 15)")
    p.add_argument("--no-save", action="store_true", help="print the stats, do not save")
    p.add_argument("--distributed", action="store_true",
                   help="one rank of `mlx.launch --backend ring … -- avwap backtest "
                        "--distributed`: the symbols are split over the ranks; rank 0 "
                        "saves and prints the run (docs/backtest.md)")
    p.add_argument("--list-strategies", action="store_true", help="list strategies and exit")
    p.add_argument("--progress-json", action="store_true",
                   help="print progress as JSON lines (for the Backtests screen)")
    p.add_argument("--request", metavar="JSON", default=None,
                   help="the run as the Backtests screen's form gives it (strategy, params, "
                        "symbols, dates, settings); replaces the run's flags")
    p.set_defaults(func=run)

    q = sub.add_parser("backtests", parents=[common], help="list, show or delete saved backtests")
    q.add_argument("action", nargs="?", choices=("list", "show", "delete"), default="list")
    q.add_argument("run_id", nargs="?", type=int)
    q.set_defaults(func=run_saved)


def _bad(msg: str) -> AvwapError:
    return InputError(msg)


def parse_params(items: list[str], strategy: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise _bad(f"--param {item!r}: expected NAME=VALUE or NAME=V1,V2,…")
        name, _, raw = item.partition("=")
        p = strategy.param(name.strip())
        vals = [raw] if p.kind is str and not p.choices else raw.split(",")
        out[p.name] = [p.parse(v.strip()) for v in vals if v.strip() != ""]
    return out


def _list_strategies(console: Console) -> None:
    from engine.backtest.strategies import STRATEGIES

    t = Table("strategy", "parameters", "status", "what it does")
    for s in STRATEGIES.values():
        params = ", ".join(f"{p.name}={p.default}" for p in s.params)
        t.add_row(s.name, params, f"unavailable: {s.unavailable}" if s.unavailable else "ok",
                  s.description)
    console.print(t)


def run(args: argparse.Namespace) -> int:
    from engine.backtest.errors import BacktestError

    try:
        return _run(args)
    except BacktestError as e:  # the engine's own type (it imports no storage errors)
        raise InputError(str(e)) from e


def _run(args: argparse.Namespace) -> int:
    from engine.backtest import strategies
    from engine.backtest.persist import to_tables
    from engine.backtest.result import Settings
    from engine.backtest.runner import MLXBacktester
    from storage.results import save_run
    from tui.commands.demo_cmd import symbols_from

    console = Console()
    if args.list_strategies:
        _list_strategies(console)
        return 0
    first, last = args.start, args.end
    if args.request is not None:
        req = _request(args.request)
        strat, params, symbols = strategies.get(req.strategy), req.params, list(req.symbols)
        first, last = req.start, req.end
        try:
            settings = Settings(**req.settings)
        except TypeError as e:
            raise _bad(f"--request settings: {e}") from None
    else:
        strat = strategies.get(args.strategy)
        params = parse_params(args.param, strat)
        if args.entry is not None:
            params["entry"] = [strat.param("entry").parse(args.entry)]
        if args.exit_expr is not None:
            params["exit"] = [strat.param("exit").parse(args.exit_expr)]
        if strat.name == "expr" and not params.get("entry"):
            raise _bad("strategy expr needs --entry EXPRESSION")
        if not args.tickers.strip():
            raise _bad("--tickers is empty: give a list name, a list file or A,B,C")
        symbols = symbols_from(args.tickers)
        settings = Settings(
            init_cash=args.cash, size_value=args.cash_per_trade,
            size_fraction=args.equity_fraction, commission_per_share=args.commission,
            commission_min=args.commission_min, fee_bps=args.fee_bps,
            slippage_bps=args.slippage_bps, hold_overnight=args.overnight,
            no_entry_minutes=args.no_entry_minutes,
        )
    settings.check()  # before the cache opens: a bad value costs no load
    group = _group() if args.distributed else None
    rank = group.rank() if group is not None else 0
    # Ranks read the cache at once (read-only connections share the file); rank 0
    # opens it for writing only once every rank has closed its own.
    with Cache(db_of(args), read_only=group is not None) as cache:
        start, end = _range(cache, symbols, first, last)
        try:
            with Progress(TextColumn("{task.description:<14}"), BarColumn(),
                          TimeElapsedColumn(), console=Console(stderr=True),
                          transient=True, disable=(rank > 0 or args.progress_json
                                                   or not sys.stderr.isatty())) as bar:
                task = bar.add_task("starting", total=1.0)

                def progress(stage: str, frac: float) -> None:
                    if args.progress_json:
                        _emit(events.BacktestStep(stage=stage, fraction=round(float(frac), 4)))
                    else:
                        bar.update(task, description=stage, completed=frac)

                res = MLXBacktester(cache, code_version=code_version()).run_vectorized_backtest(
                    symbols, start, end, strat.name, params, settings, split=args.split,
                    rank_by=args.rank_by, progress=progress, group=group)
            if not args.no_save and group is None:
                res.run_id = save_run(cache, to_tables(res))
        except KeyboardInterrupt:
            print("avwap: error: interrupted; nothing was saved", file=sys.stderr)
            return 130
    if group is not None:
        from engine.backtest.distributed import gather_sum

        gather_sum(group, 0)  # a barrier: every rank has closed the cache
        if rank > 0:
            return 0
        if not args.no_save:
            with Cache(db_of(args)) as cache:
                res.run_id = save_run(cache, to_tables(res))
    if args.progress_json:
        if res.run_id is not None:
            _emit(events.BacktestDone(run_id=int(res.run_id), trades=len(res.trades.pnl),
                                      skipped=list(res.skipped)))
        return 0
    if res.skipped:
        console.print(f"[yellow]skipped (no bars in range): {', '.join(res.skipped)}[/]")
    print_result(console, res)
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if res.run_id is not None:
        console.print(f"Saved as run {res.run_id} (`avwap backtests show {res.run_id}`).")
    return 0


def _emit(ev: events.Event) -> None:
    print(events.encode(ev), flush=True)


def _request(text: str) -> Any:
    """The Backtests screen's checked form (``BacktestRequest``) from ``--request``."""
    from tui.screens.backtests.request import BacktestRequest

    try:
        return BacktestRequest.from_json(text)
    except (ValueError, KeyError, TypeError) as e:
        raise _bad(f"--request is not a backtest request ({type(e).__name__}: {e})") from None


def _group() -> Any:
    """This process's ``mx.distributed`` group (started by ``mlx.launch``)."""
    import mlx.core as mx

    group = mx.distributed.init()
    if group.size() < 2:
        raise _bad("--distributed: this process is not one of several ranks; start it with "
                   "`mlx.launch --backend ring -n 2 --hosts 127.0.0.1 -- avwap backtest "
                   "--distributed …` or a --hostfile (docs/backtest.md)")
    return group


def code_version() -> str:
    """What the run is saved with: a hash of the engine's sources and the MLX version
    (the warm store's key; it needs no git checkout)."""
    from tui.runtime.warm_store import code_version as engine_hash

    return engine_hash()[:12]


def _range(cache: Cache, symbols: list[str], start: str | None,
           end: str | None) -> tuple[str | dt.date, str | dt.date]:
    if start and end:
        return start, end
    cov = [c for c in cache.coverage(symbols) if c.first is not None and c.last is not None]
    if not cov:
        raise _bad(f"the cache {cache.path} has no bars for {', '.join(symbols[:5])}"
                   f"{' …' if len(symbols) > 5 else ''}")
    first = min(c.first for c in cov if c.first is not None)
    last = max(c.last for c in cov if c.last is not None)
    return (start or first.astype(dt.datetime).date(), end or last.astype(dt.datetime).date())


def print_result(console: Console, res: Any) -> None:
    from engine.backtest.stats import NAMES

    st = res.stats
    b = res.best
    console.print(f"[b]{res.strategy}[/] {len(res.symbols)} symbols {res.start} → {res.end}"
                  f"  best of {len(res.combos)}: {res.combo_label(b)}  (by {res.rank_by})")
    t = Table("statistic", "all")
    cols = [st.portfolio[b]]
    if st.in_sample is not None and st.out_sample is not None:
        t.add_column("in-sample")
        t.add_column("out-of-sample")
        cols += [st.in_sample[b], st.out_sample[b]]
    for i, name in enumerate(NAMES):
        t.add_row(name, *(fmt_stat(name, float(c[i])) for c in cols))
    console.print(t)
    if len(res.combos) > 1:
        show = [b, *res.neighbours]
        cols = list(dict.fromkeys((res.rank_by, "total_return", "sharpe", "max_drawdown",
                                   "trades")))
        where = " (in-sample)" if st.in_sample is not None else ""
        n = Table("combination", *cols, title=f"best and its neighbours{where}")
        for c in show:
            row = st.in_sample[c] if st.in_sample is not None else st.portfolio[c]
            n.add_row(("* " if c == b else "  ") + res.combo_label(c),
                      *(fmt_stat(k, float(row[NAMES.index(k)])) for k in cols))
        console.print(n)


def run_saved(args: argparse.Namespace) -> int:
    from storage.results import delete_run, list_runs, load_run

    console = Console()
    with Cache(db_of(args)) as cache:
        if args.action == "list":
            runs = list_runs(cache)
            if not runs:
                console.print(f"No saved backtests in {cache.path}.")
                return 0
            # Plain fixed-width lines: they fit 80 columns whatever the terminal reports.
            console.print(f"{'id':>3} {'saved':<5} {'strategy':<15} {'sessions':<17} "
                          f"{'syms':>4} {'grid':>4} {'return':>7} {'sharpe':>6} "
                          f"{'trades':>7}", highlight=False, soft_wrap=True)
            for r in runs:
                console.print(
                    f"{r['run_id']:>3} {r['created_at']:%m-%d} {r['strategy'][:15]:<15} "
                    f"{r['start_date']:%y-%m-%d} {r['end_date']:%y-%m-%d} {r['n_symbols']:>4} "
                    f"{r['n_combos']:>4} {fmt_stat('total_return', r['total_return']):>7} "
                    f"{fmt_stat('sharpe', r['sharpe']):>6} {fmt_stat('trades', r['trades']):>7}",
                    highlight=False, soft_wrap=True, markup=False)
            return 0
        if args.run_id is None:
            raise _bad(f"`avwap backtests {args.action}` needs a run id")
        if args.action == "delete":
            delete_run(cache, args.run_id)
            console.print(f"Deleted backtest run {args.run_id}.")
            return 0
        saved = load_run(cache, args.run_id)
    _print_saved(console, saved)
    return 0


def _print_saved(console: Console, saved: Any) -> None:
    from engine.backtest.stats import NAMES

    run = saved.run
    b = run["best"]
    combo = run["combos"][b]
    label = ", ".join(f"{k}={combo[k]}" for k in run["grid"]) or "defaults"
    console.print(f"[b]run {run['run_id']}[/] {run['strategy']}  {len(run['symbols'])} symbols "
                  f"{run['start_date']} → {run['end_date']}  best: {label}  "
                  f"code {run['code_version']}")
    if run["skipped"]:
        console.print(f"skipped (no bars): {', '.join(run['skipped'])}")
    s = saved.stats.to_pydict()
    by: dict[tuple[str, str], float] = {}
    for cb, sym, per, stat, val in zip(s["combo"], s["symbol"], s["period"], s["stat"],
                                       s["value"], strict=True):
        if cb == b and sym == "*":
            by[(per, stat)] = val
    periods = [p for p in ("all", "in", "out") if ("all" if p == "all" else p, "trades") in by]
    t = Table("statistic", *periods)
    for name in NAMES:
        t.add_row(name, *(fmt_stat(name, by.get((p, name))) for p in periods))
    console.print(t)
    settings = dict(run["settings"])
    notes = settings.pop("notes", [])
    settings.pop("partial_anchors", None)
    costs = ", ".join(f"{k}={v}" for k, v in settings.items())
    console.print(f"settings: {costs}")
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"{saved.trades.num_rows:,} trades, "
                  f"{saved.equity.num_rows:,} equity points saved")
