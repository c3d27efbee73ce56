"""``avwap lists``: the ticker lists; ``show``, ``create``, ``add``, ``remove``, ``delete``.

The same edits as the console's ``+``/``-``/``N`` keys (``storage.tickers``):
saved as JSON in the user's tickers folder, a shipped list edited becomes a
user copy that overrides it, and ``delete`` of that copy brings the shipped
list back. Bad input is one ``avwap: error:`` line and exit 2.
"""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from tui.commands.common import cli_console, plural

ACTIONS = ("list", "show", "create", "add", "remove", "delete")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "lists", parents=[common],
        help="ticker lists; `lists show NAME`, `lists create|add|remove NAME SYM…`, "
             "`lists delete NAME`")
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list")
    p.add_argument("name", nargs="?", help="the list (a name from `avwap lists`)")
    p.add_argument("symbols", nargs="*", help="symbols, space or comma separated")
    p.add_argument("--description", default="", help="with `create`: the list's description")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from storage.errors import TickerListError
    from storage.tickers import (
        add_symbols,
        available_lists,
        builtin_dir,
        create_list,
        delete_list,
        load_list,
        remove_symbols,
        user_tickers_dir,
    )

    console = cli_console(highlight=False)
    udir = user_tickers_dir()
    if args.action == "list":
        table = Table(title=escape(f"Ticker lists (yours in {udir})"))
        for col in ("name", "symbols", "where", "description"):
            table.add_column(col)
        for name, path in available_lists().items():
            shipped = path.parent.resolve() == builtin_dir().resolve()
            where = "shipped" if shipped else (
                "yours, over the shipped one" if (builtin_dir() / f"{name}.json").is_file()
                else "yours")
            try:
                tl = load_list(path)
                count, desc = f"{len(tl):,}", tl.description
            except TickerListError as e:
                count, desc = "-", f"broken: {str(e).removeprefix(f'{path}: ')}"
            table.add_row(escape(name), count, where, escape(desc))
        console.print(table)
        return 0
    if not args.name:
        raise TickerListError(f"`avwap lists {args.action}` needs the NAME of a list")
    symbols = [s for token in args.symbols for s in token.split(",") if s.strip()]
    if args.action in ("create", "add", "remove") and not symbols:
        raise TickerListError(f"`avwap lists {args.action} {args.name}` needs one or more symbols")
    if args.action == "show":
        lists = available_lists()
        if args.name not in lists:
            raise TickerListError(
                f"no ticker list named {args.name!r} (available: {', '.join(lists) or 'none'})")
        tl = load_list(lists[args.name])
        console.print(escape(f"{tl.name}: {plural(len(tl), 'symbol')} ({tl.path})"
                             + (f" · {tl.description}" if tl.description else "")))
        console.print(escape(" ".join(tl.symbols)), soft_wrap=False)
        return 0
    if args.action == "delete":
        back = delete_list(args.name)
        console.print(escape(f"Deleted your list {args.name!r}"
                             + ("; the shipped one is back." if back else ".")))
        return 0
    if args.action == "create":
        tl = create_list(args.name, symbols, args.description)
        verb = "Created"
    elif args.action == "add":
        tl = add_symbols(args.name, symbols)
        verb = "Saved"
    else:
        tl = remove_symbols(args.name, symbols)
        verb = "Saved"
    console.print(escape(f"{verb} {tl.name!r}: {plural(len(tl), 'symbol')} in {tl.path}"))
    return 0
