"""The user's TOML config: where it lives, how it is read, its general section.

One TOML file at the platform's config dir (``AVWAP_CONFIG`` overrides its
path) read with ``tomllib``. Each room reads its own section into a frozen
dataclass (``[pg]`` in ``storage.pg_config``, ``[ib]`` in ``storage.feeds``,
``[keys]`` in ``tui``); secrets never live here but come from the environment
(``AVWAP_PG_DSN``). A missing file is an empty config; a broken file is a
``ConfigError`` that names the file and the problem. So are, at load time:
unknown top-level keys and sections (a typo like ``dbb`` or ``[pgg]`` would
otherwise be ignored silently), unknown keys inside ``[pg]`` and ``[ib]``
(every key is declared once, in ``storage.settings``), and a password inside
``[pg] dsn`` (refused without being echoed: it belongs in
``AVWAP_PG_DSN`` or ``~/.pgpass``).

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
from storage.settings import SECTIONS, TOP

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


def check_names(p: Path, raw: dict[str, Any]) -> None:
    """``ConfigError`` naming every unknown key or section (``storage.settings``), a
    wrong value in ``[pg]`` or ``[ib]``, and a password in ``[pg] dsn``."""
    unknown = sorted(set(raw) - {*TOP.known(), *SECTIONS})
    if unknown:
        raise ConfigError(
            f"{p}: unknown key(s) or section(s): {', '.join(unknown)} "
            f"(keys: {', '.join(TOP.known())}; "
            f"sections: {', '.join(f'[{s}]' for s in SECTIONS)})"
        )
    for name, schema in SECTIONS.items():
        section = raw.get(name, {})
        if schema is not None and isinstance(section, dict):
            schema.unknown(section, f"{p}: [{name}]")
    pg = raw.get("pg", {})
    dsn = pg.get("dsn") if isinstance(pg, dict) else None
    if isinstance(dsn, str):
        from storage.pg_config import DSN_ENV, dsn_password

        if dsn_password(dsn):
            raise ConfigError(
                f"{p}: [pg] dsn carries a password; remove it from the file and put the "
                f"connection string in {DSN_ENV} (or the password in ~/.pgpass)"
            )


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
        check_names(p, raw)
    top = TOP.read({k: v for k, v in raw.items() if k not in SECTIONS}, str(p))
    db, tickers = top["db"], top["tickers"]
    return Config(
        path=p,
        db=Path(db).expanduser() if db else default_db_path(),
        tickers=tickers,
        raw=raw,
    )
