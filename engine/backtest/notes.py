"""The run's notes: what a reader of its figures must know, one sentence each.

Saved with the run and printed with its statistics: anchors the history could
not fill (``year*``), half days (their 13:00–16:00 bars are not on the grid),
zero-volume bars, and a result with no trades, with the likely reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np

from engine.backtest.result import SESSION_MINUTES, Settings
from storage.types import Panel


def run_notes(panel: Panel, settings: Settings, partial: Mapping[str, Sequence[str]],
              trades: int, start: dt.date) -> list[str]:
    """The notes of a run over ``panel`` (the traded minutes) that made ``trades`` trades."""
    notes = []
    s = panel.shape[0]
    for kind, syms in sorted(partial.items()):
        names = ", ".join(syms[:5]) + (" …" if len(syms) > 5 else "")
        notes.append(
            f"{kind}* is partial: {len(syms)} of {s} symbols ({names}) have no bars in the "
            f"first session of the {kind} holding {start}, so their {kind} AVWAP starts at "
            f"their first cached bar; load earlier history to fill it.")
    half = _half_days(panel)
    if half:
        shown = ", ".join(half[:4]) + (" …" if len(half) > 4 else "")
        notes.append(
            f"{len(half)} half day(s) ({shown}): the session ends at the early close; bars "
            f"stamped from then to 16:00 are not on the grid and take no part in the run.")
        if settings.no_entry_minutes >= min(panel.session_minutes):
            notes.append(f"--no-entry-minutes {settings.no_entry_minutes} leaves no entry "
                         f"time on half days.")
    zero = int((panel.valid & (panel.volume <= 0)).sum())
    if zero:
        notes.append(
            f"{zero:,} bars have zero volume: they fill orders at their prices but add "
            f"nothing to a VWAP and do not count toward a band's bars (engine.bands).")
    if trades == 0:
        notes.append("no trades: no signal led to a fill (check the parameters, the "
                     "--no-entry-minutes window and --cash-per-trade against the prices).")
    return notes


def _half_days(panel: Panel) -> list[str]:
    short = (panel.session_minutes < SESSION_MINUTES) & (panel.segments["session"] >= 0)
    if not short.any():
        return []
    days = np.unique((panel.ts[short] - np.timedelta64(5, "h")).astype("datetime64[D]"))
    return [str(d) for d in days]
