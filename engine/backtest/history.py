"""The history a run loads before ``--start``, and the anchors it could not fill.

A month anchor's AVWAP on March 16 is the VWAP since March 1: a run starting on
the 16th must load the bars from the 1st, or its "month" begins on the 16th and
its trades differ from a run started earlier (43 trades instead of 11 in one
measured case). The registry declares what each output needs (``engine.meta.History``):
a calendar anchor everything since its segment began (the week's Monday, the
month's, quarter's or year's first day), other outputs a number of sessions.
The run loads from the earliest of these, computes every output over it, and
trades from ``--start`` only.

When the cache has no bars for a symbol in the first session of the anchor's
segment, that anchor is *partial*: its AVWAP runs from the symbol's first bar,
as the console marks such an anchor (``year*``). The run names it in its notes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

import numpy as np

from engine.bands import anchor_of
from storage.types import Panel

PRICE = frozenset({"open", "high", "low", "close", "volume"})


def segment_start(kind: str, day: dt.date) -> dt.date:
    """The first calendar day of the ``kind`` segment holding ``day`` (session/day: itself)."""
    if kind == "week":
        return day - dt.timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    if kind == "year":
        return day.replace(month=1, day=1)
    return day


def history_start(outputs: Iterable[str], start: dt.date) -> dt.date:
    """The first day whose bars ``outputs`` need for their values from ``start`` on."""
    from engine.registry import REGISTRY

    first = start
    for name in outputs:
        if name in PRICE:
            continue
        kind = anchor_of(name)
        if kind is not None:
            first = min(first, segment_start(kind, start))
            continue
        sessions = REGISTRY.meta(name).history.step_sessions()
        if sessions > 1:
            # Sessions to calendar days: 5 a week, plus a week for holidays.
            first = min(first, start - dt.timedelta(days=math.ceil((sessions - 1) * 7 / 5) + 7))
    return first


def first_minute(panel: Panel, start: dt.date) -> int:
    """Index of the first minute of session ``start`` or later in ``panel``."""
    day = (panel.ts - np.timedelta64(5, "h")).astype("datetime64[D]")
    return int(np.searchsorted(day, np.datetime64(start, "D")))


#: Most calendar days between a segment's first day and its first session
#: (a Saturday New Year's Day observed on the Monday: 3).
_CLOSED_DAYS = 4


def partial_anchors(panel: Panel, first: int, kinds: Sequence[str],
                    start: dt.date) -> dict[str, list[str]]:
    """{anchor: symbols without a bar in the first session of the anchor's segment
    holding ``start`` (minute ``first``)}.

    A panel whose grid itself begins days after the segment's first day (a source
    that had nothing earlier) lacks that session for every symbol.
    """
    out: dict[str, list[str]] = {}
    if first >= len(panel.ts):
        return out
    grid_first = (panel.ts[0] - np.timedelta64(5, "h")).astype("datetime64[D]").astype(object)
    sess = panel.segments["session"]
    for kind in kinds:
        seg = panel.segments[kind]
        begin = int(np.argmax(seg == seg[first]))
        if begin == 0 and (grid_first - segment_start(kind, start)).days > _CLOSED_DAYS:
            lacking = np.ones(panel.shape[0], dtype=bool)
        elif begin >= first:
            continue
        else:
            in_first = sess == sess[begin]
            lacking = np.asarray(~panel.valid[:, in_first].any(axis=1), dtype=bool)
        if lacking.any():
            out[kind] = [s for s, x in zip(panel.symbols, lacking.tolist(), strict=True) if x]
    return out
