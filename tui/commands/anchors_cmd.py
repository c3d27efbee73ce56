"""``avwap anchors list|add|delete``: the custom anchors kept in the cache, from a shell.

The console sets anchors by key (``a`` on the chart) and lists or deletes them
with ``k``; this command does the same for scripts and for a trader who keeps a
list of earnings dates. Times are exchange time (America/New_York) unless they
end in ``Z`` or ``UTC``; every problem is one ``avwap: error:`` line, exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
from rich.markup import escape

from storage.anchors import add_anchor, delete_anchor, list_anchors
from storage.cache import Cache
from storage.calendar import EXCHANGE_TZ
from storage.errors import InputError
from tui.commands.cache_cmd import anchors_table
from tui.commands.common import cli_console, read_db_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("anchors", help="custom AVWAP anchors kept in the cache",
                       parents=[common])
    asub = p.add_subparsers(dest="anchors_command", metavar="ACTION", required=True)
    ls = asub.add_parser("list", help="the anchors (all, or of some symbols)", parents=[common])
    ls.add_argument("--symbols", help="comma-separated symbols (default: all)")
    ls.set_defaults(func=run_list)
    add = asub.add_parser("add", help="anchor an AVWAP at a bar", parents=[common])
    add.add_argument("symbol")
    add.add_argument("time", help="the bar, 'YYYY-MM-DD HH:MM' in exchange time "
                                  "(or ending in Z / UTC for UTC)")
    add.add_argument("--label", default="", help="a short name shown in the AVWAP pane")
    add.set_defaults(func=run_add)
    rm = asub.add_parser("delete", help="delete an anchor by id", parents=[common])
    rm.add_argument("id", type=int)
    rm.set_defaults(func=run_delete)


def parse_time(text: str) -> np.datetime64:
    """``YYYY-MM-DD HH:MM`` in exchange time (or UTC with ``Z``/``UTC``) as UTC minutes."""
    raw = text.strip()
    utc = raw.upper().endswith(("Z", "UTC"))
    core = raw[:-3] if raw.upper().endswith("UTC") else raw[:-1] if utc else raw
    try:
        when = dt.datetime.fromisoformat(core.strip().replace("T", " "))
    except ValueError as e:
        raise InputError(f"not a time: {text!r} (use 'YYYY-MM-DD HH:MM', exchange time)") from e
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC if utc else ZoneInfo(EXCHANGE_TZ))
    naive = when.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(naive, "m")


def run_list(args: argparse.Namespace) -> int:
    syms = ([s.strip().upper() for s in args.symbols.split(",") if s.strip()]
            if args.symbols else None)
    with Cache(read_db_of(args)) as cache:
        anchors = list_anchors(cache, syms)
    console = cli_console()
    console.print(anchors_table(anchors) if anchors else "No anchors.")
    return 0


def run_add(args: argparse.Namespace) -> int:
    ts = parse_time(args.time)
    with Cache(read_db_of(args)) as cache:
        anchor = add_anchor(cache, args.symbol, ts, args.label)
    cli_console().print(f"Anchor {anchor.id}: {escape(anchor.symbol)} at {args.time.strip()}"
                    + (f" ({escape(anchor.label)})" if anchor.label else ""))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with Cache(read_db_of(args)) as cache:
        anchor = delete_anchor(cache, args.id)
    cli_console().print(f"Deleted anchor {anchor.id} ({escape(anchor.symbol)}).")
    return 0
