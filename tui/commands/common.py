"""Helpers every command uses: resolve the config and the cache path, word counts.

The cache path rule (README, "Commands"): a ``--db`` (or config ``db``) whose
directory does not exist is an error for every command ("no such directory"),
never a silently created folder; a command that only reads (``cache info``,
``cache check``, ``cache rejected``) also needs the file itself, so it never
creates an empty cache where the user mistyped a path. Writing commands
(``demo-data``, ``import-csv``, ``sync``) create the file when its directory
exists. The one exception is the default location under the platform's data
dir, whose folder is created on first use.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from storage.config import Config, default_db_path, load_config
from storage.errors import CacheError
from storage.tickers import builtin_dir

__all__ = ["cli_console", "config_of", "count", "db_of", "plural", "read_db_of"]


def config_of(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def db_of(args: argparse.Namespace, cfg: Config | None = None) -> Path:
    """The cache path for a command that may write it (its directory must exist)."""
    path = _path_of(args, cfg)
    hint = demo_cache_hint(path)
    if hint:
        print(f"avwap: hint: {hint}", file=sys.stderr)
    return path


def _path_of(args: argparse.Namespace, cfg: Config | None) -> Path:
    cfg = cfg or config_of(args)  # always read: a broken config is named even with --db
    db = getattr(args, "db", None)
    path = Path(db).expanduser() if db else cfg.db
    if path != default_db_path() and not path.parent.is_dir():
        raise CacheError(f"{path}: no such directory {path.parent}")
    return path


def make_demo_db() -> Path:
    """Where `make demo` keeps its cache: ``data/demo.duckdb`` in the checkout."""
    return builtin_dir().parent / "data" / "demo.duckdb"


def demo_cache_hint(path: Path) -> str:
    """A hint when ``path`` is the default cache, it has no file yet, and `make demo`'s has.

    Why: `make demo` writes ``data/demo.duckdb`` in the checkout while a bare
    `avwap backtests` reads the default cache under the user's data dir; without
    a word the second looked empty ("no runs") right after the demo saved some.
    """
    demo = make_demo_db()
    if path != default_db_path() or path.exists() or not demo.is_file():
        return ""
    return (f"the default cache {path} does not exist yet; `make demo` keeps its bars in "
            f"{demo}: add --db {demo} (or set `db` in the config)")


def read_db_of(args: argparse.Namespace, cfg: Config | None = None) -> Path:
    """The cache path for a command that only reads: the file must exist."""
    path = _path_of(args, cfg)
    if path.is_dir():
        raise CacheError(f"{path}: is a directory, not a cache file")
    if not path.exists():
        hint = demo_cache_hint(path)
        raise CacheError(
            f"{path}: no such cache file (create one with `avwap demo-data`, "
            "`avwap import-csv` or `avwap sync`)" + (f"; {hint}" if hint else "")
        )
    return path


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 symbol``, ``2 symbols``, ``1,000 sessions``: counts read as English."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


#: How wide a table may be when the output is a pipe or a file: a value is never cut
#: there (a script or `grep` reads whole rows), however long.
PIPE_WIDTH = 10_000


class CliConsole(Console):
    """A console on which a table's value is whole or not shown, never cut with ``…``.

    Why: Rich shrinks a table to the terminal and ends long values with an
    ellipsis, so `avwap models` cut the name `models use` needs and
    `avwap indicators` cut every column but the name. Here every column that would
    end in ``…`` folds onto the next line instead (the console screens' rule:
    whole or not shown), and a pipe gets rows as wide as they need.
    """

    def print(self, *objects: Any, **kw: Any) -> None:
        for obj in objects:
            if isinstance(obj, Table):
                for col in obj.columns:
                    if col.overflow == "ellipsis":
                        col.overflow = "fold"
        super().print(*objects, **kw)


def cli_console(*, stderr: bool = False, **kw: Any) -> CliConsole:
    """The console every command prints its results on (see ``CliConsole``)."""
    probe = Console(stderr=stderr)
    return CliConsole(stderr=stderr, width=None if probe.is_terminal else PIPE_WIDTH, **kw)


def count(minimum: int = 1) -> Callable[[str], int]:
    """An argparse type for a whole number of at least ``minimum``.

    Why: a count checked only when the data is read reported the wrong problem
    (`train --days 0` said the cache was missing); argparse names the flag first.
    """

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = minimum - 1
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number ≥ {minimum}, got {text!r}")
        return n

    parse.__name__ = f"count ≥ {minimum}"
    return parse
