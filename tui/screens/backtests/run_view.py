"""One run: its statistics, the equity curve with the drawdown under it, per symbol, trades.

Renders a ``RunDetail`` (``data.py``); nothing here computes a statistic, it
shows the backtester's. The trades table is virtual (``table.Table``), so a
run with 10,000 trades opens as fast as one with ten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui.fmt import exchange_time
from tui.screens.backtests.data import RunDetail, fmt_stat
from tui.screens.backtests.table import Column, Table
from tui.widgets.chart import BrailleChart, Series

EQUITY, DRAWDOWN = Style(color="#58a6ff"), Style(color="#f85149")
#: Statistics shown in the run's panel, in this order (the backtester's names).
SHOWN = ("total_return", "annualized_return", "sharpe", "sortino", "calmar", "max_drawdown",
         "max_drawdown_minutes", "trades", "closed_trades", "win_rate", "profit_factor",
         "expectancy", "avg_win", "avg_loss", "best_trade", "worst_trade",
         "avg_holding_minutes", "exposure", "fees_paid", "slippage_paid", "start_value",
         "end_value")
SYMBOL_STATS = ("total_return", "sharpe", "max_drawdown", "trades", "win_rate", "profit_factor",
                "fees_paid")


def day_ticks(ts: np.ndarray, most: int = 8) -> list[tuple[int, str]]:
    """x ticks at the first point of each exchange day (at most ``most``)."""
    if not len(ts):
        return []
    days = ts.astype("datetime64[D]")
    starts = np.r_[0, np.flatnonzero(days[1:] != days[:-1]) + 1]
    step = max(1, -(-len(starts) // most))
    return [(int(i), str(days[i])[5:]) for i in starts[::step]]


def stats_table(detail: RunDetail) -> RichTable:
    periods = [p for p in ("all", "in", "out") if p in detail.stats]
    t = RichTable(box=None, padding=(0, 1), show_header=len(periods) > 1, expand=False)
    t.add_column("statistic", style="#8b949e", no_wrap=True)
    for p in periods:
        t.add_column({"all": "all", "in": "in-sample", "out": "out-of-sample"}[p],
                     justify="right", no_wrap=True)
    for name in SHOWN:
        t.add_row(name.replace("_", " "),
                  *(fmt_stat(name, detail.stats[p].get(name)) for p in periods))
    return t


def trade_columns(detail: RunDetail) -> list[Column]:
    tr = detail.trades
    return [
        Column("symbol", "symbol", 6, tr.symbol),
        Column("side", "side", 5, tr.direction, lambda d: "long" if d > 0 else "short"),
        Column("entry", "entry (ET)", 16, tr.entry_ts, lambda t: exchange_time(t)[:16]),
        Column("entry_price", "entry $", 9, tr.entry_price, lambda v: f"{v:,.2f}", True),
        Column("exit", "exit", 5, tr.exit_ts, lambda t: exchange_time(t)[11:16]),
        Column("exit_price", "exit $", 9, tr.exit_price, lambda v: f"{v:,.2f}", True),
        Column("pnl", "PnL", 9, tr.pnl, lambda v: f"{v:,.2f}", True),
        Column("ret", "return", 7, tr.ret, lambda v: f"{v * 100:.2f}%", True),
        Column("minutes", "min", 5, tr.holding_minutes, lambda v: f"{v:,}", True),
        Column("reason", "exit reason", 12, tr.reason),
    ]


def stat_fmt(name: str) -> Callable[[Any], str]:
    """How a column of statistic ``name`` shows a value."""
    return lambda v: fmt_stat(name, float(v))


def symbol_columns(detail: RunDetail) -> tuple[list[Column], np.ndarray]:
    syms = np.array(sorted(detail.symbol_stats), dtype=object)
    cols = [Column("symbol", "symbol", 6, syms)]
    for name in SYMBOL_STATS:
        vals = np.array([detail.symbol_stats[s].get(name, np.nan) for s in syms], np.float64)
        cols.append(Column(name, {"total_return": "return", "max_drawdown": "max DD",
                                  "win_rate": "win %", "profit_factor": "PF",
                                  "fees_paid": "fees"}.get(name, name), 8, vals,
                           stat_fmt(name), True))
    return cols, syms


class RunView(Vertical):
    """The selected run (see the module docstring); ``show(detail)`` fills it."""

    DEFAULT_CSS = """
    RunView { height: 1fr; }
    RunView #run-head { height: auto; }  /* wraps: at 80x24 its end date was cut */
    RunView #run-top { height: 1fr; min-height: 10; }
    RunView #run-stats { width: auto; min-width: 38; height: 1fr;
                         overflow-y: auto; scrollbar-gutter: stable; }
    RunView #run-curves { width: 1fr; }
    RunView #chart-equity { height: 2fr; }
    RunView #chart-drawdown { height: 1fr; min-height: 4; }
    RunView #run-bottom { height: 1fr; min-height: 6; }
    RunView #run-symbols { width: 1fr; }
    RunView #run-trades { width: 1fr; }
    RunView .legend { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: RunDetail | None = None
        self._head = ""

    def compose(self) -> ComposeResult:
        yield Static("Open a run from the Runs tab (Enter).", id="run-head")
        with Horizontal(id="run-top"):
            yield Static("", id="run-stats")
            with Vertical(id="run-curves"):
                yield Static(Text("━ equity", EQUITY), classes="legend")
                yield BrailleChart(id="chart-equity")
                yield Static(Text("━ drawdown %", DRAWDOWN), classes="legend")
                yield BrailleChart(id="chart-drawdown")
        with Horizontal(id="run-bottom"):
            yield Table(id="run-symbols", empty="per-symbol figures: best combination only")
            yield Table(id="run-trades", empty="no trades")

    def note(self, text: str | None) -> None:
        """A word after the run's head line (a trade being opened), or none."""
        head = Text(self._head, style="bold")
        if text:
            head.append(f" · {text}", style="bold #d29922")
        self.query_one("#run-head", Static).update(head)

    def show(self, detail: RunDetail) -> None:
        self.detail = detail
        run = detail.run
        grid = f" · combination {detail.combo + 1} of {len(detail.combos)}" \
            if len(detail.combos) > 1 else ""
        skipped = f" · skipped: {', '.join(run['skipped'])}" if run.get("skipped") else ""
        self._head = (f"run {detail.run_id} · {run['strategy']} · {detail.label}{grid} · "
                      f"{len(run['symbols'])} symbols {run['start_date']} → {run['end_date']}"
                      f"{skipped}")
        self.note(None)
        self.query_one("#run-stats", Static).update(stats_table(detail))
        ticks = day_ticks(detail.equity_ts)
        n = max(len(detail.equity), 2)
        self.query_one("#chart-equity", BrailleChart).plot(
            [Series(detail.equity, EQUITY)], x_max=n, x_ticks=ticks)
        self.query_one("#chart-drawdown", BrailleChart).plot(
            [Series(detail.drawdown * 100.0, DRAWDOWN)], x_max=n, x_ticks=ticks)
        cols, syms = symbol_columns(detail)
        symbols = self.query_one("#run-symbols", Table)
        symbols.set_data(cols, syms)
        # Half the width at most, and no more than its columns (and its scrollbar) need:
        # at a fixed 62 it hid its last columns at 200x50 and left the trades 16 columns
        # (symbol and side) at 80x24.
        symbols.styles.max_width = symbols.virtual_size.width + 2
        tr = detail.trades
        self.query_one("#run-trades", Table).set_data(
            trade_columns(detail), np.arange(len(tr)), np.sign(tr.pnl).astype(np.int8))
