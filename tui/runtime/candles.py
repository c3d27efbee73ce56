"""The chart screen's data: one symbol's bars and every AVWAP level per bar.

Why the batch form: the chart shows the levels at every bar of up to all
loaded sessions, and the engine's batch outputs over the whole loaded history
are exactly what the incremental engine reaches at the last minute (the same
moments, the same warm history), so the crosshair at the last bar reads the
console's numbers. One symbol's batch over ~20 sessions is a few tens of
milliseconds of MLX work; it runs on the runtime's MLX thread
(``ConsoleSession.candles``) when the chart opens or its span changes, never
per live minute: a new minute is appended from the frame the engine just
stepped (``candle_tail``: the snapshot's values are that minute's levels).

Custom anchors are read from ``Frame.anchors`` (their AVWAP per bar comes from
``engine.avwap.custom.anchored_batch`` over the same history) and named as the
AVWAP pane and the alerts name them (``anchor_7``, ``anchor_7_up2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from storage import calendar
from storage.anchors import Anchor
from storage.types import Panel
from tui.runtime.anchors import output_name
from tui.views import CandleData, CandleLine

if TYPE_CHECKING:
    from tui.runtime.controller import Controller
    from tui.runtime.frames import Frame

#: Calendar and auto anchors drawn on the chart, in legend order (keys 1..7).
CALENDAR_LINES: tuple[str, ...] = ("session", "day", "week", "month")
AUTO_LINES: tuple[str, ...] = ("hh", "ll", "hv")
BANDS: tuple[str, ...] = ("up1", "dn1", "up2", "dn2", "up3", "dn3")
#: Band suffixes as the custom-anchor outputs name them (``anchored_batch``).
CUSTOM_KEYS: tuple[str, ...] = ("level", *BANDS)


def level_names() -> list[str]:
    """Registry output names of every calendar/auto line and its bands."""
    out: list[str] = []
    for k in (*CALENDAR_LINES, *AUTO_LINES):
        out += [f"avwap_{k}", *(f"avwap_{k}_{b}" for b in BANDS)]
    return out


def custom_key(anchor: Anchor) -> str:
    """The level key of a custom anchor: the name alerts and the AVWAP pane use."""
    return output_name(anchor.id, "level")


def custom_label(anchor: Anchor) -> str:
    """A custom anchor's legend name: its label, else its exchange date and time."""
    if anchor.label:
        return anchor.label
    from tui.fmt import exchange_time

    return "@" + exchange_time(anchor.ts)[5:16]


def base_lines() -> tuple[CandleLine, ...]:
    return tuple(CandleLine(f"avwap_{k}", k) for k in (*CALENDAR_LINES, *AUTO_LINES))


def anchors_of(frame: Frame | None, symbol: str) -> tuple[Anchor, ...]:
    """The custom anchors of ``symbol`` the frame carries."""
    if frame is None:
        return ()
    return tuple(lv.anchor for lv in frame.anchors.get(symbol, ()))


def _empty(symbol: str) -> CandleData:
    z = np.zeros(0)
    return CandleData(symbol, np.zeros(0, "datetime64[m]"), z, z, z, z, z,
                      np.zeros(0, "datetime64[D]"), np.zeros(0, np.int64), {}, base_lines())


def candles_from_panel(panel: Panel | None, symbol: str, sessions: int | None,
                       anchors: Sequence[Anchor] = ()) -> CandleData:
    """The last ``sessions`` sessions (None: all) of ``symbol`` in ``panel`` (MLX thread).

    Levels are computed over the whole panel and then sliced, so a week or
    month AVWAP is the one the console shows, not one restarted at the span.
    """
    import mlx.core as mx

    from engine.avwap.custom import anchored_batch
    from engine.compute import compute_outputs
    from engine.inputs import batch_inputs

    if panel is None or symbol not in panel.symbols or not len(panel.ts):
        return _empty(symbol)
    p = panel.select([symbol]) if panel.symbols != (symbol,) else panel
    valid = np.asarray(p.valid[0], bool)
    if not valid.any():
        return _empty(symbol)
    days = calendar.exchange_dates(p.ts)
    loaded = np.unique(days[valid])
    first = loaded[-sessions] if sessions and sessions < len(loaded) else loaded[0]
    keep = valid & (days >= first)
    inp = batch_inputs(p)
    cols = compute_outputs(inp, level_names())
    lines = list(base_lines())
    for a in anchors:
        out = anchored_batch(inp, int(a.minute))
        cols.update({output_name(a.id, b): out[b] for b in CUSTOM_KEYS})
        key = custom_key(a)
        lines.append(CandleLine(key, custom_label(a), custom=True))
    mx.eval(list(cols.values()))
    levels = {k: np.array(v)[0].astype(np.float64)[keep] for k, v in cols.items()}
    return CandleData(
        symbol=symbol, ts=p.ts[keep], open=p.open[0][keep].astype(np.float64),
        high=p.high[0][keep].astype(np.float64), low=p.low[0][keep].astype(np.float64),
        close=p.close[0][keep].astype(np.float64), volume=p.volume[0][keep].astype(np.float64),
        day=days[keep], minute=np.asarray(p.minute_of_session)[keep].astype(np.int64),
        levels=levels, lines=tuple(lines), sessions_loaded=len(loaded))


def build_candles(ctl: Controller, symbol: str, sessions: int | None) -> CandleData:
    """``candles_from_panel`` on the loaded history up to now (MLX thread)."""
    return candles_from_panel(ctl.panel_until_now([symbol]), symbol, sessions,
                              anchors_of(ctl.frame, symbol))


def candle_tail(ctl: Controller, symbol: str, after: np.datetime64) -> CandleData:
    """The bars of ``symbol`` after ``after`` up to now, without a batch (MLX thread).

    Only the newest bar gets levels (the engine's step values in the current
    frame, the custom anchors' from ``Frame.anchors``); earlier new bars have NaN
    levels, and the screen rebuilds when more than one bar came in.
    """
    panel = ctl.panel_until_now([symbol])
    if panel is None or symbol not in panel.symbols:
        return _empty(symbol)
    p = panel.select([symbol]) if panel.symbols != (symbol,) else panel
    start = int(np.searchsorted(p.ts, after, side="right"))
    p = p.slice_time(start, len(p.ts))
    keep = np.asarray(p.valid[0], bool)
    n = int(keep.sum())
    if not n:
        return _empty(symbol)
    ts = p.ts[keep]
    levels: dict[str, np.ndarray] = {k: np.full(n, np.nan) for k in level_names()}
    lines = list(base_lines())
    frame = ctl.frame
    last_is_now = frame is not None and frame.snapshot.ts == ts[-1]
    if frame is not None and last_is_now and symbol in frame.snapshot.symbols:
        row = frame.snapshot.row(symbol)
        for k in levels:
            levels[k][-1] = row.get(k, np.nan)
    for lv in frame.anchors.get(symbol, ()) if frame is not None else ():
        lines.append(CandleLine(custom_key(lv.anchor), custom_label(lv.anchor), custom=True))
        for b in CUSTOM_KEYS:
            arr = np.full(n, np.nan)
            if last_is_now:
                arr[-1] = lv.value(b)
            levels[output_name(lv.anchor.id, b)] = arr
    return CandleData(
        symbol=symbol, ts=ts, open=p.open[0][keep].astype(np.float64),
        high=p.high[0][keep].astype(np.float64), low=p.low[0][keep].astype(np.float64),
        close=p.close[0][keep].astype(np.float64), volume=p.volume[0][keep].astype(np.float64),
        day=calendar.exchange_dates(ts), minute=np.asarray(p.minute_of_session)[keep].astype(
            np.int64), levels=levels, lines=tuple(lines))


def append_bars(data: CandleData, tail: CandleData) -> CandleData:
    """``data`` followed by ``tail`` (lines missing from one side are NaN there)."""
    if not len(tail):
        return data
    n, m = len(data), len(tail)
    lines = {ln.key: ln for ln in (*data.lines, *tail.lines)}
    levels: dict[str, np.ndarray] = {}
    for k in {*data.levels, *tail.levels}:
        a = data.levels.get(k, np.full(n, np.nan))
        b = tail.levels.get(k, np.full(m, np.nan))
        levels[k] = np.concatenate([a, b])
    new_days = len(np.setdiff1d(tail.day, data.day))
    return CandleData(
        symbol=data.symbol, ts=np.concatenate([data.ts, tail.ts]),
        open=np.concatenate([data.open, tail.open]), high=np.concatenate([data.high, tail.high]),
        low=np.concatenate([data.low, tail.low]), close=np.concatenate([data.close, tail.close]),
        volume=np.concatenate([data.volume, tail.volume]),
        day=np.concatenate([data.day, tail.day]),
        minute=np.concatenate([data.minute, tail.minute]), levels=levels,
        lines=tuple(lines.values()), sessions_loaded=data.sessions_loaded + new_days)
