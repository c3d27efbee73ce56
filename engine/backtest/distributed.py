"""Sweeps across machines: data-parallel over symbols with MLX's own distributed layer.

Symbols are independent until the statistics (each has its own account), so a
sweep splits them: rank r of N takes a contiguous block of the symbol list,
computes its outputs and signals and simulates its rows; then every rank
gathers the blocks' trades, closes and flags (``mx.distributed.all_gather``)
and scores the whole run, which equals the one-process run (the blocks'
concatenation is the one-process order; rows are simulated independently).
Started by ``mlx.launch --backend ring`` (a hostfile for several machines,
docs/backtest.md); ``avwap backtest --distributed`` saves the run from rank 0.

The ring moves bytes: every array travels as ``uint32`` words, so float64
money and int64 indices arrive bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.backtest.sim import Trades
from storage.types import Panel

Group = Any  # mx.distributed.Group (MLX's type has no stub to name here)


def shard(symbols: Sequence[str], rank: int, size: int) -> list[str]:
    """Rank ``rank``'s contiguous block of ``symbols`` (the first blocks one longer)."""
    n = len(symbols)
    per, extra = divmod(n, size)
    lo = rank * per + min(rank, extra)
    return list(symbols[lo:lo + per + (1 if rank < extra else 0)])


def gather_rows(group: Group, arr: np.ndarray) -> np.ndarray:
    """Every rank's ``arr`` (``[n_r, ...]``, ``n_r`` may differ) concatenated in rank order."""
    import mlx.core as mx

    a = np.ascontiguousarray(arr)
    tail, n = a.shape[1:], a.shape[0]
    with mx.stream(mx.cpu):
        counts = np.array(mx.distributed.all_gather(mx.array([n], dtype=mx.int32),
                                                    group=group)).astype(np.int64)
        most = int(counts.max(initial=0))
        row_bytes = a.dtype.itemsize * math.prod(tail)
        if most == 0 or row_bytes == 0:
            return np.empty((0, *tail), dtype=a.dtype)
        words = -(-row_bytes // 4)
        buf = np.zeros((most, words * 4), dtype=np.uint8)
        buf[:n, :row_bytes] = a.reshape(n, -1).view(np.uint8).reshape(n, row_bytes)
        got = np.array(mx.distributed.all_gather(mx.array(buf.view(np.uint32)), group=group))
    parts = [got[r * most:r * most + int(c)] for r, c in enumerate(counts)]
    raw = np.ascontiguousarray(np.concatenate(parts).view(np.uint8)[:, :row_bytes])
    return raw.view(a.dtype).reshape(-1, *tail)


def gather_trades(group: Group, trades: Trades, s_local: int, offset: int, s_all: int,
                  combos: int) -> Trades:
    """All ranks' trades with global rows (``combo * S + symbol``), sorted as one run's."""
    names = tuple(Trades.__dataclass_fields__)
    local = trades.row - 0
    if s_local:
        combo, sym = local // s_local, local % s_local
        row = combo * s_all + offset + sym
    else:
        row = local
    cols = [row.astype(np.float64) if f == "row" else getattr(trades, f).astype(np.float64)
            for f in names]
    table = gather_rows(group, np.stack(cols, axis=1) if len(trades) else
                        np.zeros((0, len(names))))
    order = np.lexsort((table[:, names.index("entry_idx")], table[:, names.index("row")]))
    table = table[order]
    ints = {"row", "entry_idx", "exit_idx", "reason"}
    return Trades(**{f: table[:, i].astype(np.int64) if f in ints else table[:, i].copy()
                     for i, f in enumerate(names)})


def gather_panel(group: Group, panel: Panel, symbols: tuple[str, ...]) -> Panel:
    """The statistics' view of every rank's block: closes, valid, volume of all symbols
    (the statistics read no open, high or low: those hold the close here)."""
    close = gather_rows(group, panel.close)
    valid = gather_rows(group, panel.valid)
    volume = gather_rows(group, panel.volume)
    return Panel(symbols=symbols, ts=panel.ts, open=close, high=close, low=close, close=close,
                 volume=volume, valid=valid, segments=panel.segments,
                 minute_of_session=panel.minute_of_session,
                 session_minutes=panel.session_minutes, hours=panel.hours)


def gather_sum(group: Group, value: int) -> int:
    """The sum of an integer over the ranks."""
    return int(gather_rows(group, np.array([value], dtype=np.int64)).sum())
