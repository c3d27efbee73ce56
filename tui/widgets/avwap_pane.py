"""The AVWAP pane: every anchor's level and ±1/2/3σ bands, and today's chart.

Why two parts: the table answers "where is price against each anchor right now"
(read off the Snapshot, nothing recomputed), the chart answers "how did it get
there today" (the controller's per-minute series of close, session AVWAP with
±1/2σ and day AVWAP). The chart is the costly part, so it redraws only when the
symbol or the minute changed.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui import fmt
from tui.alerts import ANCHORS, output_name
from tui.controller import Frame

#: Table columns after the anchor name: band -> header.
BAND_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dn3", "−3σ"), ("dn2", "−2σ"), ("dn1", "−1σ"), ("level", "AVWAP"),
    ("up1", "+1σ"), ("up2", "+2σ"), ("up3", "+3σ"),
)


def band_cell(anchor: str, band: str, snap_row: dict[str, float]) -> str:
    """The table text for one anchor/band (tests format the Snapshot the same way)."""
    return fmt.price(snap_row.get(output_name(anchor, band), float("nan")))


def z_cell(anchor: str, snap_row: dict[str, float]) -> str:
    return fmt.sigma(snap_row.get(f"avwap_{anchor}_z", float("nan")))


class AvwapTable(Static):
    """Levels and bands of every calendar anchor for one symbol."""

    table: Table | None = None  # the last table shown (the tests read its cells)

    def show(self, symbol: str, frame: Frame) -> None:
        snap = frame.snapshot
        row = snap.row(symbol)
        i = snap.symbols.index(symbol)
        last = float(snap.last[i])
        chg = float(frame.change_pct[i])
        title = Text.assemble(
            (f"{symbol} ", "bold"),
            (fmt.price(last), "bold green" if chg > 0 else "bold red" if chg < 0 else "bold"),
            (f"  {fmt.pct(chg)}", "green" if chg > 0 else "red" if chg < 0 else ""),
        )
        table = Table(title=title, title_justify="left", expand=True, box=None, padding=(0, 1))
        table.add_column("Anchor", style="bold")
        for _, header in BAND_COLUMNS:
            table.add_column(header, justify="right",
                             style="bold" if header == "AVWAP" else "")
        table.add_column("z", justify="right")
        for anchor in ANCHORS:
            z = row.get(f"avwap_{anchor}_z", float("nan"))
            cells: list[Text | str] = [band_cell(anchor, b, row) for b, _ in BAND_COLUMNS]
            z_style = "" if not np.isfinite(z) else (
                "bold reverse green" if z >= 2 else "bold reverse red" if z <= -2 else
                "green" if z > 0 else "red")
            table.add_row(anchor, *cells, Text(z_cell(anchor, row), style=z_style))
        self.table = table
        self.update(table)

    def show_empty(self, text: str) -> None:
        self.update(Text(text, style="dim"))


class AvwapChart(PlotextPlot):
    """Today's close with the session AVWAP, its ±1/2σ bands and the day AVWAP."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple[str, int] | None = None

    def show(self, symbol: str, series: dict[str, np.ndarray]) -> None:
        n = len(series.get("close", ()))
        key = (symbol, n)
        if key == self._key:
            return
        self._key = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        x = np.arange(n)
        lines = (
            ("avwap_session_up2", "session +2σ", "red"),
            ("avwap_session_up1", "session +1σ", "orange"),
            ("avwap_session", "session AVWAP", "cyan"),
            ("avwap_session_dn1", "session −1σ", "orange"),
            ("avwap_session_dn2", "session −2σ", "red"),
            ("avwap_day", "day AVWAP", "magenta"),
            ("close", "price", "white"),
        )
        for name, _label, color in lines:
            y = series.get(name)
            if y is None or not len(y):
                continue
            ok = np.isfinite(y)
            if ok.any():
                plt.plot(x[ok].tolist(), y[ok].astype(float).tolist(),
                         color=color, marker="braille")
        ticks = [m for m in range(0, 391, 60) if m <= max(n, 1)]
        plt.xticks(ticks, [f"{9 + (30 + m) // 60}:{(30 + m) % 60:02d}" for m in ticks])
        plt.xlim(0, max(n, 60))
        self.refresh()


LEGEND = Text.assemble(
    ("today: ", "bold"), ("━ price  ", "white"), ("━ session AVWAP  ", "cyan"),
    ("━ ±1σ  ", "#ff8700"), ("━ ±2σ  ", "red"), ("━ day AVWAP", "magenta"),
)


class AvwapPane(Vertical):
    """The table above the chart, for the highlighted symbol."""

    DEFAULT_CSS = """
    AvwapPane { height: 1fr; }
    AvwapPane > AvwapTable { height: auto; }
    AvwapPane > AvwapChart { height: 1fr; min-height: 8; }
    AvwapPane > #avwap-legend { height: 1; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield AvwapTable("waiting for the first minute…", id="avwap-table")
        yield Static(LEGEND, id="avwap-legend")
        yield AvwapChart(id="avwap-chart")

    def show(self, symbol: str, frame: Frame, series: dict[str, np.ndarray],
             *, chart: bool = True) -> None:
        if symbol not in frame.snapshot.symbols:
            self.query_one(AvwapTable).show_empty(f"{symbol}: no data")
            return
        self.query_one(AvwapTable).show(symbol, frame)
        if chart:
            self.query_one(AvwapChart).show(symbol, series)
