"""``LiveSelector``: the active model's picks for every symbol, minute by minute.

The console's Indicators pane asks "which indicators matter now for this
symbol?". Recomputing ``lookback`` minutes of features per question would cost
a batch computation each time; instead each engine ``Snapshot`` (the values of
every registry output for all symbols at one minute) is made scale-free once
and written into a ring buffer ``[S, lookback, F]``, and a pick is one model
call on the ring's current window.

A pick for all 650 symbols of the ``all`` list is one model call that never
reads a whole window: the model sees a window as its patch means plus its last
minute (``SelectorModel.tokens_of``), and the ring keeps those patch sums of
standardized rows up to date as minutes arrive (each minute moves one row
across each patch boundary: ``2·tokens`` rows added or taken away, in float64).
So a minute costs ``O(S·tokens·F)``, not ``O(S·lookback·F)``, and ``select`` for
every symbol is ``[S, tokens + 1, F]`` into the compiled network.

The ring ``[S, lookback, F]`` holds minute ``m`` at slot ``m % lookback``, as the
scale-free row (``window``) and as the standardized row the model reads. A
revised (still-forming) minute overwrites its row instead of pushing a new one.
Features scaled over the lookback (``Scale.DIFF``, ``Scale.RMS``) keep the last
``lookback + 1`` raw values beside the ring and go through the same formulas as
training (``models.features``), so the console and the data set cannot disagree
about a feature.

Priming is per symbol: ``prime_rows`` writes some symbols' last minutes from
batch values while the others keep stepping, so the console primes the
highlighted symbol first and the rest in chunks between live minutes; each
symbol's pick says whether its window is complete (``Pick.ready``). Where the
rows come from: ``prime`` recomputes the registry over the symbols' history
(seconds per call); ``prime_kept`` reads the rows the console already stepped
(``models.tape.FeatureTape``), computing only the lookback-scaled features.

How the console uses it (see docs/model.md)::

    live = LiveSelector.from_active(symbols, snapshot.names)   # None: no active model
    live.prime(history_panel)        # optional: fill the ring from history at start
    live.prime(history_panel, ["AAPL"])   # or some symbols at a time (the focus first)
    live.prime_kept(tape, ["AAPL"], history_panel)   # or from kept rows (the console)
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
from models.dataset import standardize
from models.errors import ModelError
from models.evaluate import top_k
from models.features import RowScaler, scale_free
from models.selector import Selector
from models.tape import FeatureTape
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
        self._snapshot_names = tuple(snapshot_names)
        self._idx = np.array([col[n] for n in feats], dtype=np.int64)
        self._metas: list[OutputMeta] = [REGISTRY.meta(n) for n in feats]
        self._roll = np.array([m.scale in _ROLLING for m in self._metas])
        self._out_idx = np.array([col[n] for n in selector.outputs], dtype=np.int64)
        self._out_in_feats = np.array([feats.index(n) for n in selector.outputs], dtype=np.int64)
        self._regime_col = feats.index("regime") if "regime" in feats else None
        self._outputs = np.array(selector.outputs, dtype=object)
        self._scaler = RowScaler(feats, self._metas, selector.lookback)
        args = selector.model.args
        self._patch, self._tokens = args.patch, args.tokens
        s, lb, f = len(self.symbols), selector.lookback, len(feats)
        if self._tokens * self._patch > lb:
            raise ModelError(f"model {selector.name}: {self._tokens} patches of "
                             f"{self._patch} minutes exceed its lookback {lb}")
        self.lookback = lb
        # minute-major, so a minute's row and a patch's boundary rows are contiguous blocks
        self._ring = np.full((lb, s, f), np.nan, dtype=np.float32)  # minute m at slot m % lb
        self._std = np.zeros((lb, s, f), dtype=np.float32)  # the same, standardized
        self._sums = np.zeros((self._tokens, s, f))  # patch sums of _std over the window
        self._raw = np.full((s, lb + 1, int(self._roll.sum())), np.nan)
        self._count = 0  # minutes written; the newest is minute _count - 1
        self._seen = np.zeros(s, dtype=np.int64)  # per symbol: minutes of its own history
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
    def last_ts(self) -> np.datetime64 | None:
        """The newest minute written (None before the first)."""
        return self._last_ts

    @property
    def needed(self) -> int:
        """Minutes before every feature of the window is defined: ``lookback``, plus
        another ``lookback`` when a feature is scaled over the lookback (DIFF, RMS)."""
        return self.lookback * (2 if self._roll.any() else 1)

    def seen(self, symbol: str) -> int:
        """Minutes of ``symbol``'s own history in its window (primed or stepped)."""
        return int(self._seen[self._row[symbol]])

    def update(self, snap: Snapshot) -> None:
        """Write one minute (a revision of the newest minute replaces it)."""
        if snap.symbols != self.symbols:
            raise ValueError("Snapshot symbols differ from the live selector's symbols")
        revise = self._last_ts is not None and snap.ts == self._last_ts
        lb, p = self.lookback, self._patch
        raw = snap.values[:, self._idx]
        if not revise:
            self._raw[:, :-1] = self._raw[:, 1:]
        self._raw[:, -1] = raw[:, self._roll]
        row = self._scaler(raw, snap.last, self._raw)
        std = standardize(row.copy(), self.selector.mean, self.selector.std)
        if revise:
            slot = (self._count - 1) % lb
            self._sums[-1] += std - self._std[slot]
        else:
            c = self._count  # the new minute; each patch loses its oldest, gains one
            leave = (c - self._tokens * p + p * np.arange(self._tokens)) % lb
            self._sums -= self._std[leave]
            slot = c % lb
            self._std[slot] = std  # (leave[0] may be this slot: read before written)
            self._sums += self._std[(leave + p) % lb]
            self._count += 1
            self._seen += 1
        self._ring[slot] = row
        self._std[slot] = std
        self._values = snap.values[:, self._out_idx]
        self._close = snap.last.astype(np.float64)
        self._regime = snap.regime.astype(np.int32)
        self._last_ts = snap.ts

    def _minutes(self, n: int) -> np.ndarray:
        """Slots of the last ``n`` minutes, oldest first (unwritten ones read NaN / 0)."""
        return np.arange(self._count - n, self._count) % self.lookback

    def window(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Scale-free windows ``[S or len(rows), lookback, F]``, oldest minute first."""
        w = self._ring[self._minutes(self.lookback)]
        return (w if rows is None else w[:, rows]).transpose(1, 0, 2)

    def tokens(self, rows: np.ndarray) -> np.ndarray:
        """The model's input tokens ``[len(rows), tokens + 1, F]`` (standardized)."""
        body = (self._sums[:, rows] / self._patch).astype(np.float32).transpose(1, 0, 2)
        last = self._std[(self._count - 1) % self.lookback, rows]
        return np.concatenate([body, last[:, None]], axis=1)

    def select(self, symbols: Sequence[str] | None = None,
               k: int | None = None) -> dict[str, Pick]:
        """Top-k per symbol (all symbols when None): one batched model call."""
        syms = list(self.symbols) if symbols is None else list(symbols)
        rows = np.array([self._row[s] for s in syms], dtype=np.int64)
        k = k or self.selector.top_k
        if self._count == 0 or not len(rows):
            return {s: Pick((), (), (), False) for s in syms}
        w = self.selector.select_tokens(self.tokens(rows), self._regime[rows])
        idx = top_k(w, k)
        dirs = self._directions(rows, idx)
        names = self._outputs[idx].tolist()
        weights = np.take_along_axis(w, idx, axis=1).tolist()
        ready = (self._seen[rows] >= self.needed).tolist()
        return {s: Pick(tuple(names[i]), tuple(weights[i]), tuple(dirs[i]), ready[i])
                for i, s in enumerate(syms)}

    def _directions(self, rows: np.ndarray, idx: np.ndarray) -> list[list[int]]:
        """Each pick's reading, vectorized per picked output (not per symbol)."""
        out = np.zeros(idx.shape, dtype=np.int8)
        for j in np.unique(idx):
            bi, ki = np.nonzero(idx == j)
            r = rows[bi]
            out[bi, ki] = reading(self.selector.outputs[j], self._values[r, j], self._close[r])
        dirs: list[list[int]] = out.tolist()  # type: ignore[assignment]
        return dirs

    def prime(self, panel: Panel, symbols: Sequence[str] | None = None,
              batch: int = 50) -> None:
        """Fill some symbols' windows (all when None) from a history panel's batch values.

        The registry is computed over the whole panel (some outputs, e.g. the
        week and month AVWAP, depend on all of it), ``batch`` symbols at a time
        to bound memory, and its last ``needed`` minutes are written as
        ``update`` would have written them (``prime_rows``). The panel must end
        at the newest minute written (or define it, before the first). Run it
        off the UI thread; a console primes a few symbols between minutes.
        """
        from engine.compute import compute
        from models.features import ffill

        want = list(self.symbols) if symbols is None else list(symbols)
        t = len(panel.ts)
        if not t or not want:
            return
        first = max(0, t - self.needed)
        for b in range(0, len(want), batch):
            chunk = want[b: b + batch]
            sub = panel.select(chunk)
            vals = np.array(compute(sub, self.selector.features).values)[:, first:]
            close = ffill(sub.close.astype(np.float64))[:, first:]
            self.prime_rows(chunk, vals, close, panel.ts[-1])

    def prime_kept(self, tape: FeatureTape, symbols: Sequence[str],
                   panel: Panel | None = None) -> list[str]:
        """Prime ``symbols`` from the rows ``tape`` keeps (the engine's own, minute by
        minute): only this model's scaling and nothing of the registry, but for the
        few features scaled over the lookback (DIFF, RMS: a window of ``needed``
        minutes, twice what the tape keeps), which are the batch of those outputs
        alone over ``panel`` (the symbols' bars ending at the tape's newest minute),
        as ``prime`` computes them. Returns the symbols it could not prime: those
        the tape does not cover ``lookback`` minutes of, or all of them when the tape
        or ``panel`` ends elsewhere than the live window (``prime`` them instead)."""
        want = list(symbols)
        lb, roll = self.lookback, self._roll.any()
        if (not want or tape.names != self._snapshot_names or lb > tape.length
                or tape.last_ts is None
                or (self._count and tape.last_ts != self._last_ts)):
            return want
        covered = tape.cover(want) >= lb
        ok = [s for s, c in zip(want, covered, strict=True) if c]
        left = [s for s, c in zip(want, covered, strict=True) if not c]
        if not ok:
            return left
        vals, close, ts = tape.window(ok, self._idx, lb)
        if roll:
            if panel is None or len(panel.ts) < lb or not np.array_equal(
                    panel.ts[-lb:].astype("datetime64[m]"), ts):
                return want
            from engine.compute import compute

            names = [n for n, r in zip(self.selector.features, self._roll, strict=True) if r]
            rolled = np.array(compute(panel.select(ok), names).values)[:, -self.needed:]
            m = rolled.shape[1]
            full = np.full((len(ok), m, len(self._idx)), np.nan, np.float32)
            full[:, m - lb:] = vals
            full[:, :, self._roll] = rolled
            wide = np.full((len(ok), m), np.nan, np.float32)
            wide[:, m - lb:] = close
            vals, close = full, wide
        self.prime_rows(ok, vals, close.astype(np.float64), ts[-1])
        return left

    def prime_rows(self, symbols: Sequence[str], values: np.ndarray, close: np.ndarray,
                   ts: np.datetime64) -> None:
        """Write ``symbols``' last minutes from batch values: ``values[s, m, F]`` (the
        model's features, in order) and the carried close ``close[s, m]``, the last
        minute being ``ts``. Before any minute is written this defines the newest
        minute; after, ``ts`` must be it (``ValueError`` otherwise: prime again from
        a panel that ends there)."""
        rows = np.array([self._row[s] for s in symbols], dtype=np.int64)
        m = values.shape[1]
        if self._count == 0:
            self._count, self._last_ts = m, ts
        elif ts != self._last_ts:
            raise ValueError(f"priming values end at {ts}, the live window at {self._last_ts}")
        lb = self.lookback
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            scaled = scale_free(values, close, self.selector.features, self._metas, lb)
        keep = min(m, lb)
        slots = self._minutes(keep)
        self._ring[:, rows] = np.nan
        self._std[:, rows] = 0.0
        self._ring[slots[:, None], rows[None]] = scaled[:, m - keep:].transpose(1, 0, 2)
        std = standardize(scaled[:, m - keep:].copy(), self.selector.mean, self.selector.std)
        self._std[slots[:, None], rows[None]] = std.transpose(1, 0, 2)
        hist = min(m, lb + 1)
        self._raw[rows] = np.nan
        self._raw[rows, lb + 1 - hist:] = values[:, m - hist:][:, :, self._roll]
        self._resum(rows)
        last = values[:, -1]
        self._values[rows] = last[:, self._out_in_feats]
        self._close[rows] = close[:, -1]
        if self._regime_col is not None:
            self._regime[rows] = np.nan_to_num(last[:, self._regime_col], nan=-1.0).astype(
                np.int32)
        self._seen[rows] = m

    def _resum(self, rows: np.ndarray) -> None:
        """The patch sums of ``rows`` recomputed from their standardized ring."""
        n, p, f = self._tokens * self._patch, self._patch, self._std.shape[2]
        block = self._std[self._minutes(n)[:, None], rows[None]]  # [n, rows, F]
        self._sums[:, rows] = block.reshape(self._tokens, p, len(rows), f).sum(
            axis=1, dtype=np.float64)

