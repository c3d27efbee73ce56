"""Fixtures for the selector's tests: small real DuckDB caches and tiny training settings.

Everything is real (a DuckDB file on disk, the engine's registry, MLX); only
the sizes are small, so the whole folder stays well under a minute on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _mdata import END, hand_bars

from storage import calendar, demo
from storage.cache import Cache


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three demo symbols, eight sessions ending ``END``."""
    path = tmp_path_factory.mktemp("models") / "demo.duckdb"
    with Cache(path) as cache:
        demo.seed_cache(cache, ["SPY", "AAPL", "MSFT"], 8, end=END)
    return path


@pytest.fixture
def hand_cache(tmp_path: Path) -> Path:
    """Three hand-made symbols ($1, $100, $4,000) over six sessions ending ``END``."""
    path = tmp_path / "hand.duckdb"
    dates = calendar.previous_sessions(END, 6)
    table, _ = hand_bars(["ONE", "HUN", "BIG"], dates)
    with Cache(path) as cache:
        cache.write_bars(table)
    return path
