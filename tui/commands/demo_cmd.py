"""``avwap demo-data``: seed the cache with deterministic demo bars."""

from __future__ import annotations

import argparse
import datetime as dt

from rich.markup import escape

from storage import demo, validate
from storage.cache import Cache
from storage.errors import InputError
from storage.tickers import load_list
from tui.commands.common import cli_console, db_of, plural


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo-data", help="write deterministic demo minute bars into the cache", parents=[common]
    )
    p.add_argument(
        "--symbols",
        default="curated",
        help="a ticker list name (curated, all, …), a list file, or A,B,C (default: curated)",
    )
    p.add_argument(
        "--days",
        type=int,
        default=20,
        help="sessions to generate (default: 20; the calendar starts in 2000)",
    )
    p.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        default=demo.DEFAULT_END,
        help=f"last session, YYYY-MM-DD, in the exchange calendar (default: {demo.DEFAULT_END})",
    )
    p.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
    p.add_argument("--extended", action="store_true", help="add sparse pre/after-hours bars")
    p.add_argument(
        "--if-empty", action="store_true", help="do nothing when the cache already has bars"
    )
    p.set_defaults(func=run)


def symbols_from(spec: str) -> list[str]:
    """A list name / list file, or comma-separated symbols."""
    if "," in spec or (spec.isupper() and not spec.endswith((".json", ".txt"))):
        return [s.strip().upper() for s in spec.split(",") if s.strip()]
    return list(load_list(spec).symbols)


def run(args: argparse.Namespace) -> int:
    console = cli_console()
    dates = demo.sessions_for(args.days, args.end)  # a bad --days/--end fails before any write
    with Cache(db_of(args)) as cache:
        if args.if_empty and cache.bar_count() > 0:
            console.print(f"Cache {escape(str(cache.path))} already has bars; leaving it as it is.")
            return 0
        symbols = symbols_from(args.symbols)
        if not any(validate.symbol_ok(s) for s in symbols):
            raise InputError(f"no valid symbol in {args.symbols!r}: use A-Z 0-9 . - / ^ _")
        label = f"Generating {plural(len(dates), 'session')} for {plural(len(symbols), 'symbol')}…"
        with console.status(label):
            result = demo.seed_cache(
                cache, symbols, args.days, end=args.end, seed=args.seed, extended=args.extended
            )
            cache.checkpoint()
    for note in result.notes:
        console.print(f"[yellow]Note: {escape(note)}[/]")
    if result.invalid:
        names = ", ".join(repr(s) for s in result.invalid)
        console.print(
            f"[yellow]Skipped {plural(len(result.invalid), 'invalid symbol')}: {escape(names)}[/]"
        )
    console.print(
        f"Wrote {plural(result.written, 'demo bar')} for {plural(len(result.symbols), 'symbol')} "
        f"({plural(result.sessions, 'session')}, {result.first} to {result.last}) "
        f"into {escape(str(cache.path))}."
    )
    return 0
