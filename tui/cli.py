"""The ``avwap`` command line: one argparse tree, one module per command.

Each module in ``tui.commands`` exposes ``register(subparsers, parent)``; the
``parent`` parser carries the options every command accepts (``--db``,
``--config``), so ``avwap --db X cache info`` and ``avwap cache info --db X``
both work. Errors of the project's own type print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from storage.errors import AvwapError


def build_parser() -> argparse.ArgumentParser:
    from tui.commands import COMMANDS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="DuckDB cache file (default: from the config, else the user data dir)",
    )
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config TOML (default: $AVWAP_CONFIG, else the user config dir)",
    )
    parser = argparse.ArgumentParser(
        prog="avwap",
        description="AVWAP Console: anchored VWAP levels and indicators on minute bars.",
        parents=[common],
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the version, MLX's and the BLAS MLX multiplies with, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub, common)
    return parser


class _Version(argparse.Action):
    """``--version``: what runs, including which BLAS MLX uses (a slow reference says so)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from importlib import metadata

        from engine import blas

        def version(dist: str) -> str:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                return "not installed"

        print(f"avwap-console {version('avwap-console')}\n"
              f"mlx {version('mlx')}\n"
              f"BLAS under MLX: {blas.ensure().describe()}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Building the parser imports every command (about half a second):
        # a Ctrl-C then is an interruption too, not a traceback.
        parser = build_parser()
    except KeyboardInterrupt:
        print("avwap: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `avwap` alone starts the console when the TUI exists, else shows help.
        tui_args = parser.parse_args([*(argv or sys.argv[1:]), "tui"]) if _has_tui() else None
        if tui_args is None:
            parser.print_help()
            return 0
        args = tui_args
    try:
        _name_for_the_cache(args)
        return int(args.func(args) or 0)
    except AvwapError as e:
        print(f"avwap: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("avwap: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `avwap indicators | head`: the reader left, not an error
        sys.stderr.close()
        return 0


def _name_for_the_cache(args: argparse.Namespace) -> None:
    """How other processes waiting for the cache name this one (``storage.sharing``)."""
    from storage import sharing

    command = str(getattr(args, "command", "") or "tui")
    sharing.configure(label="the avwap console" if command == "tui" else f"avwap {command}")


def entry() -> None:
    """The ``avwap`` console script."""
    raise SystemExit(main())


def _has_tui() -> bool:
    from tui.commands import COMMANDS

    return any(m.__name__.endswith(".tui_cmd") for m in COMMANDS)


if __name__ == "__main__":
    entry()
