"""The symbol's previous bar: what a cross and ``prev`` compare with.

A cross compares with the symbol's previous *bar* (its last minute with a
bar), not the previous grid minute: on a grid with a missing minute, or on
ten-minute bars, the grid minute before a bar is empty and would cancel every
cross (docs/backtest.md, "Timing").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bars:
    """What a rule knows of the grid besides the values: the minute of the session
    ``[T]`` and each minute's previous bar of the symbol ``[S, T]`` (-1: none)."""

    minute_of_session: np.ndarray
    prev: np.ndarray

    @staticmethod
    def of(valid: np.ndarray, minute_of_session: np.ndarray) -> Bars:
        return Bars(minute_of_session, prev_bar(valid))


def prev_bar(valid: np.ndarray) -> np.ndarray:
    """``[S, T]``: the symbol's last minute with a bar strictly before t, or -1."""
    s, t = valid.shape
    last = np.where(valid, np.arange(t), -1)
    np.maximum.accumulate(last, axis=1, out=last)
    out = np.full((s, t), -1, dtype=np.int64)
    out[:, 1:] = last[:, :-1]
    return out


def at_prev(x: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """``x`` at each minute's previous bar (NaN, or False for a condition, where none)."""
    x = np.broadcast_to(x, prev.shape)
    got = np.take_along_axis(x, np.maximum(prev, 0), axis=1)
    fill = False if x.dtype == np.bool_ else np.nan
    return np.where(prev >= 0, got, fill)
