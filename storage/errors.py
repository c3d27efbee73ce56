"""The project's own error types: one human message, never a secret.

Driver errors (DuckDB, psycopg, ib_async) are re-raised as one of these ``from``
the original, so the CLI and the TUI can show ``str(err)`` as is.
"""

from __future__ import annotations


class AvwapError(Exception):
    """Base class: ``str(err)`` is a complete sentence a user can act on."""

    exit_code = 2


class ConfigError(AvwapError):
    """The config file or an environment setting is wrong."""


class CacheError(AvwapError):
    """The DuckDB cache cannot be opened, read or written."""


class TickerListError(AvwapError):
    """A ticker list file is missing or malformed."""


class ImportError_(AvwapError):
    """A CSV or other input file cannot be read as minute bars."""


class InputError(AvwapError):
    """A command-line value is out of range (a date past the calendar, a bad count)."""


class SourceError(AvwapError):
    """The PostgreSQL source cannot be reached or read."""
