"""Scans on a live minute: every scan, every symbol, one call.

``LiveScans(texts, known)`` parses and types the scans once (``Program``);
``step(ts, names, values, valid)`` takes the minute's registry outputs for all
symbols (``Snapshot.values[S, F]`` and its ``names``, never recomputed) and
returns ``[N, S]`` matches. It keeps each symbol's last ``K - 1`` bars of the
names the scans read (K = 1 + the deepest ``prev``/cross), so a cross compares
with the symbol's previous *bar*, as the backtester does; a symbol without a bar
this minute matches nothing (the backtester decides at bars only). The same
``ts`` again (a revised minute) replaces it; an earlier ``ts`` (a replay jump
back) starts the window afresh, so the first minute after a jump has no crosses.

The window is ``[K, F', S]`` and the program runs unrolled over its bars
(``LivePlan``): each part only at the bars it is needed, on contiguous ``[S]``
rows (a ``[S, K]`` window with K = 2 made NumPy iterate two-element inner
loops, four times slower), ``prev`` a free read one bar back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from engine.expr.grammar import Node, check_names, parse, prev_depth
from engine.expr.program import LivePlan, Program


class LiveScans:
    """Many scans compiled together and stepped minute by minute over ``[S]`` symbols."""

    def __init__(self, scans: Sequence[str | Node], known: Iterable[str] | None = None) -> None:
        trees = [parse(s) if isinstance(s, str) else s for s in scans]
        if known is not None:
            known_l = list(known)
            for t in trees:
                check_names(t, known_l)
        self.program = Program(trees, conditions=True)
        self.window = 1 + max((prev_depth(t) for t in trees), default=0)
        self.plan = LivePlan(self.program, self.window)
        #: The names read, in the window's column order (those read a bar back first).
        self.names = self.plan.order
        self._win: np.ndarray | None = None  # [K, F', S]: each symbol's last K bars, now last
        self._was: np.ndarray | None = None  # [S]: which symbols have a bar in the last row
        self._ts: np.datetime64 | None = None
        self._cols: np.ndarray | None = None
        self._of: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._extra: list[tuple[int, str]] = []

    def _columns(self, names: Sequence[str], extra: Mapping[str, np.ndarray]) -> np.ndarray:
        key = (tuple(names), tuple(extra))
        if key != self._of or self._cols is None:
            pos = {n: i for i, n in enumerate(names)}
            missing = [n for n in self.names if n not in pos and n not in extra]
            if missing:
                raise KeyError(f"the minute's values lack {', '.join(missing)}")
            # A name the extras give is read from them (the matrix column is a placeholder).
            self._cols = np.array([pos.get(n, 0) if n not in extra else 0 for n in self.names],
                                  dtype=np.intp)
            self._extra = [(j, n) for j, n in enumerate(self.names) if n in extra]
            self._of = key
        return self._cols

    def reset(self) -> None:
        """Forget the bars seen (a jump, a new universe)."""
        self._win, self._was, self._ts = None, None, None

    def step(self, ts: np.datetime64, names: Sequence[str], values: np.ndarray,
             valid: np.ndarray, extra: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """``[N, S]`` bool: which symbols each scan matches at minute ``ts``.

        ``extra`` gives ``[S]`` values of names the matrix lacks (the console's
        snapshot carries the bar's close and volume beside the registry's outputs).
        """
        extra = extra or {}
        cols = self._columns(names, extra)
        s, k = values.shape[0], self.window
        win = self._win
        if win is None or win.shape[2] != s or win.dtype != values.dtype \
                or self._ts is None or ts < self._ts:
            win = self._win = np.full((k, len(cols), s), np.nan, dtype=values.dtype)
        elif ts > self._ts and self._was is not None:  # the last minute is final: it joins
            lag = self.plan.lagged  # only the names read a bar back need their past
            for j in range(k - 1):
                np.copyto(win[j, :lag], win[j + 1, :lag], where=self._was)
        win[-1] = values[:, cols].T  # (np.take into win[-1] over values.T: 15x slower)
        for j, n in self._extra:
            win[-1, j] = extra[n]
        self._ts = ts
        was = self._was = np.asarray(valid, dtype=bool)
        return self.plan.run(win, was)
