"""The symbol's previous bar: what a cross and ``prev`` compare with.

A cross compares with the symbol's previous *bar* (its last minute with a
bar), not the previous grid minute: on a grid with a missing minute, or on
ten-minute bars, the grid minute before a bar is empty and would cancel every
cross (docs/backtest.md, "Timing"). ``prev_bar`` and ``at_prev`` live with the
expression language (``engine.expr.prev``), which the scanner and alerts share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.expr.prev import at_prev, prev_bar

__all__ = ["Bars", "at_prev", "prev_bar"]


@dataclass(frozen=True)
class Bars:
    """What a rule knows of the grid besides the values: the minute of the session
    ``[T]`` and each minute's previous bar of the symbol ``[S, T]`` (-1: none)."""

    minute_of_session: np.ndarray
    prev: np.ndarray

    @staticmethod
    def of(valid: np.ndarray, minute_of_session: np.ndarray) -> Bars:
        return Bars(minute_of_session, prev_bar(valid))
