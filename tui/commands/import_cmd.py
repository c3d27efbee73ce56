"""``avwap import-csv``: load minute bars from CSV files with a stated layout."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from storage.cache import Cache, WriteResult
from storage.csv_import import PRESETS, import_csv, layout_for
from tui.commands.common import cli_console, db_of


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import-csv",
        help="import minute bars from CSV files",
        parents=[common],
        description=(
            "Import minute bars. State the layout: a --preset, or --columns/--delimiter/"
            "--no-header, the zone of timestamps without an offset (--tz) and whether a bar "
            "is stamped with its start or its end (--label). Bad rows are kept in "
            "rejected_bars with their reason (see `avwap cache rejected`)."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a known vendor layout")
    p.add_argument("--symbol", help="symbol for files without a symbol column")
    p.add_argument(
        "--columns", help="field names in file order, e.g. ts,open,high,low,close,volume"
    )
    p.add_argument("--delimiter", help="field separator (default ',')")
    p.add_argument("--no-header", action="store_true", help="the file has no header line")
    p.add_argument("--ts-format", help="strptime format of the timestamp (default ISO 8601)")
    p.add_argument("--tz", help="zone of timestamps without an offset, e.g. America/New_York")
    p.add_argument("--label", choices=("start", "end"), help="bar stamped with its start or end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = cli_console()
    layout = layout_for(
        args.preset,
        symbol=args.symbol,
        columns=tuple(c.strip().lower() for c in args.columns.split(",")) if args.columns else None,
        delimiter=args.delimiter,
        header=False if args.no_header else None,
        ts_format=args.ts_format,
        tz=args.tz,
        label=args.label,
    )
    table = Table(title="Import summary")
    for col in ("file", "rows", "written", "replaced", "duplicates", "rejected", "reasons"):
        table.add_column(col, justify="left" if col in ("file", "reasons") else "right")
    total = WriteResult()
    with Cache(db_of(args)) as cache:
        for path in args.paths:
            r = import_csv(cache, path, layout)
            total.add(r)
            reasons = "\n".join(f"{k}: {v:,}" for k, v in sorted(r.rejected_by_reason.items()))
            table.add_row(
                escape(str(path)),
                f"{r.received:,}",
                f"{r.written:,}",
                f"{r.replaced:,}",
                f"{r.duplicates:,}",
                f"{r.rejected:,}",
                escape(reasons) or "—",
            )
        cache.checkpoint()
    console.print(table)
    console.print(
        "rows = written + duplicates + rejected; duplicates: the same symbol and minute "
        "again in the file (the last one is kept); rejected rows: `avwap cache rejected`."
    )
    return 0
