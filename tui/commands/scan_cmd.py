"""``avwap scan "EXPR" --tickers LIST [--at TIME]``: the symbols matching now.

The expression is the engine's one language (``engine.expr``, the backtester's
and the Scanner screen's; docs/expressions.md). The matches come from the
cache: the batch registry over the history the expression's outputs need
(the backtester's ``history_start``), the band-validity rule applied, judged at
the last minute with a bar (or ``--at``, exchange time as the console's jump
reads it). A symbol without a bar at that minute is judged at its last bar of
that session, and the table says which bar. A bad expression is one line and
exit 2, before the cache is opened. ``--markdown`` prints the reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import numpy as np

from storage.errors import InputError
from tui.commands.common import cli_console, plural, read_db_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("scan", parents=[common],
                       help="the symbols an expression matches at the last minute (or --at)")
    p.add_argument("expression", nargs="?",
                   help="e.g. \"close > avwap_session_up2 and rvol > 2\" (docs/expressions.md)")
    p.add_argument("--tickers", default="curated",
                   help="a ticker list name, a list file, or A,B,C (default: curated)")
    p.add_argument("--at", metavar="TIME",
                   help="HH:MM (the last session), YYYY-MM-DD or YYYY-MM-DD HH:MM, exchange time")
    p.add_argument("--sort", metavar="NAME", help="sort the matches by this value, largest first "
                   "(default: the first name the expression reads)")
    p.add_argument("--markdown", action="store_true",
                   help="print the expression reference (docs/expressions.md) and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        from tui.commands.expr_doc import markdown

        print(markdown(), end="")
        return 0
    from engine.expr import ExpressionError
    from engine.expr.batch import compile_scans

    if not (args.expression or "").strip():
        raise InputError("scan: give an expression, e.g. avwap scan \"close > avwap_session\"")
    try:
        prog = compile_scans([args.expression])
    except ExpressionError as e:
        raise InputError(str(e)) from e
    sort = args.sort or (prog.names[0] if prog.names else None)
    if sort is not None and sort not in prog.names:
        raise InputError(f"--sort {sort!r}: the expression reads {', '.join(prog.names)}")
    matches, when = _matches(args, prog)
    _print(matches, when, prog.names, sort)
    return 0


def _matches(args: argparse.Namespace, prog: Any) -> tuple[list[dict[str, Any]], np.datetime64]:
    from engine.backtest.history import history_start
    from engine.expr.batch import scan_panel, scan_values
    from storage.cache import Cache
    from tui.commands.demo_cmd import symbols_from
    from tui.runtime.replay_nav import exchange_date, parse_jump

    symbols = symbols_from(args.tickers)
    if not symbols:
        raise InputError("--tickers is empty: give a list name, a list file or A,B,C")
    with Cache(read_db_of(args)) as cache:
        cov = [c for c in cache.coverage(symbols) if c.last is not None]
        if not cov:
            raise InputError(f"the cache has no bars for {', '.join(symbols[:5])}"
                             f"{' …' if len(symbols) > 5 else ''}")
        last = max(c.last for c in cov if c.last is not None)
        at = parse_jump(args.at, last) if args.at else last.astype("datetime64[m]")
        day = exchange_date(at)
        start = _history(prog.names, day, history_start)
        panel = cache.load_panel(symbols, start, day, dtype=np.float32)
    t = int(np.searchsorted(panel.ts, at, side="right"))
    if t == 0 or not panel.valid[:, :t].any():
        raise InputError(f"no bars at or before {args.at or at} for these symbols")
    panel = panel.slice_time(0, t)
    values = scan_values(panel, prog.names)
    hits = scan_panel(panel, prog, values)[0]
    # Each symbol at its last bar at or before the minute, within that session.
    sess = panel.segments["session"]
    bars = np.where(panel.valid & (sess == sess[-1])[None, :], np.arange(t), -1).max(axis=1)
    now = int(np.nonzero(panel.valid.any(axis=0))[0][-1]) if not args.at else t - 1
    rows: list[dict[str, Any]] = []
    for i, sym in enumerate(panel.symbols):
        b = int(bars[i])
        if b >= 0 and hits[i, b]:
            rows.append({"symbol": sym, "bar": panel.ts[b],
                         **{n: float(values[n][i, b]) for n in prog.names}})
    return rows, panel.ts[now]


def _history(names: list[str], day: dt.date, backtest_start: Any) -> dt.date:
    """The first day to load: the backtester's ``history_start``, and for an output whose
    history is replayed sessions (``rvol``: 11), those whole sessions too (the backtester
    steps those from a long run's start; a scan reads one minute)."""
    import math

    from engine.expr import PRICE_NAMES
    from engine.registry import REGISTRY

    first: dt.date = backtest_start(names, day)
    for n in names:
        if n in PRICE_NAMES:
            continue
        sessions = REGISTRY.meta(n).history.sessions or 0
        if sessions > 1:
            first = min(first, day - dt.timedelta(days=math.ceil(sessions * 7 / 5) + 7))
    return first


def _print(rows: list[dict[str, Any]], when: np.datetime64, names: list[str],
           sort: str | None) -> None:
    from rich.table import Table

    from tui.runtime.replay_nav import EXCHANGE_TZ

    def local(ts: np.datetime64) -> dt.datetime:
        utc = ts.astype("datetime64[s]").astype(object).replace(tzinfo=dt.UTC)
        return utc.astimezone(EXCHANGE_TZ)  # type: ignore[no-any-return]

    if sort is not None:
        rows.sort(key=lambda r: (np.isnan(r[sort]), -r[sort] if not np.isnan(r[sort]) else 0))
    console = cli_console()
    title = f"{plural(len(rows), 'match', 'matches')} at {local(when):%Y-%m-%d %H:%M} (New York)"
    table = Table("symbol", "bar", *names, title=title)
    for r in rows:
        table.add_row(r["symbol"], f"{local(r['bar']):%H:%M}", *(f"{r[n]:,.4g}" for n in names))
    if rows:
        console.print(table)
    else:
        print(title)
