"""Backtest test fixtures: one vectorbt import (and numba compile) per session."""

from __future__ import annotations

from typing import Any

import pytest
from _panels import spy_panel

from storage.types import Panel


@pytest.fixture(scope="session")
def vbt() -> Any:
    """vectorbt, imported once; its numba functions compile on first use and are cached."""
    return pytest.importorskip("vectorbt")


@pytest.fixture(scope="module")
def spy() -> Panel:
    """SPY 2011 regular-hours bars (test_parity, test_signals); skips where the data is absent."""
    p = spy_panel(hours="regular")
    if p is None:
        pytest.skip("../shared/data/spy-2011 not present")
    return p
