"""The chart screen: one symbol's candles, volume and AVWAP lines, with a crosshair.

Pushed over the console by ``c`` (or ``enter``) on a watchlist row. The data is
``ConsoleSession.candles`` (the engine's batch levels over the loaded history,
on the MLX thread); the screen keeps a ``ChartView`` (cursor, zoom, right edge)
and redraws the ``CandleChart`` from it, which costs a few milliseconds.

Live minutes: a half-second timer looks at the controller's newest frame. One
new bar is appended with the levels the engine just stepped (no batch); more
than one (a fast replay), a new session on a limited span, a replay sent back
or a change of the symbol's custom anchors rebuilds the data, at most once per
two console chart intervals (once a second by default). The console
keeps receiving frames underneath, so nothing is lost while the chart is open.

"Anchor here" (``a``) calls ``ConsoleSession.add_anchor`` with the cursor bar's
minute; the anchor's line appears when the next frame carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from storage.errors import AvwapError
from storage.feeds.base import FeedState
from tui import fmt
from tui.runtime.candles import BANDS, anchors_of, append_bars, custom_key
from tui.screens.chart.view import DEFAULT_ZOOM, SPANS, ZOOMS, ChartView, readout
from tui.views import CandleData
from tui.widgets.candles import Bars, CandleChart, Overlay

if TYPE_CHECKING:
    from tui.app import AvwapApp
    from tui.runtime.console import ConsoleSession

#: Line colours by level key; custom anchors take ``CUSTOM_COLOURS`` in turn.
LINE_COLOURS: dict[str, str] = {
    "avwap_session": "#d29922", "avwap_day": "#58a6ff", "avwap_week": "#bc8cff",
    "avwap_month": "#f778ba", "avwap_hh": "#7ee787", "avwap_ll": "#ff7b72",
    "avwap_hv": "#e6edf3",
}
CUSTOM_COLOURS: tuple[str, ...] = ("#ffdf5d", "#56d4dd", "#ffa657", "#a5d6ff", "#d2a8ff")
#: Lines shown when the chart opens (custom anchors are always shown at first).
DEFAULT_ON: frozenset[str] = frozenset({"avwap_session", "avwap_week", "avwap_month"})
POLL_S = 0.5
#: Rebuilds are at most this many console chart intervals apart (0.5 s: once a second).
REBUILD_S = 2.0


def line_style(key: str, custom_index: int) -> Style:
    colour = LINE_COLOURS.get(key) or CUSTOM_COLOURS[custom_index % len(CUSTOM_COLOURS)]
    return Style(color=colour, bold=True)


def line_restarts(data: CandleData) -> dict[str, np.ndarray]:
    """Where each calendar/auto line starts again (a new session, week or month; the
    auto anchors are chosen anew each session): the chart does not join across."""
    if not len(data):
        return {}
    days = data.day.astype("datetime64[D]")
    first = np.zeros(len(days), bool)
    first[0] = True

    def changes(key: np.ndarray) -> np.ndarray:
        out = first.copy()
        out[1:] = key[1:] != key[:-1]
        return out

    day = changes(days)
    week = changes((days.astype(np.int64) + 3) // 7)  # weeks from Monday (1970-01-01: Thu)
    month = changes(days.astype("datetime64[M]"))
    return {"avwap_session": day, "avwap_day": day, "avwap_hh": day, "avwap_ll": day,
            "avwap_hv": day, "avwap_week": week, "avwap_month": month}


class ChartScreen(Screen[None]):
    """Candles of one symbol (see the module docstring)."""

    #: The help screen's mouse line while the chart is open.
    MOUSE_HELP: ClassVar[str] = "click a bar to put the cursor on it; wheel zooms"

    DEFAULT_CSS = """
    ChartScreen { layout: vertical; }
    ChartScreen #chart-title { height: 1; background: $boost; }
    ChartScreen #chart-readout { height: auto; max-height: 3; }
    ChartScreen #chart { height: 1fr; }
    ChartScreen #chart-legend { height: auto; max-height: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="chart.close"),
        Binding("left", "move(-1)", "◀ bar", show=False, id="chart.left"),
        Binding("right", "move(1)", "bar ▶", show=False, id="chart.right"),
        Binding("shift+left,ctrl+left", "move(-10)", "◀ 10 bars", show=False,
                id="chart.left10"),
        Binding("shift+right,ctrl+right", "move(10)", "10 bars ▶", show=False,
                id="chart.right10"),
        Binding("home", "jump(0)", "First bar", show=False, id="chart.first"),
        Binding("end", "jump(-1)", "Last bar", show=False, id="chart.last"),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom in", key_display="+",
                id="chart.zoom_in"),
        Binding("minus", "zoom(1)", "Zoom out", key_display="-", id="chart.zoom_out"),
        Binding("left_square_bracket,pageup", "pan(-1)", "Pan ◀", show=False, key_display="[",
                id="chart.pan_left"),
        Binding("right_square_bracket,pagedown", "pan(1)", "Pan ▶", show=False,
                key_display="]", id="chart.pan_right"),
        Binding("d", "span", "Span", id="chart.span"),
        Binding("t", "bands", "Bands", id="chart.bands"),
        Binding("a", "anchor_here", "Anchor here", id="chart.anchor"),
        Binding("space", "pause", "Pause", show=False, id="chart.pause"),
        Binding("full_stop", "step_minute", "Step a minute", show=False, key_display=".",
                id="chart.step"),
        *(Binding(str(k), f"line({k})", f"Line {k}", show=False, id=f"chart.line{k}")
          for k in range(1, 10)),
    ]

    def __init__(self, symbol: str, span: int = 0) -> None:
        super().__init__()
        self.symbol = symbol
        self.span = span
        self.view = ChartView()
        self.data: CandleData | None = None
        self.bands = False
        self.off: set[str] = set()  # lines switched off by key (defaults aside)
        self.on: set[str] = set()  # lines switched on by key
        self._busy = False
        self._last_build = -1e9
        self._seen_seq = -1
        self._fit = False  # the next load fits its whole span (``d``)

    @property
    def avwap_app(self) -> AvwapApp:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> ConsoleSession | None:
        return self.avwap_app.console_screen.session

    def compose(self) -> ComposeResult:
        yield Static(id="chart-title")
        yield Static(id="chart-readout")
        yield CandleChart(id="chart")
        yield Static(id="chart-legend")
        yield Footer()

    def on_mount(self) -> None:
        self._title("loading…")
        self.run_worker(self.load(), group="chart-load", exclusive=True)
        self.set_interval(POLL_S, self._poll, name="chart-follow")

    # -- data ------------------------------------------------------------------
    async def load(self) -> None:
        """(Re)build the data for the current span (MLX thread); the cursor stays on its minute."""
        session = self.session
        if session is None:
            return
        self._busy = True
        try:
            data = await session.candles(self.symbol, SPANS[self.span][0])
        finally:
            self._busy = False
        self._last_build = self.avwap_app.clock()
        old, cursor_ts = self.data, None
        if old is not None and len(old) and self.view.cursor < len(old) - 1:
            cursor_ts = old.ts[self.view.cursor]
        self.data = data
        if old is None or old.sessions_loaded == 0:
            self.view.reset(len(data))
            self._fit_zoom(data)
        else:
            self.view.n = len(data)
            if cursor_ts is not None:
                hit = np.flatnonzero(data.ts == cursor_ts)
                self.view.cursor = int(hit[0]) if len(hit) else len(data) - 1
            else:
                self.view.cursor = max(0, len(data) - 1)
            if self._fit:  # a new span: show all of it, the newest bar at the right edge
                self._fit = False
                self._fit_zoom(data, whole=True)
                self.view.follow, self.view.stop = True, len(data)
            if self.view.follow:
                self.view.stop = len(data)
        self.redraw()

    def _fit_zoom(self, data: CandleData, *, whole: bool = False) -> None:
        """The zoom for new data: wider candles when few bars would leave the chart
        mostly empty; ``whole``: the closest zoom showing every bar (a new span),
        else one bar per cell (the newest bars, as when the chart opens)."""
        chart = self.query_one(CandleChart)
        chart.bars = Bars(data.open, data.high, data.low, data.close, data.volume)
        pw = chart.plot_columns()
        last = len(ZOOMS) if whole else DEFAULT_ZOOM
        for z, (cpb, bpc) in enumerate(ZOOMS[:last]):
            if 0 < -(-len(data) // bpc) * cpb <= pw:
                self.view.zoom = z
                return
        self.view.zoom = len(ZOOMS) - 1 if whole else DEFAULT_ZOOM

    def _poll(self) -> None:
        frame = self.avwap_app.controller.frame
        data = self.data
        if frame is None or data is None or self._busy or frame.seq == self._seen_seq:
            return
        anchors = {custom_key(a) for a in anchors_of(frame, self.symbol)}
        shown = {ln.key for ln in data.lines if ln.custom}
        if anchors != shown:
            self._rebuild_soon(frame.seq)
            return
        if len(data) and frame.snapshot.ts < data.ts[-1]:
            self._rebuild_soon(frame.seq)  # the replay went back (``b``, a jump): redraw to it
            return
        if len(data) and frame.snapshot.ts <= data.ts[-1]:
            self._seen_seq = frame.seq
            return
        self.run_worker(self._follow(frame.seq), group="chart-load", exclusive=True)

    def _rebuild_soon(self, seq: int) -> None:
        app = self.avwap_app
        if app.clock() - self._last_build >= REBUILD_S * app.chart_interval:
            self._seen_seq = seq
            self.run_worker(self.load(), group="chart-load", exclusive=True)

    async def _follow(self, seq: int) -> None:
        """Append the new minute(s) after the newest bar shown (see the module docstring)."""
        data, session = self.data, self.session
        if data is None or session is None or not len(data):
            return
        self._busy = True
        try:
            tail = await session.candles(self.symbol, since=data.ts[-1])
        finally:
            self._busy = False
        if not len(tail):
            self._seen_seq = seq
            return
        new_day = bool(tail.day[-1] != data.day[-1]) and SPANS[self.span][0] is not None
        levelled = bool(np.isfinite(tail.levels.get("avwap_session", np.zeros(1) * np.nan)[-1]))
        if len(tail) > 1 or new_day or not levelled:
            self._rebuild_soon(seq)
            return
        self._seen_seq = seq
        self.data = append_bars(data, tail)
        self.view.grow(len(self.data))
        self.redraw()

    # -- drawing ---------------------------------------------------------------
    def _lines(self) -> list[tuple[int, str, str, Style, bool]]:
        """(number, key, label, style, on) of every line, in legend order."""
        out = []
        customs = 0
        for k, ln in enumerate(self.data.lines if self.data else (), start=1):
            style = line_style(ln.key, customs)
            customs += ln.custom
            default = ln.custom or ln.key in DEFAULT_ON
            on = (default and ln.key not in self.off) or ln.key in self.on
            out.append((k, ln.key, ln.label, style, on))
        return out

    def _pw(self) -> int:
        return self.query_one(CandleChart).plot_columns() if self.data else 0

    def redraw(self) -> None:
        data = self.data
        if data is None:
            return
        chart = self.query_one(CandleChart)
        bars = Bars(data.open, data.high, data.low, data.close, data.volume, data.day,
                    data.minute)
        chart.bars = bars  # the plot width depends on the prices' label width
        start, stop = self.view.window(self._pw())
        lines = self._lines()
        overlays: list[Overlay] = []
        restarts = line_restarts(data)
        if self.bands:
            for _, key, _, style, on in lines:
                if on:
                    dim = Style(color=style.color, dim=True)
                    overlays += [Overlay(data.levels[f"{key}_{b}"], dim, scale=False,
                                         breaks=restarts.get(key))
                                 for b in BANDS if f"{key}_{b}" in data.levels]
        overlays += [Overlay(data.levels[key], style, label=label, breaks=restarts.get(key))
                     for _, key, label, style, on in lines if on and key in data.levels]
        chart.plot(bars, overlays, start=start, stop=stop, cells_per_bar=self.view.cells_per_bar,
                   bars_per_cell=self.view.bars_per_cell,
                   cursor=self.view.cursor if len(data) else None)
        shown = [(key, label) for _, key, label, _, on in lines if on]
        self.query_one("#chart-readout", Static).update(
            fmt.safe(readout(data, self.view.cursor, shown)) if len(data)
            else fmt.safe(f"{self.symbol}: no bars loaded"))
        legend = Text()
        for k, _, label, style, on in lines:
            legend.append(f"{k}" if k < 10 else " ", Style(bold=True) if on else Style(dim=True))
            legend.append(f" {label}  ", style if on else Style(dim=True, strike=True))
        legend.append(f"t bands {'on' if self.bands else 'off'}", Style(dim=not self.bands))
        self.query_one("#chart-legend", Static).update(legend)
        cpb, bpc = self.view.cells_per_bar, self.view.bars_per_cell
        zoom = f"{bpc} bars/cell (OHLC)" if bpc > 1 else (
            "1 bar/cell" if cpb == 1 else f"{cpb} cells/bar")
        follow = "live" if self.view.follow else f"{stop - start} of {len(data)} bars"
        self._title(f"{SPANS[self.span][1]} · {zoom} · {follow}")

    def _title(self, text: str) -> None:
        self.query_one("#chart-title", Static).update(
            Text.assemble((f" {self.symbol} ", "bold reverse"), f"  {text}"))

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw)

    # -- actions ---------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def action_move(self, delta: int) -> None:
        """Bars, or whole columns when a column merges several bars (zoomed out)."""
        self.view.move(delta * self.view.bars_per_cell, self._pw())
        self.redraw()

    def action_jump(self, index: int) -> None:
        self.view.jump(index, self._pw())
        self.redraw()

    def action_zoom(self, step: int) -> None:
        if self.view.zoom_by(step, self._pw()):
            self.redraw()

    def action_pan(self, direction: int) -> None:
        self.view.pan(direction, self._pw())
        self.redraw()

    def action_span(self) -> None:
        self.span = (self.span + 1) % len(SPANS)
        self._fit = True
        self._title(f"{SPANS[self.span][1]} · loading…")
        self.run_worker(self.load(), group="chart-load", exclusive=True)

    def action_bands(self) -> None:
        self.bands = not self.bands
        self.redraw()

    def action_line(self, number: int) -> None:
        lines = self._lines()
        if not 1 <= number <= len(lines):
            return
        _, key, _, _, on = lines[number - 1]
        if on:
            self.on.discard(key)
            self.off.add(key)
        else:
            self.off.discard(key)
            self.on.add(key)
        self.redraw()

    def action_pause(self) -> None:
        """Pause or resume the replay without leaving the chart (the console's ``space``)."""
        self.avwap_app.console_screen.action_pause()
        feed = self.avwap_app.controller.feed
        if feed is None or feed.replay is None:
            self.notify("Live bars cannot be paused.", timeout=3)
        else:
            paused = feed.state is FeedState.PAUSED
            self.notify("Replay paused" if paused else "Replay resumed", timeout=2)

    def action_step_minute(self) -> None:
        """One replayed minute (the console's ``.``); the chart follows it."""
        self.avwap_app.console_screen.action_step_minute()

    async def action_anchor_here(self) -> None:
        data, session = self.data, self.session
        if data is None or not len(data) or session is None:
            return
        ts = data.ts[self.view.cursor]
        try:
            anchor = await session.add_anchor(self.symbol, ts)
        except AvwapError as e:  # the anchor's one-line reason (refused, read-only cache …)
            self.notify(fmt.safe(str(e)), title="Anchor", severity="error", timeout=8)
            return
        label = anchor.label or fmt.exchange_time(ts)
        self.notify(fmt.safe(f"{self.symbol}: AVWAP anchored at {label}"), timeout=3)
        # The session's fresh frame carries the anchor: rebuild now (the poll
        # rebuilds again if a frame without it was read meanwhile).
        self.run_worker(self.load(), group="chart-load", exclusive=True)

    # -- mouse -----------------------------------------------------------------
    def on_candle_chart_clicked(self, msg: CandleChart.Clicked) -> None:
        self.view.jump(msg.bar, self._pw())
        self.redraw()

    def on_candle_chart_zoom(self, msg: CandleChart.Zoom) -> None:
        self.action_zoom(msg.step)


def open_chart(app: AvwapApp, symbol: str | None) -> None:
    """Push the chart of ``symbol`` (the console's ``c``/``enter``)."""
    if symbol is None:
        app.notify("No symbol to chart yet.", severity="warning")
        return
    app.push_screen(ChartScreen(symbol))
