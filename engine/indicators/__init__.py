"""Indicator families; importing this package registers every one of them."""

from __future__ import annotations

from engine.indicators import avwap  # noqa: F401
from engine.indicators import trend  # noqa: F401
