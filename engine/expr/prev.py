"""The symbol's previous bar: what a cross and ``prev`` compare with.

A cross compares with the symbol's previous *bar* (its last minute with a
bar), not the previous grid minute: on a grid with a missing minute, or on
ten-minute bars, the grid minute before a bar is empty and would cancel every
cross (docs/backtest.md, "Timing"). The backtester (``engine.backtest.bars``),
the scanner and the alerts share these two functions.
"""

from __future__ import annotations

import numpy as np


def prev_bar(valid: np.ndarray) -> np.ndarray:
    """``[S, T]``: the symbol's last minute with a bar strictly before t, or -1."""
    s, t = valid.shape
    last = np.where(valid, np.arange(t), -1)
    np.maximum.accumulate(last, axis=1, out=last)
    out = np.full((s, t), -1, dtype=np.int64)
    out[:, 1:] = last[:, :-1]
    return out


def at_prev(x: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """``x`` at each minute's previous bar (NaN, or False for a condition, where none).

    Most bars follow a bar: their value is the previous minute's, one shifted
    copy; only the minutes after a gap are gathered one by one.
    """
    x = np.broadcast_to(x, prev.shape)
    fill = False if x.dtype == np.bool_ else np.nan
    out = np.empty(prev.shape, dtype=x.dtype)
    out[:, 1:] = x[:, :-1]
    out[:, :1] = fill
    si, ti = np.nonzero(prev != np.arange(prev.shape[1]) - 1)
    p = prev[si, ti]
    out[si, ti] = np.where(p >= 0, x[si, np.maximum(p, 0)], fill)
    return out


def shift(x: np.ndarray) -> np.ndarray:
    """``x`` one step back along its last axis (NaN, or False, at the first step): the
    previous grid minute, or in a live window (``[S, K]`` of each symbol's last K bars)
    the symbol's previous bar."""
    out = np.empty_like(x)
    out[..., 1:] = x[..., :-1]
    out[..., :1] = np.nan if x.dtype.kind == "f" else False
    return out
