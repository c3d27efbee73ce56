"""``LiveSelector``: the active model's picks for every symbol, minute by minute.

The console's Indicators pane asks "which indicators matter now for this
symbol?". Recomputing ``lookback`` minutes of features per question would cost
a batch computation each time; instead each engine ``Snapshot`` (the values of
every registry output for all symbols at one minute) is made scale-free once
and written into a ring buffer ``[S, lookback, F]``, and a pick is one model
call on the ring's current window.

The ring is stored twice over (``[S, 2·lookback, F]``, every row written at
``i`` and ``i + lookback``), so the window ending at any minute is a contiguous
slice, never a gather. A revised (still-forming) minute overwrites its row
instead of pushing a new one. Features scaled over the lookback (``Scale.DIFF``,
``Scale.RMS``) keep the last ``lookback + 1`` raw values beside the ring and go
through the same ``models.features.scale_free`` as training, so the console
and the data set cannot disagree about a feature.

How the console uses it (see docs/model.md)::

    live = LiveSelector.from_active(symbols, snapshot.names)   # None: no active model
    live.prime(history_panel)        # optional: fill the ring from history at start
    live.update(snapshot)            # every Snapshot, forming or final
    pick = live.select([symbol])[symbol]   # Pick(names, weights, directions)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.meta import OutputMeta, Scale
from engine.registry import REGISTRY, reading
from engine.snapshot import Snapshot
from models.errors import ModelError
from models.features import RowScaler
from models.selector import Selector
from storage.types import Panel

_ROLLING = (Scale.DIFF, Scale.RMS)  # scaled over the lookback: kept raw too


@dataclass(frozen=True)
class Pick:
    """One symbol's top-k: output names, weights (0..1) and readings (+1 long, -1 short, 0)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    directions: tuple[int, ...]
    ready: bool  # enough minutes seen for every feature of the window (``needed``)

    def triples(self) -> tuple[tuple[str, float, int], ...]:
        """``(name, weight, direction)`` best first (``tui.views.IndicatorValues.picks``)."""
        return tuple(zip(self.names, self.weights, self.directions, strict=True))


class LiveSelector:
    """A ring of scale-free features for ``symbols`` and the selector that reads it."""

    def __init__(self, selector: Selector, symbols: Sequence[str],
                 snapshot_names: Sequence[str]) -> None:
        self.selector = selector
        self.symbols = tuple(symbols)
        self._row = {s: i for i, s in enumerate(self.symbols)}
        feats = selector.features
        absent = [n for n in feats if n not in snapshot_names]
        if absent:
            raise ModelError(f"the engine does not compute {len(absent)} of the model's "
                             f"features: {', '.join(absent[:10])}")
        col = {n: i for i, n in enumerate(snapshot_names)}
        self._idx = np.array([col[n] for n in feats], dtype=np.int64)
        self._metas: list[OutputMeta] = [REGISTRY.meta(n) for n in feats]
        self._roll = np.array([m.scale in _ROLLING for m in self._metas])
        self._out_idx = np.array([col[n] for n in selector.outputs], dtype=np.int64)
        self._scaler = RowScaler(feats, self._metas, selector.lookback)
        s, lb, f = len(self.symbols), selector.lookback, len(feats)
        self.lookback = lb
        self._ring = np.full((s, 2 * lb, f), np.nan, dtype=np.float32)
        self._raw = np.full((s, lb + 1, int(self._roll.sum())), np.nan)
        self._pos = -1  # row of the newest minute
        self._count = 0
        self._last_ts: np.datetime64 | None = None
        self._values = np.full((s, len(selector.outputs)), np.nan, dtype=np.float32)
        self._close = np.full(s, np.nan)
        self._regime = np.full(s, -1, dtype=np.int32)

    @classmethod
    def from_active(cls, symbols: Sequence[str], snapshot_names: Sequence[str],
                    root: Path | None = None) -> LiveSelector | None:
        """The active model's live selector, or None when no model is active."""
        from models.registry import active_path, models_dir

        path = active_path(models_dir(root))
        if path is None:
            return None
        return cls(Selector.load(path), symbols, snapshot_names)

    @property
    def minutes(self) -> int:
        """Minutes written so far."""
        return self._count

    @property
    def needed(self) -> int:
        """Minutes before every feature of the window is defined: ``lookback``, plus
        another ``lookback`` when a feature is scaled over the lookback (DIFF, RMS)."""
        return self.lookback * (2 if self._roll.any() else 1)

    def update(self, snap: Snapshot) -> None:
        """Write one minute (a revision of the newest minute replaces it)."""
        if snap.symbols != self.symbols:
            raise ValueError("Snapshot symbols differ from the live selector's symbols")
        revise = self._last_ts is not None and snap.ts == self._last_ts
        if not revise:
            self._pos = (self._pos + 1) % self.lookback
            self._count += 1
            self._raw[:, :-1] = self._raw[:, 1:]
        raw = snap.values[:, self._idx]
        self._raw[:, -1] = raw[:, self._roll]
        row = self._scale(raw, snap.last)
        self._ring[:, self._pos] = row
        self._ring[:, self._pos + self.lookback] = row
        self._values = snap.values[:, self._out_idx]
        self._close = snap.last.astype(np.float64)
        self._regime = snap.regime.astype(np.int32)
        self._last_ts = snap.ts

    def _scale(self, raw: np.ndarray, close: np.ndarray) -> np.ndarray:
        """``[S, F]`` scale-free row for the newest minute (rolling columns from the raw ring)."""
        return self._scaler(raw, close, self._raw)

    def window(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Scale-free windows ``[S or len(rows), lookback, F]``, oldest minute first."""
        start = self._pos + 1
        w = self._ring[:, start: start + self.lookback]
        return w if rows is None else w[rows]

    def select(self, symbols: Sequence[str] | None = None,
               k: int | None = None) -> dict[str, Pick]:
        """Top-k per symbol (all symbols when None): one batched model call."""
        syms = list(self.symbols) if symbols is None else list(symbols)
        rows = np.array([self._row[s] for s in syms], dtype=np.int64)
        k = k or self.selector.top_k
        if self._count == 0:
            return {s: Pick((), (), (), False) for s in syms}
        w, names = self.selector.select_indicators(self.window(rows), self._regime[rows])
        from models.evaluate import top_k

        idx = top_k(w, k)
        out: dict[str, Pick] = {}
        for i, s in enumerate(syms):
            r = rows[i]
            picked = [names[j] for j in idx[i]]
            dirs = tuple(int(reading(n, self._values[r, j], self._close[r]))
                         for n, j in zip(picked, idx[i], strict=True))
            out[s] = Pick(tuple(picked), tuple(float(w[i, j]) for j in idx[i]), dirs,
                          self._count >= self.needed)
        return out

    def prime(self, panel: Panel, batch: int = 50) -> None:
        """Fill the ring from the last minutes of a history panel (batch registry values).

        The registry is computed over the whole panel (some outputs, e.g. the
        week and month AVWAP, depend on all of it), ``batch`` symbols at a time
        to bound memory, and its last ``needed`` minutes are written as
        ``update`` would have written them. Run it off the UI thread.
        """
        from engine.compute import compute
        from models.features import ffill

        part = panel.select(list(self.symbols))
        t = len(part.ts)
        first = max(0, t - self.needed)
        s, f = len(self.symbols), len(self.selector.features)
        vals = np.empty((s, t - first, f), dtype=np.float32)
        for b in range(0, s, batch):
            sub = part.select(list(self.symbols[b: b + batch]))
            vals[b: b + batch] = np.array(compute(sub, self.selector.features).values)[:, first:]
        close = ffill(part.close.astype(np.float64))[:, first:]
        feats = self.selector.features
        reg_col = feats.index("regime") if "regime" in feats else None
        for i in range(t - first):
            reg = (np.nan_to_num(vals[:, i, reg_col], nan=-1.0).astype(np.int8)
                   if reg_col is not None else np.full(s, -1, np.int8))
            snap = Snapshot(ts=part.ts[first + i], symbols=self.symbols, names=feats,
                            values=vals[:, i], last=close[:, i],
                            volume=part.volume[:, first + i], valid=part.valid[:, first + i],
                            regime=reg)
            self._remap_once(snap)

    def _remap_once(self, snap: Snapshot) -> None:
        """``update`` for a Snapshot whose names are the model's own features."""
        idx, out_idx = self._idx, self._out_idx
        col = {n: i for i, n in enumerate(snap.names)}
        self._idx = np.array([col[n] for n in self.selector.features], dtype=np.int64)
        self._out_idx = np.array([col[n] for n in self.selector.outputs], dtype=np.int64)
        try:
            self.update(snap)
        finally:
            self._idx, self._out_idx = idx, out_idx
