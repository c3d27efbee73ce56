"""A trade on its day: the symbol's closes, the strategy anchor's AVWAP and bands, entry and exit.

The levels are the engine's batch registry outputs on the cached panel
(``data.trade_day``, computed on the MLX thread by the screen); the entry and
exit are marked at their fill minutes. When the symbol's bars are gone from
the cache, the chart says so and the trade's figures stay readable.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.fmt import exchange_time
from tui.screens.backtests.data import TradeDay
from tui.widgets.chart import BrailleChart, Series

CLOSE = Style(color="#c9d1d9")
AVWAP = Style(color="#d29922", bold=True)
BAND1, BAND2 = Style(color="#58a6ff"), Style(color="#8957e5")
ENTRY, EXIT = Style(color="#3fb950", bold=True), Style(color="#f85149", bold=True)


def _at(ts: np.ndarray, when: np.datetime64) -> int | None:
    hit = np.flatnonzero(ts == when)
    return int(hit[0]) if len(hit) else None


def _marker(n: int, x: int | None, y: float) -> np.ndarray:
    out = np.full(n, np.nan)
    if x is not None and 0 <= x < n:
        out[x] = y
    return out


class TradeChartScreen(ModalScreen[None]):
    """The trade's day (see the module docstring); escape closes."""

    DEFAULT_CSS = """
    TradeChartScreen { align: center middle; }
    TradeChartScreen > Vertical {
        width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    TradeChartScreen #trade-title { height: auto; }
    TradeChartScreen #trade-chart { height: 1fr; }
    TradeChartScreen #trade-legend { height: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="trade.close"),
    ]

    def __init__(self, day: TradeDay, side: int, entry: np.datetime64, exit_: np.datetime64,
                 entry_price: float, exit_price: float, pnl: float, reason: str) -> None:
        super().__init__()
        self.day = day
        self.side, self.entry, self.exit = side, entry, exit_
        self.entry_price, self.exit_price, self.pnl, self.reason = (
            entry_price, exit_price, pnl, reason)
        self.entry_x = _at(day.ts, entry)
        self.exit_x = _at(day.ts, exit_)

    def compose(self) -> ComposeResult:
        d = self.day
        side = "long" if self.side > 0 else "short"
        title = Text.assemble(
            (f"{d.symbol} {d.day} · {side} · ", "bold"),
            ("▲ entry ", ENTRY), f"{exchange_time(self.entry)[11:]} @ {self.entry_price:,.2f}  ",
            ("▼ exit ", EXIT), f"{exchange_time(self.exit)[11:]} @ {self.exit_price:,.2f} "
            f"({self.reason})  PnL {self.pnl:,.2f}")
        with Vertical():
            yield Static(title, id="trade-title")
            if d.missing:
                yield Static(Text(d.missing + "; the trade's figures above are from the run.",
                                  style="bold yellow"), id="trade-missing")
            yield BrailleChart(id="trade-chart")
            yield Static(Text.assemble(("━ close  ", CLOSE), (f"━ AVWAP ({d.anchor})  ", AVWAP),
                                       ("━ ±1σ  ", BAND1), ("━ ±2σ  ", BAND2),
                                       ("● entry  ", ENTRY), ("● exit", EXIT)),
                         id="trade-legend")

    def on_mount(self) -> None:
        d = self.day
        n = len(d.ts)
        if not n:
            return
        series = [Series(d.levels[k], s) for k, s in (("up2", BAND2), ("dn2", BAND2),
                                                       ("up1", BAND1), ("dn1", BAND1),
                                                       ("avwap", AVWAP))]
        series.append(Series(d.close, CLOSE))
        series.append(Series(_marker(n, self.entry_x, self.entry_price), ENTRY))
        series.append(Series(_marker(n, self.exit_x, self.exit_price), EXIT))
        ticks = [(i, exchange_time(d.ts[i])[11:16]) for i in range(0, n, 60)]
        self.query_one(BrailleChart).plot(series, x_max=n, x_ticks=ticks)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
