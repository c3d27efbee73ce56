"""The console's presenter: the runtime's ``Frame`` into the panes' view models.

One function per view, each a few array lookups (no arithmetic on the
numbers: they are the engine's), so the panes never import the runtime.
"""

from __future__ import annotations

import numpy as np

from storage.anchors import Anchor
from tui import fmt
from tui.runtime.anchors import BANDS, AnchorLevels
from tui.runtime.frames import Frame
from tui.views import AnchorRow, IndicatorValues, Quote, WatchRows


def watch_rows(frame: Frame) -> WatchRows:
    snap = frame.snapshot
    s = len(snap.symbols)
    z = (snap.column("avwap_session_z").astype(np.float64) if "avwap_session_z" in snap.names
         else np.full(s, np.nan))
    return WatchRows(
        symbols=snap.symbols, last=snap.last.astype(np.float64), change=frame.change_pct,
        volume=frame.day_volume, rvol=frame.rvol, z=z, regime=snap.regime.astype(np.int64),
    )


def quote(frame: Frame, symbol: str) -> Quote | None:
    snap = frame.snapshot
    if symbol not in snap.symbols:
        return None
    i = snap.symbols.index(symbol)
    levels = {n: v for n, v in zip(snap.names, snap.values[i].tolist(), strict=True)
              if n.startswith("avwap_")}
    since = fmt.exchange_time(frame.data_start)[:10] if frame.data_start is not None else ""
    custom = tuple(anchor_row(lv) for lv in frame.anchors.get(symbol, ()))
    return Quote(symbol, float(snap.last[i]), float(frame.change_pct[i]), levels,
                 partial=frame.partial, since=since, custom=custom)


#: Longest anchor name in the AVWAP table (a long label is cut with "…").
NAME_CELLS = 12


def anchor_name(anchor: Anchor) -> str:
    """A custom anchor's row name: its label, else ``@MM-DD HH:MM`` (exchange time)."""
    name = anchor.label or "@" + fmt.exchange_time(anchor.ts)[5:16]
    return name if len(name) <= NAME_CELLS else name[: NAME_CELLS - 1] + "…"


def anchor_row(lv: AnchorLevels) -> AnchorRow:
    return AnchorRow(lv.anchor.id, anchor_name(lv.anchor),
                     {k: lv.value(k) for k in (*BANDS, "z")}, partial=lv.partial)


def indicator_values(frame: Frame, symbol: str,
                     picks: tuple[tuple[tuple[str, float, int], ...], str] | None = None
                     ) -> IndicatorValues | None:
    """``picks``: the newest (picks, source) for ``symbol`` when the frame has none yet."""
    snap = frame.snapshot
    if symbol not in snap.symbols:
        return None
    i = snap.symbols.index(symbol)
    before = frame.prev_values[i] if frame.prev_values is not None else None
    chosen, source = frame.picks.get(symbol, ()), frame.picks_source
    if not chosen and picks is not None:
        chosen, source = picks
    return IndicatorValues(symbol, int(snap.regime[i]), snap.names, snap.values[i], before,
                           picks=chosen, picks_source=source)
