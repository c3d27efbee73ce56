"""The AVWAP pane: every anchor's level and ±1/2/3σ bands, and today's chart.

Why two parts: the table answers "where is price against each anchor right now"
(read off the Snapshot, nothing recomputed), the chart answers "how did it get
there today" (today's per-minute series of close, session AVWAP with ±1/2σ and day
AVWAP, a ``ChartSeries``).

Why hand-laid strips and not a Rich ``Table``: at ~650 symbols the pane is
redrawn several times a second, and profiling showed Rich's table layout
(measuring, wrapping and padding every cell, plus an ``auto`` height that made
Textual re-measure the table on every update) costing tens of milliseconds per
frame. The table has a fixed shape (six anchors × eight numbers), so the widget
lays the columns out once per width and each update only formats ~50 strings.
The chart is a ``BrailleChart`` (NumPy raster, cached) for the same reason.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from tui import fmt
from tui.alerts import ANCHORS, output_name
from tui.views import ChartSeries, Quote
from tui.widgets.chart import BrailleChart, Series
from tui.widgets.strip_cache import StripCache

#: Table columns after the anchor name: band -> header.
BAND_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dn3", "−3σ"), ("dn2", "−2σ"), ("dn1", "−1σ"), ("level", "AVWAP"),
    ("up1", "+1σ"), ("up2", "+2σ"), ("up3", "+3σ"),
)
ANCHOR_WIDTH = max(len("Anchor"), *(len(a) for a in ANCHORS))
BOLD = Style(bold=True)
GREEN, RED = Style(color="green"), Style(color="red")


def band_cell(anchor: str, band: str, snap_row: dict[str, float]) -> str:
    """The table text for one anchor/band (tests format the Snapshot the same way)."""
    return fmt.price(snap_row.get(output_name(anchor, band), float("nan")))


def z_cell(anchor: str, snap_row: dict[str, float]) -> str:
    return fmt.sigma(snap_row.get(f"avwap_{anchor}_z", float("nan")))


def _z_style(z: float) -> Style:
    if not np.isfinite(z):
        return Style()
    if z >= 2:
        return Style(bold=True, reverse=True, color="green")
    if z <= -2:
        return Style(bold=True, reverse=True, color="red")
    return GREEN if z > 0 else RED


class AvwapTable(StripCache, Widget):
    """Levels and bands of every calendar anchor for one symbol (a fixed 8-line grid)."""

    DEFAULT_CSS = """
    AvwapTable { height: 8; }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title: list[tuple[str, Style]] = [(text, Style(dim=True))]
        #: One row per anchor: anchor, the seven band prices, z (the tests read these).
        self.cells: list[list[str]] = []
        self._z_styles: list[Style] = []
        self._strips: dict[int, Strip] = {}

    def show(self, quote: Quote) -> None:
        symbol, row, last, chg = quote.symbol, quote.levels, quote.last, quote.change
        color = "green" if chg > 0 else "red" if chg < 0 else None
        self.title = [(f"{symbol} ", BOLD), (fmt.price(last), Style(bold=True, color=color)),
                      (f"  {fmt.pct(chg)}", Style(color=color))]
        self.cells = [[anchor, *(band_cell(anchor, b, row) for b, _ in BAND_COLUMNS),
                       z_cell(anchor, row)] for anchor in ANCHORS]
        self._z_styles = [_z_style(row.get(f"avwap_{a}_z", float("nan"))) for a in ANCHORS]
        self._strips.clear()
        self.refresh()

    def show_empty(self, text: str) -> None:
        self.title, self.cells, self._z_styles = [(text, Style(dim=True))], [], []
        self._strips.clear()
        self.refresh()

    def _line(self, y: int, width: int) -> Strip:
        base = self.rich_style
        if y == 0:
            return Strip([Segment(t, base + s) for t, s in self.title]).extend_cell_length(
                width, base).crop(0, width)
        if not self.cells:
            return Strip.blank(width, base)
        # Anchor column, then eight right-aligned numeric columns sharing the rest.
        col = max(4, (width - ANCHOR_WIDTH - 2) // (len(BAND_COLUMNS) + 1))
        if y == 1:
            cells = ["Anchor", *(h for _, h in BAND_COLUMNS), "z"]
            styles = [BOLD] * len(cells)
        elif y - 2 < len(self.cells):
            cells = self.cells[y - 2]
            styles = [BOLD, *(BOLD if b == "level" else Style() for b, _ in BAND_COLUMNS),
                      self._z_styles[y - 2]]
        else:
            return Strip.blank(width, base)
        segs = [Segment(" " + cells[0].ljust(ANCHOR_WIDTH) + " ", base + styles[0])]
        for text, style in zip(cells[1:], styles[1:], strict=True):
            segs += [Segment(text.rjust(col - 1)[-(col - 1):], base + style),
                     Segment(" ", base)]
        return Strip(segs).extend_cell_length(width, base).crop(0, width)



#: Chart lines: series name, colour (drawn in this order; price on top).
CHART_LINES: tuple[tuple[str, str], ...] = (
    ("avwap_session_up2", "red"),
    ("avwap_session_up1", "#ff8700"),
    ("avwap_session", "cyan"),
    ("avwap_session_dn1", "#ff8700"),
    ("avwap_session_dn2", "red"),
    ("avwap_day", "magenta"),
    ("close", "white"),
)
X_TICKS: tuple[tuple[int, str], ...] = tuple(
    (m, f"{9 + (30 + m) // 60}:{(30 + m) % 60:02d}") for m in range(0, 391, 60)
)


class AvwapChart(BrailleChart):
    """Today's close with the session AVWAP, its ±1/2σ bands and the day AVWAP."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple[str, int] | None = None

    def show(self, chart: ChartSeries) -> None:
        symbol, series, n = chart.symbol, chart.series, chart.minutes
        key = (symbol, n)
        if key == self._key:
            return
        self._key = key
        lines = [Series(series[name], Style(color=color)) for name, color in CHART_LINES
                 if name in series and len(series[name])]
        ticks = [(m, t) for m, t in X_TICKS if m <= max(n, 1)]  # the minutes seen so far
        self.plot(lines, x_max=max(n, 60), x_ticks=ticks)


LEGEND = Text.assemble(
    ("today: ", "bold"), ("━ price  ", "white"), ("━ session AVWAP  ", "cyan"),
    ("━ ±1σ  ", "#ff8700"), ("━ ±2σ  ", "red"), ("━ day AVWAP", "magenta"),
)


class AvwapPane(Vertical):
    """The table above the chart, for the highlighted symbol."""

    DEFAULT_CSS = """
    AvwapPane { height: 1fr; }
    AvwapPane > AvwapChart { height: 1fr; min-height: 8; }
    AvwapPane > #avwap-legend { height: 1; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield AvwapTable("waiting for the first minute…", id="avwap-table")
        yield Static(LEGEND, id="avwap-legend")
        yield AvwapChart(id="avwap-chart")

    def show(self, symbol: str, quote: Quote | None, chart: ChartSeries | None) -> None:
        """The table for ``quote`` (``None``: the symbol has no data) and, when given,
        the chart."""
        if quote is None:
            self.query_one(AvwapTable).show_empty(f"{symbol}: no data")
            return
        self.query_one(AvwapTable).show(quote)
        if chart is not None:
            self.query_one(AvwapChart).show(chart)
