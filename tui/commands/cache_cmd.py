"""``avwap cache info`` / ``check`` / ``rejected``: what the local cache holds.

``cache check`` exits 0 when every symbol's bars are clean against the
calendar, 1 when it found problems (missing sessions or minutes, bars after an
early close or outside trading hours, stretches not at one-minute spacing; see
``storage.quality``), and 2 on an error, so scripts can gate on it.
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.markup import escape
from rich.table import Table

from storage import quality
from storage.anchors import Anchor, list_anchors
from storage.cache import Cache
from storage.calendar import EXCHANGE_TZ
from tui.commands.common import cli_console, read_db_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("cache", help="inspect the DuckDB cache", parents=[common])
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    info = csub.add_parser("info", help="per-symbol coverage of the cache", parents=[common])
    info.add_argument("--symbols", help="comma-separated symbols (default: all)")
    info.set_defaults(func=run_info)
    chk = csub.add_parser(
        "check",
        help="data problems per symbol; exit 0 clean, 1 problems found",
        parents=[common],
        description=(
            "Check every symbol's bars against the exchange calendar: missing sessions, "
            "missing minutes inside sessions, bars after an early close or outside trading "
            "hours, stretches whose spacing is not one minute. Exit status: 0 clean, "
            "1 problems found, 2 error."
        ),
    )
    chk.add_argument("--symbols", help="comma-separated symbols (default: all)")
    chk.set_defaults(func=run_check)
    rej = csub.add_parser(
        "rejected", help="rows rejected on import, with reasons", parents=[common]
    )
    rej.add_argument("--limit", type=int, default=50)
    rej.set_defaults(func=run_rejected)


def _et(ts: np.datetime64 | None) -> str:
    if ts is None:
        return "—"
    import pandas as pd

    return pd.Timestamp(ts, tz="UTC").tz_convert(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M")


def run_info(args: argparse.Namespace) -> int:
    console = cli_console()
    with Cache(read_db_of(args)) as cache:
        info = cache.info()
        cov = cache.coverage(_symbols(args.symbols))
        checks = quality.check(cache, [c.symbol for c in cov])
        anchors = list_anchors(cache, _symbols(args.symbols))
    head = Table(
        title=f"AVWAP cache · {escape(str(info['path']))}", show_header=False, title_justify="left"
    )
    head.add_row("bars", f"{info['bars']:,}")
    head.add_row("symbols", f"{info['symbols']:,}")
    head.add_row("first bar (ET)", _et(info["first"]))
    head.add_row("last bar (ET)", _et(info["last"]))
    head.add_row("rejected rows", f"{info['rejected']:,}")
    head.add_row("file size", f"{info['bytes'] / 1e6:,.1f} MB")
    if info["bars"]:
        head.add_row("bytes per bar", f"{info['bytes'] / info['bars']:.1f}")
    head.add_row("schema version", str(info["schema_version"]))
    by_symbol = ", ".join(f"{escape(s)} {n}" for s, n in info["anchors_by_symbol"].items())
    head.add_row("anchors", f"{info['anchors']:,}" + (f" ({by_symbol})" if by_symbol else ""))
    console.print(head)
    table = Table(title="Coverage (times in exchange time, America/New_York)")
    for col in ("symbol", "first", "last", "bars", "sessions", "missing sessions", "data check"):
        table.add_column(col, justify="right" if col in ("bars", "sessions") else "left")
    for c, q in zip(cov, checks, strict=True):
        missing = ", ".join(str(d) for d in c.missing_sessions[:3])
        if len(c.missing_sessions) > 3:
            missing += f" … (+{len(c.missing_sessions) - 3})"
        problems = [p for p in q.problems() if "missing session" not in p]
        style = "red" if c.bars == 0 else ("yellow" if not q.ok else "")
        table.add_row(
            escape(c.symbol),
            _et(c.first),
            _et(c.last),
            f"{c.bars:,}",
            str(c.trading_days),
            missing or "none",
            escape("; ".join(problems)) or "ok",
            style=style,
        )
    if not cov:
        console.print("[yellow]The cache is empty: run `avwap demo-data` or `avwap sync`.[/]")
    else:
        console.print(table)
    if anchors:
        console.print(anchors_table(anchors))
    return 0


def anchors_table(anchors: list[Anchor]) -> Table:
    """The custom anchors (``avwap cache info``, ``avwap anchors list``)."""
    table = Table(title="Anchors (exchange time)")
    for col in ("id", "symbol", "anchor bar (ET)", "label"):
        table.add_column(col, justify="right" if col == "id" else "left")
    for a in anchors:
        table.add_row(str(a.id), escape(a.symbol), _et(a.ts), escape(a.label))
    return table


def _symbols(spec: str | None) -> list[str] | None:
    return [s.strip().upper() for s in spec.split(",") if s.strip()] if spec else None


def run_check(args: argparse.Namespace) -> int:
    """Print each symbol's problems; exit 1 when there are any (0 when clean)."""
    console = cli_console()
    with Cache(read_db_of(args)) as cache:
        reports = quality.check(cache, _symbols(args.symbols))
    bad = [r for r in reports if not r.ok]
    for r in bad:
        console.print(f"[yellow]{escape(r.symbol)}[/]: {escape('; '.join(r.problems()))}")
        for m in r.missing_sessions[:10]:
            console.print(f"  missing session {m}")
    n = len(reports)
    if not bad:
        console.print(f"All {n:,} symbol{'' if n == 1 else 's'} clean.")
        return 0
    console.print(f"{len(bad):,} of {n:,} symbol{'' if n == 1 else 's'} with problems.")
    return 1


def run_rejected(args: argparse.Namespace) -> int:
    console = cli_console()
    with Cache(read_db_of(args)) as cache:
        rows = cache.rejected(limit=args.limit).to_pylist()
    table = Table(title=f"Rejected rows (first {args.limit})")
    for col in ("source", "reason", "symbol", "ts", "open", "high", "low", "close", "volume"):
        table.add_column(col)
    for r in rows:
        # Every cell is data (a symbol like ``[/x]``, a reason like "open outside
        # [low, high]"): escaped so rich prints it as written, never as markup.
        table.add_row(
            *(
                escape(str(r[c]))
                for c in (
                    "source",
                    "reason",
                    "symbol",
                    "ts",
                    "open",
                    "high",
                    "low",
                    "close",
                    "volume",
                )
            )
        )
    console.print(table if rows else "No rejected rows.")
    return 0
