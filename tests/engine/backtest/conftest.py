"""Backtest test fixtures: one vectorbt import (and numba compile) per session."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def vbt() -> Any:
    """vectorbt, imported once; its numba functions compile on first use and are cached."""
    return pytest.importorskip("vectorbt")
