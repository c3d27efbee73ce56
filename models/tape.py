"""``FeatureTape``: the last minutes of every registry output, kept for a model made active.

Why: a selector model reads a window of ``lookback`` minutes of registry rows
per symbol. Priming that window by recomputing the registry's batch over each
symbol's whole history cost about two seconds per MLX call on a 2-core machine
(most of it fixed per call), so making a model active with the ``all`` list
loaded took tens of seconds of priming. The console's engine already produces
those rows, one Snapshot a minute (and the warm-up steps its last minutes of
history for them: ``tui.runtime.warmup``), so the tape keeps them, and a model
made active later is primed from the tape: its own scaling and forward pass,
no registry work (``models.live.LiveSelector.prime_kept``).

What it holds, compactly: ``[length, S, N]`` float32 values (the Snapshot's own
dtype: nothing is rounded) and the carried close ``[length, S]`` (what
``LiveSelector.update`` scales prices by), in a ring, minute ``m`` at slot
``m % length``. For 650 symbols × 152 outputs × 120 minutes that is 45 MB (MiB).

The tape follows the clock as the console does: a revision of the newest
minute (a forming IB bar) replaces its row, a minute older than the newest
(a replay gone back to a session's start) drops the minutes at and after it,
and symbols joining the universe start with nothing kept. ``cover(symbols)``
says how many of the newest minutes each symbol has.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.snapshot import Snapshot
from models.dataset import DataSpec
from storage.types import as_dt64

#: Minutes kept by default: a model's default lookback (``DataSpec.lookback``).
MINUTES: int = DataSpec.lookback


class FeatureTape:
    """The newest ``length`` minutes of every Snapshot row (see the module docstring)."""

    def __init__(self, length: int = MINUTES) -> None:
        self.length = length
        self.clear()

    def clear(self) -> None:
        """Forget every minute and symbol (a new universe)."""
        self.symbols: tuple[str, ...] = ()
        self.names: tuple[str, ...] = ()
        self._row: dict[str, int] = {}
        self._vals = np.zeros((self.length, 0, 0), np.float32)
        self._close = np.zeros((self.length, 0), np.float32)
        self._ts = np.full(self.length, np.datetime64("NaT"), "datetime64[m]")
        self._count = 0  # minutes written; the newest is minute _count - 1
        self._cover = np.zeros(0, np.int64)  # per symbol: newest minutes kept

    @property
    def nbytes(self) -> int:
        """Bytes held (the benchmark's memory by part)."""
        return int(self._vals.nbytes + self._close.nbytes + self._ts.nbytes)

    @property
    def last_ts(self) -> np.datetime64 | None:
        """The newest minute kept (None: none)."""
        return self._ts[(self._count - 1) % self.length] if self._count else None

    def push(self, snap: Snapshot) -> None:
        """Keep one minute (a revision of the newest replaces it)."""
        if snap.names != self.names or snap.symbols[: len(self.symbols)] != self.symbols:
            self.clear()
            self.names = snap.names
        if len(snap.symbols) > len(self.symbols):
            self._grow(snap.symbols)
        ts = as_dt64(snap.ts)
        if self._count and ts < self._ts[(self._count - 1) % self.length]:
            self._truncate(ts)
        if self._count and ts == self._ts[(self._count - 1) % self.length]:
            slot = (self._count - 1) % self.length
        else:
            slot = self._count % self.length
            self._count += 1
            np.minimum(self._cover + 1, self.length, out=self._cover)
        self._vals[slot] = snap.values
        self._close[slot] = snap.last
        self._ts[slot] = ts

    def _grow(self, symbols: tuple[str, ...]) -> None:
        """New symbols (a group joined the universe): nothing kept for them yet."""
        s, n = len(symbols), len(self.names)
        vals = np.full((self.length, s, n), np.nan, np.float32)
        close = np.full((self.length, s), np.nan, np.float32)
        old = len(self.symbols)
        if old:
            vals[:, :old], close[:, :old] = self._vals, self._close
        self._vals, self._close = vals, close
        self._cover = np.concatenate([self._cover, np.zeros(s - old, np.int64)])
        self.symbols = symbols
        self._row = {sym: i for i, sym in enumerate(symbols)}

    def adopt(self, other: FeatureTape) -> None:
        """Take in ``other``'s symbols with the newest minutes both tapes kept (a group
        that warmed beside the universe and caught up with its clock, joining it)."""
        new = [s for s in other.symbols if s not in self._row]
        if not new or not self.names or other.names != self.names:
            return
        self._grow((*self.symbols, *new))
        n = min(self._count, other._count, self.length)
        mine, theirs = self._minutes(n), other._minutes(n)
        same = self._ts[mine] == other._ts[theirs]
        k = n - (int(np.flatnonzero(~same)[-1]) + 1 if (~same).any() else 0)  # newest alike
        if not k:
            return
        rows = np.array([self._row[s] for s in new], np.int64)
        src = np.array([other._row[s] for s in new], np.int64)
        self._vals[np.ix_(mine[n - k:], rows)] = other._vals[np.ix_(theirs[n - k:], src)]
        self._close[np.ix_(mine[n - k:], rows)] = other._close[np.ix_(theirs[n - k:], src)]
        self._cover[rows] = np.minimum(other._cover[src], k)

    def _truncate(self, ts: np.datetime64) -> None:
        """Drop the minutes at and after ``ts`` (the clock went back)."""
        kept = min(self._count, self.length)
        newest = self._ts[self._minutes(kept)]
        drop = int(np.count_nonzero(newest >= ts))
        self._count -= drop
        self._cover = np.maximum(self._cover - drop, 0)

    def _minutes(self, n: int) -> np.ndarray:
        """Slots of the newest ``n`` minutes, oldest first."""
        return np.arange(self._count - n, self._count) % self.length

    def cover(self, symbols: Sequence[str]) -> np.ndarray:
        """Per symbol, how many of the newest minutes are kept (0: unknown symbol)."""
        return np.array([self._cover[self._row[s]] if s in self._row else 0
                         for s in symbols], np.int64)

    def window(self, symbols: Sequence[str], cols: np.ndarray, m: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The newest ``m`` minutes of ``symbols``: values ``[s, m, len(cols)]`` of the
        Snapshot columns ``cols``, the carried close ``[s, m]`` and the minutes ``[m]``,
        oldest first. Every symbol must cover ``m`` (``ValueError`` otherwise)."""
        if m > self.length or (self.cover(symbols) < m).any():
            raise ValueError(f"the tape does not keep {m} minutes of every symbol asked")
        rows = np.array([self._row[s] for s in symbols], np.int64)
        slots = self._minutes(m)
        vals = self._vals[slots[:, None, None], rows[None, :, None], cols[None, None, :]]
        close = self._close[slots[:, None], rows[None, :]]
        return vals.transpose(1, 0, 2), close.T, self._ts[slots]
