"""Turning per-symbol bar streams into one BarBatch per closed minute.

IB streams each symbol separately and resends the forming bar as it changes;
a symbol's minute closes when its stream moves on to a later minute. A minute
is complete for the engine when every live symbol has moved past it, or when
any symbol is already two minutes further (a quiet symbol must not hold the
screen back); the feed also closes it after a grace period. Minutes are
emitted strictly in order and never twice, so a revision of the forming bar
replaces it and a resent closed bar never duplicates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from storage import calendar
from storage.types import BarBatch

Ohlcv = tuple[float, float, float, float, float]


class MinuteAssembler:
    """Per-symbol forming bars plus the closed minutes not yet emitted."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols: tuple[str, ...] = ()
        self._index: dict[str, int] = {}
        self.live: set[str] = set()
        self.forming: dict[str, tuple[int, Ohlcv]] = {}  # symbol -> (minute, bar)
        self.pending: dict[int, dict[str, Ohlcv]] = {}  # minute -> symbol -> bar
        self.emitted_upto: int | None = None  # last minute emitted (epoch minutes)
        self.hold = False  # a backfill round is running: do not emit
        self._top: int | None = None  # the latest forming minute of any stream
        self._blocker: str | None = None  # a live symbol last seen not past a pending minute
        self.set_symbols(symbols)

    def set_symbols(self, symbols: Sequence[str]) -> None:
        self.symbols = tuple(symbols)
        self._index = {s: i for i, s in enumerate(self.symbols)}
        keep = set(self.symbols)
        self.live &= keep
        self.forming = {s: v for s, v in self.forming.items() if s in keep}
        self._retop()
        for m in list(self.pending):
            self.pending[m] = {s: b for s, b in self.pending[m].items() if s in keep}

    # ---------------------------------------------------------------- input
    def stream(self, symbol: str, forming: tuple[int, Ohlcv] | None) -> None:
        """``symbol`` streams from now on, its forming bar (if any) known."""
        self.live.add(symbol)
        if forming is not None:
            self.forming[symbol] = forming
            self._top = forming[0] if self._top is None else max(self._top, forming[0])

    def forget(self, symbol: str | None = None) -> None:
        """``symbol`` (every symbol when None) no longer streams."""
        if symbol is None:
            self.live.clear()
            self.forming.clear()
        else:
            self.live.discard(symbol)
            self.forming.pop(symbol, None)
        self._retop()

    def _retop(self) -> None:
        self._top = max((v[0] for v in self.forming.values()), default=None)

    def add_closed(self, symbol: str, minute: int, bar: Ohlcv) -> bool:
        """A closed bar (backfill or stream); False when its minute was already emitted."""
        if self.emitted_upto is not None and minute <= self.emitted_upto:
            return False
        if symbol in self._index:
            self.pending.setdefault(minute, {})[symbol] = bar
        return True

    def update(self, symbol: str, minute: int, bar: Ohlcv) -> tuple[int, Ohlcv] | None:
        """A streamed bar; returns the symbol's bar that this update closed, if any."""
        prev = self.forming.get(symbol)
        if prev is not None and minute < prev[0]:
            return None  # an out-of-order resend of a closed minute: ignore
        self.forming[symbol] = (minute, bar)
        if self._top is None or minute > self._top:
            self._top = minute
        if prev is not None and minute > prev[0]:
            self.add_closed(symbol, prev[0], prev[1])
            return prev
        return None

    # --------------------------------------------------------------- output
    def complete(self, force_through: int | None = None) -> list[int]:
        """Minutes ready to emit, in order (``force_through``: close those regardless).

        Called at every closed bar, so it is cheap: the latest forming minute is
        kept as bars arrive, and "every live symbol is past ``m``" stops at the
        first symbol that is not, trying the one that held it back last time first
        (a minute's closes arrive one symbol at a time).
        """
        if self.hold or not self.pending:
            return []
        out = []
        for m in sorted(self.pending):
            if self.emitted_upto is not None and m <= self.emitted_upto:
                del self.pending[m]
                continue
            done = (
                (force_through is not None and m <= force_through)
                or not self.live
                or (self._top is not None and self._top > m + 1)
                or self._all_past(m)
            )
            if not done:
                break
            out.append(m)
        return out

    def _all_past(self, minute: int) -> bool:
        """Every live symbol streams and its forming bar is later than ``minute``."""
        b = self._blocker
        if b is not None and b in self.live:
            f = self.forming.get(b)
            if f is None or f[0] <= minute:
                return False
        for s in self.live:
            f = self.forming.get(s)
            if f is None or f[0] <= minute:
                self._blocker = s
                return False
        return True

    def pop_batch(self, minute: int) -> BarBatch:
        """The BarBatch of ``minute`` (which is then emitted and forgotten)."""
        bars = self.pending.pop(minute, {})
        self.emitted_upto = minute
        return self._batch(minute, bars.items(), final=True)

    def forming_batch(self) -> BarBatch | None:
        """The still-forming minute (``final=False``), when it follows what was emitted."""
        if self.hold or not self.forming:
            return None
        m = max(v[0] for v in self.forming.values())
        if (self.emitted_upto is not None and m <= self.emitted_upto) or any(
            k < m for k in self.pending
        ):
            return None
        items = [(s, b) for s, (t, b) in self.forming.items() if t == m]
        return self._batch(m, items, final=False)

    def _batch(self, minute: int, items: Iterable[tuple[str, Ohlcv]], final: bool) -> BarBatch:
        s = len(self.symbols)
        ohlcv = np.full((5, s), np.nan)
        ohlcv[4] = 0.0
        valid = np.zeros(s, dtype=bool)
        for sym, bar in items:
            i = self._index.get(sym)
            if i is not None:
                ohlcv[:, i] = bar
                valid[i] = True
        ts = np.datetime64(minute, "m")
        grid = calendar.describe_minutes(np.array([ts]))
        return BarBatch(
            symbols=self.symbols,
            ts=ts,
            open=ohlcv[0], high=ohlcv[1], low=ohlcv[2], close=ohlcv[3], volume=ohlcv[4],
            valid=valid,
            segments={k: int(v[0]) for k, v in grid.segments.items()},
            minute_of_session=int(grid.minute_of_session[0]),
            session_minutes=int(grid.session_minutes[0]),
            final=final,
        )
