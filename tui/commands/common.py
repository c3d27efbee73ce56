"""Helpers every command uses: resolve the config and the cache path."""

from __future__ import annotations

import argparse
from pathlib import Path

from storage.config import Config, load_config


def config_of(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def db_of(args: argparse.Namespace, cfg: Config | None = None) -> Path:
    db = getattr(args, "db", None)
    if db:
        return Path(db).expanduser()
    return (cfg or config_of(args)).db
