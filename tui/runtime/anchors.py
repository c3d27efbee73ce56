"""The console's custom anchors: loaded from the cache, rebuilt exactly, stepped live.

Why a book beside the engine: the engine's compiled step covers the registry's
outputs for every symbol, while custom anchors are a handful of (symbol,
minute) rows that come and go while the console runs. The book keeps them in
``engine.avwap.live_custom`` state: each row's exact state is rebuilt in closed
form from the history (``panel_until_now``), so an anchor added five sessions
back is on screen in milliseconds, and every minute one compiled call steps all
rows. It is plain Python (no widgets) and runs on the runtime's MLX thread.

Time and universe changes rebuild by themselves: a minute earlier than the
last one (the replay jumped back) or a batch whose symbols differ from the
last (a list joined the universe) rebuilds the rows from the history; a
revision of the still-forming minute (``BarBatch.final`` False) restarts from
the state before that minute, as the engine does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from engine import stepping
from engine.avwap import live_custom as L
from engine.indicator_types import State
from engine.inputs import step_inputs
from storage.anchors import Anchor, add_anchor, delete_anchor, list_anchors
from storage.cache import Cache
from storage.types import BarBatch, Panel, as_dt64

__all__ = ["BANDS", "AnchorBook", "AnchorLevels", "output_name"]

#: The values of one anchor, in ``AnchorLevels`` field names (``live_custom.OUTPUTS``).
BANDS: tuple[str, ...] = ("dn3", "dn2", "dn1", "level", "up1", "up2", "up3")

PanelFn = Callable[[Sequence[str]], Panel | None]


def output_name(anchor_id: int, band: str) -> str:
    """The name a custom anchor's level or band goes by (alerts, the chart): ``anchor_7_up2``."""
    return f"anchor_{anchor_id}" if band == "level" else f"anchor_{anchor_id}_{band}"


@dataclass(frozen=True)
class AnchorLevels:
    """One custom anchor's AVWAP now: level, ±1/2/3σ bands and the close's z.

    NaN until the anchor's first bar with volume (the replay has not reached it).
    ``partial``: the anchor is older than the loaded history, so its AVWAP runs
    from the history's first minute (``since``), like a partial calendar anchor.
    """

    anchor: Anchor
    level: float
    up1: float
    dn1: float
    up2: float
    dn2: float
    up3: float
    dn3: float
    z: float
    partial: bool = False

    def value(self, band: str) -> float:
        """The level (``level``) or a band (``up1`` … ``dn3``), or ``z``."""
        return float(getattr(self, band))


class AnchorBook:
    """The custom anchors of the console's symbols and their live values."""

    def __init__(self, cache: Cache, panel_until_now: PanelFn) -> None:
        self.cache = cache
        self.panel_until_now = panel_until_now
        self._step = stepping.compile_step(L.rows_step)
        self.anchors: list[Anchor] = []  # the live rows, in row order
        self._partial: list[bool] = []
        self._syms: list[str] = []  # distinct anchored symbols (the compact batch)
        self._state: State | None = None
        self._before: State | None = None
        self._last_ts: np.datetime64 | None = None
        self._universe: tuple[str, ...] | None = None  # symbols of the last step's batches
        self._values: dict[str, np.ndarray] = {}
        self._index: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    # -- loading and rebuilding ----------------------------------------------------
    def invalidate(self) -> None:
        """Forget the rows: the next step rebuilds them (a new universe was warmed)."""
        self._universe = None

    def rebuild(self, symbols: Sequence[str]) -> None:
        """Load the anchors of ``symbols`` from the cache and rebuild their exact state
        from ``panel_until_now`` (blocking: DuckDB and NumPy, a few ms)."""
        self._universe = tuple(symbols)
        anchors = list_anchors(self.cache, symbols) if symbols else []
        self._set_rows(anchors)

    def _set_rows(self, anchors: list[Anchor]) -> None:
        self.anchors = list(anchors)
        self._syms = list(dict.fromkeys(a.symbol for a in anchors))
        self._index.clear()
        self._before, self._state, self._partial, self._last_ts = self._closed_form(
            self.anchors)
        self._refresh_values()

    def _closed_form(
        self, anchors: Sequence[Anchor]
    ) -> tuple[State, State, list[bool], np.datetime64 | None]:
        """(state before the last stepped minute, state after it, partial flags, that
        minute) of rows ``anchors``; their ``sym`` indexes ``self._syms``."""
        sym = np.array([self._syms.index(a.symbol) for a in anchors], dtype=np.int64)
        minutes = np.array([a.minute for a in anchors], dtype=np.int64)
        mine = list(dict.fromkeys(a.symbol for a in anchors))
        panel = self.panel_until_now(mine) if anchors else None
        if panel is None or not len(panel.ts):
            empty = L.rows_init(sym, minutes)
            return empty, empty, [False] * len(anchors), None
        # Rows of symbols the history lacks get no bar (``on`` False, NaN values).
        where = {s: i for i, s in enumerate(panel.symbols)}
        at = np.array([where.get(a.symbol, 0) for a in anchors], dtype=np.int64)
        on = np.array([a.symbol in where for a in anchors], dtype=bool)
        before = L.rows_state_from_panel(panel.slice_time(0, len(panel.ts) - 1), at, minutes)
        after = L.rows_state_from_panel(panel, at, minutes)
        first = int(as_dt64(panel.ts[0]).astype(np.int64))
        partial = [bool(m < first) for m in minutes]
        before, after = (L.with_symbols(st, sym, on) for st in (before, after))
        if not on.all():
            before, after = (_blank(st, ~on) for st in (before, after))
        return before, after, partial, as_dt64(panel.ts[-1])

    # -- the trader's edits --------------------------------------------------------
    def add(self, symbol: str, ts: object, label: str = "") -> Anchor:
        """Keep a new anchor in the cache and start its row now (blocking, a few ms).

        ``AnchorError`` (one line) when the cache refuses it. An anchor on a symbol
        the console has not loaded is kept and shows once that symbol is loaded.
        """
        anchor = add_anchor(self.cache, symbol, ts, label)
        if self._universe is None or anchor.symbol not in self._universe:
            return anchor
        rows = [*self.anchors, anchor]
        if anchor.symbol not in self._syms:
            self._syms.append(anchor.symbol)
            self._index.clear()
        before, after, partial, _ = self._closed_form([anchor])
        if self._state is None or self._before is None or not self.anchors:
            self._before, self._state = before, after
        else:
            self._before = L.concat_rows(self._before, before)
            self._state = L.concat_rows(self._state, after)
        self.anchors, self._partial = rows, [*self._partial, *partial]
        self._refresh_values()
        return anchor

    def delete(self, anchor_id: int) -> Anchor:
        """Delete anchor ``anchor_id`` from the cache and drop its row (``AnchorError``
        when there is no such anchor)."""
        anchor = delete_anchor(self.cache, anchor_id)
        keep = [i for i, a in enumerate(self.anchors) if a.id != anchor.id]
        if len(keep) != len(self.anchors) and self._state is not None:
            idx = np.array(keep, dtype=np.int64)
            self._state = L.take_rows(self._state, idx)
            if self._before is not None:
                self._before = L.take_rows(self._before, idx)
            self.anchors = [self.anchors[i] for i in keep]
            self._partial = [self._partial[i] for i in keep]
            self._refresh_values()
        return anchor

    # -- every minute ----------------------------------------------------------------
    def step(self, batches: BarBatch | Sequence[BarBatch]) -> None:
        """Advance every row one minute (call it after the engine stepped ``batches``:
        one batch per group of the universe, all of the same minute)."""
        parts = [batches] if isinstance(batches, BarBatch) else list(batches)
        if not parts:
            return
        universe = tuple(s for b in parts for s in b.symbols)
        ts = as_dt64(parts[0].ts)
        if universe != self._universe or (
                self._last_ts is not None and ts < self._last_ts):
            self.rebuild(universe)  # the history includes this minute when the engine
            if self._last_ts is not None and ts <= self._last_ts:  # stepped it first
                return
        if not self.anchors or self._state is None:
            self._last_ts = ts
            return
        if self._last_ts is not None and ts == self._last_ts and self._before is not None:
            start = self._before  # a revision of the still-forming minute
        else:
            start = self._state
        new, out = self._step(start, step_inputs(self._compact(parts)))
        mx.eval(new, out)
        self._before, self._state, self._last_ts = start, new, ts
        self._values = {k: np.array(v, dtype=np.float64) for k, v in out.items()}

    def _compact(self, parts: list[BarBatch]) -> BarBatch:
        """One batch of the anchored symbols (``self._syms``) gathered from ``parts``."""
        u = len(self._syms)
        cols = {f: np.full(u, np.nan) for f in ("open", "high", "low", "close")}
        volume, valid = np.zeros(u), np.zeros(u, dtype=bool)
        for b in parts:
            key = tuple(b.symbols)
            if key not in self._index:
                pos = {s: i for i, s in enumerate(key)}
                mine = np.array([j for j, s in enumerate(self._syms) if s in pos], np.int64)
                theirs = np.array([pos[self._syms[j]] for j in mine], np.int64)
                self._index[key] = (mine, theirs)
            mine, theirs = self._index[key]
            if not len(mine):
                continue
            for f, arr in cols.items():
                arr[mine] = getattr(b, f)[theirs]
            volume[mine] = b.volume[theirs]
            valid[mine] = b.valid[theirs]
        first = parts[0]
        return BarBatch(symbols=tuple(self._syms), ts=first.ts, open=cols["open"],
                        high=cols["high"], low=cols["low"], close=cols["close"],
                        volume=volume, valid=valid, segments=first.segments,
                        minute_of_session=first.minute_of_session,
                        session_minutes=first.session_minutes, final=first.final)

    def _refresh_values(self) -> None:
        if self._state is None or not self.anchors:
            self._values = {}
            return
        out = L.rows_outputs(self._state)
        mx.eval(out)
        self._values = {k: np.array(v, dtype=np.float64) for k, v in out.items()}

    # -- what the frame carries ------------------------------------------------------
    def levels(self) -> dict[str, tuple[AnchorLevels, ...]]:
        """Per symbol, its anchors' values now (in time order)."""
        out: dict[str, list[AnchorLevels]] = {}
        v = self._values
        for r, a in enumerate(self.anchors):
            if not v:
                break
            x = {k: float(v[k][r]) for k in L.OUTPUTS}
            out.setdefault(a.symbol, []).append(AnchorLevels(
                a, level=x["level"], up1=x["up1"], dn1=x["dn1"], up2=x["up2"], dn2=x["dn2"],
                up3=x["up3"], dn3=x["dn3"], z=x["z"], partial=self._partial[r]))
        return {s: tuple(sorted(rows, key=lambda x: (x.anchor.ts, x.anchor.id)))
                for s, rows in out.items()}

    def alert_values(self) -> dict[str, dict[str, float]]:
        """Per symbol, ``{output_name(id, band): value}`` for the alert rules."""
        out: dict[str, dict[str, float]] = {}
        v = self._values
        if not v:
            return out
        for r, a in enumerate(self.anchors):
            row = out.setdefault(a.symbol, {})
            for band in BANDS:
                row[output_name(a.id, band)] = float(v[band][r])
        return out


def _blank(st: State, off: np.ndarray) -> State:
    """Rows ``off`` as if they had never had a bar (their symbol is not loaded)."""
    mask = mx.array(off)[None, :]
    out = dict(st)
    for k in ("s0", "s1", "m2", "c0", "c1", "c2"):
        out[k] = mx.where(mask, 0.0, st[k])
    out["ref"] = mx.where(mask, float("nan"), st["ref"])
    out["last"] = mx.where(mx.array(off), float("nan"), st["last"])
    return out
