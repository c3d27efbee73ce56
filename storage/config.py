"""The user's TOML config: where it lives, how it is read, its general section.

One TOML file at the platform's config dir (``AVWAP_CONFIG`` overrides its
path) read with ``tomllib``. Each room reads its own section into a frozen
dataclass (``[pg]`` in ``storage.pg_config``, ``[ib]`` in ``storage.feeds``,
``[keys]`` in ``tui``); secrets never live here but come from the environment
(``AVWAP_PG_DSN``). A missing file is an empty config; a broken file is a
``ConfigError`` that names the file and the problem.

General fields (top level):
    db = "path/to/cache.duckdb"   # default: the platform's user data dir
    tickers = "curated"            # the ticker list the console opens with
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from storage.errors import ConfigError

APP = "avwap-console"


def config_path() -> Path:
    """The config file's path: ``$AVWAP_CONFIG`` or the platform config dir."""
    env = os.environ.get("AVWAP_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def config_dir() -> Path:
    return config_path().parent


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "cache.duckdb"


@dataclass(frozen=True)
class Config:
    """The whole config: typed general fields plus each section's raw table."""

    path: Path
    db: Path
    tickers: str = "curated"
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path}: [{name}] must be a table, not {type(value).__name__}")
        return value


def load_config(path: Path | str | None = None) -> Config:
    """Read the config (a missing file gives the defaults)."""
    p = Path(path).expanduser() if path else config_path()
    raw: dict[str, Any] = {}
    if p.exists():
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from e
        except OSError as e:
            raise ConfigError(f"{p}: cannot be read: {e.strerror}") from e
    db = raw.get("db")
    if db is not None and not isinstance(db, str):
        raise ConfigError(f"{p}: 'db' must be a string path")
    tickers = raw.get("tickers", "curated")
    if not isinstance(tickers, str):
        raise ConfigError(f"{p}: 'tickers' must be the name of a ticker list")
    return Config(
        path=p,
        db=Path(db).expanduser() if db else default_db_path(),
        tickers=tickers,
        raw=raw,
    )
