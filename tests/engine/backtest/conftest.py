"""Backtest test fixtures: one vectorbt import (and numba compile) per session."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


@pytest.fixture(scope="session")
def vbt() -> Any:
    """vectorbt, imported once; its numba functions compile on first use and are cached."""
    return pytest.importorskip("vectorbt")
