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
from tui.alerts import ANCHORS, AUTO_ANCHORS, output_name
from tui.views import ChartSeries, Quote
from tui.widgets.chart import BrailleChart, Series
from tui.widgets.strip_cache import StripCache

#: Table columns after the anchor name: band -> header.
BAND_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dn3", "−3σ"), ("dn2", "−2σ"), ("dn1", "−1σ"), ("level", "AVWAP"),
    ("up1", "+1σ"), ("up2", "+2σ"), ("up3", "+3σ"),
)
BOLD = Style(bold=True)
CUSTOM = Style(bold=True, color="cyan")  # the trader's own anchors stand out
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


#: Column keys of the table after the anchor, in display order.
TABLE_KEYS: tuple[str, ...] = (*(b for b, _ in BAND_COLUMNS), "z")
HEADERS: dict[str, str] = {**dict(BAND_COLUMNS), "z": "z"}
#: Column groups in the order they are kept when the pane narrows: the level
#: and its σ distance first, then the bands from the nearest out. A group that
#: does not fit whole is hidden whole (and named in the title line).
PRIORITY: tuple[tuple[tuple[str, ...], str], ...] = (
    (("level",), "AVWAP"), (("z",), "z"), (("dn1", "up1"), "±1σ"),
    (("dn2", "up2"), "±2σ"), (("dn3", "up3"), "±3σ"),
)
PARTIAL_MARK = "*"


def fit_columns(need: dict[str, int], width: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(shown keys in display order, hidden group labels) for ``width`` cells.

    ``need[key]`` is the column's widest text plus its one-cell gap, so a shown
    column never cuts a number: columns are dropped by ``PRIORITY`` instead.
    """
    used = need["anchor"]
    kept: set[str] = set()
    hidden: list[str] = []
    for keys, label in PRIORITY:
        cost = sum(need[k] for k in keys)
        if not hidden and used + cost <= width:
            used += cost
            kept.update(keys)
        else:
            hidden.append(label)  # once a group is dropped, every later one is too
    return tuple(k for k in TABLE_KEYS if k in kept), tuple(hidden)


class AvwapTable(StripCache, Widget):
    """Levels and bands of every anchor for one symbol: the calendar anchors, the
    trader's custom anchors under them, then the auto anchors (hh, ll, hv).

    The grid adapts to its width: each column is as wide as its widest text (so
    a number is never cut) and whole column groups drop by ``PRIORITY`` when
    the pane is narrow, the title line naming what is hidden. An anchor whose
    segment began before the loaded history is marked ``year*`` and a line
    under the calendar rows says since when its AVWAP runs. The grid grows by
    a row per anchor up to ``max_rows`` body lines (the pane keeps the chart's
    minimum); rows past it (auto anchors first) are counted in the title.
    """

    DEFAULT_CSS = """
    AvwapTable { height: 8; }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title: list[tuple[str, Style]] = [(text, Style(dim=True))]
        #: One row per anchor: anchor, the seven band prices, z (the tests read these).
        self.cells: list[list[str]] = []
        self.note = ""  # the partial-anchor footnote ("" when every anchor is whole)
        self._z_styles: list[Style] = []
        self._strips: dict[int, Strip] = {}
        self._layout: tuple[int, tuple[str, ...], tuple[str, ...], dict[str, int]] | None = None
        #: Body lines after the header, in order: ("row", i) into ``cells`` or ("note", 0).
        self.lines: list[tuple[str, int]] = []
        self._custom: set[int] = set()  # rows of ``cells`` that are custom anchors
        #: Most body lines shown (None: all); set by the pane for its height.
        self.max_rows: int | None = None

    def show(self, quote: Quote) -> None:
        symbol, row, last, chg = quote.symbol, quote.levels, quote.last, quote.change
        color = "green" if chg > 0 else "red" if chg < 0 else None
        self.title = [(f"{symbol} ", BOLD), (fmt.price(last), Style(bold=True, color=color)),
                      (f"  {fmt.pct(chg)}", Style(color=color))]
        marks = {a: (PARTIAL_MARK if a in quote.partial else "") for a in ANCHORS}
        self.cells = [[anchor + marks[anchor], *(band_cell(anchor, b, row)
                                                 for b, _ in BAND_COLUMNS),
                       z_cell(anchor, row)] for anchor in ANCHORS]
        self._z_styles = [_z_style(row.get(f"avwap_{a}_z", float("nan"))) for a in ANCHORS]
        note = f"{PARTIAL_MARK} since {quote.since}: history loaded" if quote.partial else ""
        lines = [("row", i) for i in range(len(ANCHORS))] + ([("note", 0)] if note else [])
        self._custom = set()
        for c in quote.custom:
            mark = PARTIAL_MARK if c.partial and quote.since else ""
            self._custom.add(len(self.cells))
            lines.append(("row", len(self.cells)))
            self.cells.append([c.name + mark, *(fmt.price(c.values.get(b, float("nan")))
                                                for b, _ in BAND_COLUMNS),
                               fmt.sigma(c.values.get("z", float("nan")))])
            self._z_styles.append(_z_style(c.values.get("z", float("nan"))))
        for a in AUTO_ANCHORS:
            if f"avwap_{a}" not in row:
                continue
            lines.append(("row", len(self.cells)))
            self.cells.append([a, *(band_cell(a, b, row) for b, _ in BAND_COLUMNS),
                               z_cell(a, row)])
            self._z_styles.append(_z_style(row.get(f"avwap_{a}_z", float("nan"))))
        self.note = note
        self._set_lines(lines)
        self._changed()

    def show_empty(self, text: str) -> None:
        self.title, self.cells, self._z_styles = [(text, Style(dim=True))], [], []
        self.note, self._custom = "", set()
        self._set_lines([])
        self._changed()

    def _set_lines(self, lines: list[tuple[str, int]]) -> None:
        self.lines = lines
        height = 2 + max(len(ANCHORS), self.shown_lines)
        if self.styles.height is None or self.styles.height.value != height:
            self.styles.height = height

    def set_max_rows(self, rows: int | None) -> None:
        """Show at most ``rows`` body lines (the pane's height allows that many)."""
        if rows != self.max_rows:
            self.max_rows = rows
            self._set_lines(self.lines)
            self._changed()

    @property
    def shown_lines(self) -> int:
        """Body lines on screen (the rest are counted in the title)."""
        n = len(self.lines)
        return n if self.max_rows is None else min(n, max(self.max_rows, len(ANCHORS)))

    @property
    def more(self) -> int:
        """Anchor rows that do not fit the pane's height."""
        return len(self.lines) - self.shown_lines

    def _changed(self) -> None:
        self._layout = None
        self._strips.clear()
        self.refresh()

    def layout_for(self, width: int) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, int]]:
        """(shown column keys, hidden group labels, column widths) at ``width``."""
        if self._layout is not None and self._layout[0] == width:
            return self._layout[1:]
        need = {"anchor": 1 + max(len("Anchor"), *(len(r[0]) for r in self.cells)) + 1}
        for j, key in enumerate(TABLE_KEYS, start=1):
            need[key] = max(len(HEADERS[key]), *(len(r[j]) for r in self.cells)) + 1
        shown, hidden = fit_columns(need, width)
        # Spare cells go to the number columns (up to 4 each) so wide panes breathe.
        spare = width - need["anchor"] - sum(need[k] for k in shown)
        pad = min(4, spare // max(1, len(shown)))
        widths = {"anchor": need["anchor"], **{k: need[k] + pad for k in shown}}
        self._layout = (width, shown, hidden, widths)
        return shown, hidden, widths

    @property
    def hidden(self) -> tuple[str, ...]:
        """Column groups hidden at the current width (the tests read this)."""
        return self.layout_for(self.size.width)[1] if self.cells else ()

    def _title_line(self, width: int, base: Style) -> Strip:
        parts = list(self.title)
        if self.cells:
            hidden = self.layout_for(width)[1]
            if hidden:
                parts.append((f"  hidden: {' '.join(hidden)}", Style(dim=True)))
            if self.more:
                parts.append((f"  +{fmt.plural(self.more, 'row')}", Style(dim=True)))
        # Whole parts only: a price in the title is never cut either.
        segs: list[Segment] = []
        used = 0
        for text, style in parts:
            if used + len(text) > width and segs:
                break
            segs.append(Segment(text, base + style))
            used += len(text)
        return Strip(segs).extend_cell_length(width, base).crop(0, width)

    def _line(self, y: int, width: int) -> Strip:
        base = self.rich_style
        if y == 0:
            return self._title_line(width, base)
        if not self.cells:
            return Strip.blank(width, base)
        shown, _, widths = self.layout_for(width)
        if y == 1:
            cells = ["Anchor", *(HEADERS[k] for k in TABLE_KEYS)]
            styles = [BOLD] * len(cells)
        elif y - 2 < self.shown_lines and self.lines[y - 2][0] == "row":
            i = self.lines[y - 2][1]
            cells = self.cells[i]
            styles = [CUSTOM if i in self._custom else BOLD,
                      *(BOLD if b == "level" else Style() for b, _ in BAND_COLUMNS),
                      self._z_styles[i]]
        elif y - 2 < self.shown_lines:
            return Strip([Segment(" " + self.note, base + Style(dim=True))]).extend_cell_length(
                width, base).crop(0, width)
        else:
            return Strip.blank(width, base)
        segs = [Segment(" " + cells[0].ljust(widths["anchor"] - 2) + " ", base + styles[0])]
        for key, text, style in zip(TABLE_KEYS, cells[1:], styles[1:], strict=True):
            if key in shown:
                segs += [Segment(text.rjust(widths[key] - 1), base + style), Segment(" ", base)]
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


#: The legend on a narrow pane (all five lines still named).
LEGEND_SHORT = Text.assemble(
    ("━ price ", "white"), ("━ VWAP ", "cyan"), ("━ ±1σ ", "#ff8700"), ("━ ±2σ ", "red"),
    ("━ day", "magenta"),
)


#: Rows the chart keeps however many anchors the table lists.
CHART_MIN = 4


class AvwapPane(Vertical):
    """The table above the chart, for the highlighted symbol."""

    DEFAULT_CSS = """
    AvwapPane { height: 1fr; }
    AvwapPane > AvwapChart { height: 1fr; min-height: 4; }  /* CHART_MIN */
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

    def on_resize(self) -> None:
        legend = LEGEND if self.size.width >= LEGEND.cell_len + 2 else LEGEND_SHORT
        self.query_one("#avwap-legend", Static).update(legend)
        # The table grows by a row per anchor while the chart keeps its minimum.
        self.query_one(AvwapTable).set_max_rows(self.size.height - 2 - 1 - CHART_MIN)
