"""Two marked runs side by side: every statistic, the difference, and both equity curves.

The curves share one time axis (the union of both runs' stored points; a run
without a point at a minute leaves a gap there), so runs over different
periods still compare where they overlap.
"""

from __future__ import annotations

import math

import numpy as np
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from tui.screens.backtests.data import LOWER_BETTER, RunDetail, fmt_stat
from tui.screens.backtests.run_view import SHOWN, day_ticks
from tui.widgets.chart import BrailleChart, Series

A_STYLE, B_STYLE = Style(color="#58a6ff"), Style(color="#ff8700")


def difference(name: str, a: float | None, b: float | None) -> tuple[str, str]:
    """``b − a`` as text and which run is better on it ("A", "B" or "")."""
    if a is None or b is None or any(math.isnan(x) or math.isinf(x) for x in (a, b)):
        return "–", ""
    d = b - a
    text = fmt_stat(name, d)
    if text and text[0] not in "+-–":  # a count said "++0" when it had its own sign
        text = "+" + text
    if d == 0:
        return text, ""
    better_b = d < 0 if name in LOWER_BETTER else d > 0
    return text, "B" if better_b else "A"


def compare_table(a: RunDetail, b: RunDetail) -> RichTable:
    t = RichTable(box=None, padding=(0, 1), expand=False)
    t.add_column("statistic", style="#8b949e", no_wrap=True)
    t.add_column(f"A: run {a.run_id}", justify="right", style=A_STYLE.color.name
                 if A_STYLE.color else None)
    t.add_column(f"B: run {b.run_id}", justify="right")
    t.add_column("B − A", justify="right")
    t.add_column("better")
    sa, sb = a.stats.get("all", {}), b.stats.get("all", {})
    for name in SHOWN:
        va, vb = sa.get(name), sb.get(name)
        diff, better = difference(name, va, vb)
        t.add_row(name.replace("_", " "), fmt_stat(name, va), fmt_stat(name, vb), diff, better)
    return t


def aligned(a: RunDetail, b: RunDetail) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both equity curves on the union of their time points (NaN where one has none)."""
    ts = np.union1d(a.equity_ts, b.equity_ts)
    ya, yb = np.full(len(ts), np.nan), np.full(len(ts), np.nan)
    ya[np.searchsorted(ts, a.equity_ts)] = a.equity
    yb[np.searchsorted(ts, b.equity_ts)] = b.equity
    return ts, _fill_inside(ya), _fill_inside(yb)


def _fill_inside(y: np.ndarray) -> np.ndarray:
    """Carry each value forward between a curve's first and last point (no line breaks)."""
    ok = np.isfinite(y)
    if not ok.any():
        return y
    idx = np.maximum.accumulate(np.where(ok, np.arange(len(y)), 0))
    out = y[idx]
    last = int(np.flatnonzero(ok)[-1])
    out[:int(np.flatnonzero(ok)[0])] = np.nan
    out[last + 1:] = np.nan
    return out


class CompareView(VerticalScroll):
    """``show(a, b)``: the side-by-side table and the two curves.

    The curves sit beside the table where there is room for them; on a narrower
    screen (``BacktestsScreen``'s ``-narrow``) under it, and the view scrolls:
    beside a 66-column table at 80x24 the curves had one column.
    """

    #: Columns the curves need beside the table (their price labels take 13).
    CURVES_MIN = 40
    DEFAULT_CSS = """
    CompareView { height: 1fr; }
    CompareView #cmp-head { height: auto; }
    CompareView #cmp-row { height: 1fr; }
    CompareView #cmp-table { width: auto; height: 1fr; overflow-y: auto;
                             scrollbar-gutter: stable; }
    CompareView #cmp-chart { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pair: tuple[RunDetail, RunDetail] | None = None

    def compose(self) -> ComposeResult:
        yield Static("Mark two runs in the Runs tab (m), then press c to compare them.",
                     id="cmp-head")
        with Horizontal(id="cmp-row"):
            yield Static("", id="cmp-table")
            with Vertical(id="cmp-curves"):
                yield Static("", id="cmp-legend")
                yield BrailleChart(id="cmp-chart")

    def show(self, a: RunDetail, b: RunDetail) -> None:
        self.pair = (a, b)
        self.query_one("#cmp-head", Static).update(Text(
            f"A: run {a.run_id} {a.run['strategy']} ({a.label})   vs   "
            f"B: run {b.run_id} {b.run['strategy']} ({b.label})", style="bold"))
        self.query_one("#cmp-table", Static).update(compare_table(a, b))
        self.query_one("#cmp-legend", Static).update(Text.assemble(
            (f"━ A: run {a.run_id}  ", A_STYLE), (f"━ B: run {b.run_id}", B_STYLE)))
        ts, ya, yb = aligned(a, b)
        self.query_one("#cmp-chart", BrailleChart).plot(
            [Series(ya, A_STYLE), Series(yb, B_STYLE)], x_max=max(len(ts), 2),
            x_ticks=day_ticks(ts))
