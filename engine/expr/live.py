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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engine.expr.grammar import Node, check_names, parse, prev_depth
from engine.expr.program import Program


class LiveScans:
    """Many scans compiled together and stepped minute by minute over ``[S]`` symbols."""

    def __init__(self, scans: Sequence[str | Node], known: Iterable[str] | None = None) -> None:
        trees = [parse(s) if isinstance(s, str) else s for s in scans]
        if known is not None:
            known_l = list(known)
            for t in trees:
                check_names(t, known_l)
        self.program = Program(trees, conditions=True)
        self.names = self.program.names
        self.window = 1 + max((prev_depth(t) for t in trees), default=0)
        self._base: np.ndarray | None = None  # [S, F', K-1]: the committed bars
        self._now: tuple[np.ndarray, np.ndarray] | None = None  # this minute's (values, valid)
        self._ts: np.datetime64 | None = None
        self._cols: np.ndarray | None = None
        self._of: tuple[str, ...] = ()

    def _columns(self, names: Sequence[str]) -> np.ndarray:
        if tuple(names) != self._of or self._cols is None:
            pos = {n: i for i, n in enumerate(names)}
            missing = [n for n in self.names if n not in pos]
            if missing:
                raise KeyError(f"the minute's values lack {', '.join(missing)}")
            self._cols = np.array([pos[n] for n in self.names], dtype=np.intp)
            self._of = tuple(names)
        return self._cols

    def reset(self) -> None:
        """Forget the bars seen (a jump, a new universe)."""
        self._base, self._now, self._ts = None, None, None

    def step(self, ts: np.datetime64, names: Sequence[str], values: np.ndarray,
             valid: np.ndarray) -> np.ndarray:
        """``[N, S]`` bool: which symbols each scan matches at minute ``ts``."""
        cur = values[:, self._columns(names)]
        s, f = cur.shape
        k = self.window
        if self._base is None or self._base.shape[:2] != (s, f) or self._ts is None \
                or ts < self._ts:
            self._base = np.full((s, f, k - 1), np.nan, dtype=cur.dtype)
        elif ts > self._ts and self._now is not None and k > 1:
            last, ok = self._now  # the previous minute is final: it joins the window
            rolled = np.concatenate([self._base[:, :, 1:], last[:, :, None]], axis=2)
            self._base = np.where(ok[:, None, None], rolled, self._base)
        self._ts, self._now = ts, (cur, np.asarray(valid, dtype=bool))
        win = np.concatenate([self._base, cur[:, :, None]], axis=2)
        out = self.program.run({n: win[:, j, :] for j, n in enumerate(self.names)})
        hits = np.empty((len(out), s), dtype=bool)
        for i, o in enumerate(out):
            hits[i] = np.broadcast_to(o, (s, k))[:, -1]
        hits &= self._now[1][None, :]
        return hits
