"""A grid run's heatmap: two chosen swept parameters, cells coloured by a chosen statistic.

With more than two swept parameters, the others stay at the best combination's
values (the cell is one exact combination, which ``Enter`` opens). Colours run
red (worst) to green (best) over the cells shown; for drawdowns and costs,
lower is better.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from tui.screens.backtests.data import LOWER_BETTER, RunDetail, fmt_stat

STATS = ("sharpe", "total_return", "max_drawdown", "win_rate", "profit_factor", "trades",
         "sortino", "expectancy")
CELL = 11


def _colour(t: float) -> Style:
    """t in [0, 1]: red → yellow → green background."""
    t = min(1.0, max(0.0, t))
    r = int(200 if t < 0.5 else 200 - (t - 0.5) * 2 * 150)
    g = int(60 + t * 2 * 110 if t < 0.5 else 170)
    return Style(bgcolor=f"#{r:02x}{g:02x}40", color="black")


class Heatmap(Widget, can_focus=True):
    """See the module docstring; posts ``Opened(combo)`` on Enter."""

    DEFAULT_CSS = "Heatmap { height: 1fr; padding: 0 1; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1, 0)", "Left", show=False, id="heatmap.left"),
        Binding("right,l", "move(1, 0)", "Right", show=False, id="heatmap.right"),
        Binding("up,k", "move(0, -1)", "Up", show=False, id="heatmap.up"),
        Binding("down,j", "move(0, 1)", "Down", show=False, id="heatmap.down"),
        Binding("x", "next_param('x')", "X param", id="heatmap.x"),
        Binding("y", "next_param('y')", "Y param", id="heatmap.y"),
        Binding("t", "next_stat", "Statistic", id="heatmap.stat"),
        Binding("enter", "open", "Open combination", id="heatmap.open"),
    ]

    class Opened(Message):
        def __init__(self, combo: int) -> None:
            super().__init__()
            self.combo = combo

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: RunDetail | None = None
        self.x_param: str | None = None
        self.y_param: str | None = None
        self.stat = "sharpe"
        self.cx = self.cy = 0

    @property
    def swept(self) -> list[str]:
        if self.detail is None:
            return []
        return [k for k, v in self.detail.grid.items() if len(v) > 1]

    def show(self, detail: RunDetail) -> None:
        self.detail = detail
        swept = self.swept
        self.x_param = swept[0] if swept else None
        self.y_param = swept[1] if len(swept) > 1 else None
        self._cursor_to(int(detail.run["best"]))
        self.refresh()

    def _values(self, p: str | None) -> list[Any]:
        if p is None or self.detail is None:
            return [None]
        return list(self.detail.grid[p])

    def combo_at(self, cx: int, cy: int) -> int | None:
        """The combination in cell (cx, cy): the others at the best's values."""
        d = self.detail
        if d is None:
            return None
        best = d.combos[int(d.run["best"])]
        want = {k: best[k] for k in self.swept}
        xs, ys = self._values(self.x_param), self._values(self.y_param)
        if self.x_param is not None:
            want[self.x_param] = xs[cx]
        if self.y_param is not None:
            want[self.y_param] = ys[cy]
        for i, c in enumerate(d.combos):
            if all(c.get(k) == v for k, v in want.items()):
                return i
        return None

    def _cursor_to(self, combo: int) -> None:
        d = self.detail
        if d is None:
            return
        c = d.combos[combo]
        xs, ys = self._values(self.x_param), self._values(self.y_param)
        self.cx = xs.index(c[self.x_param]) if self.x_param in c else 0
        self.cy = ys.index(c[self.y_param]) if self.y_param in c else 0

    @property
    def cursor_combo(self) -> int | None:
        return self.combo_at(self.cx, self.cy)

    def cursor_text(self) -> str:
        """What the cell under the cursor is: its parameter values and statistic."""
        d, cb = self.detail, self.cursor_combo
        if d is None or cb is None:
            return ""
        combo = d.combos[cb]
        vals = ", ".join(f"{k}={combo[k]}" for k in d.grid)
        value = d.all_stats.get(cb, {}).get(self.stat)
        return f"{vals} → {self.stat} {fmt_stat(self.stat, value)} (combination {cb + 1})"

    def render(self) -> Text:
        d = self.detail
        if d is None:
            return Text("Open a grid run (Runs tab, Enter), then press g.")
        if not self.swept:
            return Text(f"Run {d.run_id} swept no parameter: no heatmap (one combination).")
        xs, ys = self._values(self.x_param), self._values(self.y_param)
        cells = [[self.combo_at(i, j) for i in range(len(xs))] for j in range(len(ys))]
        vals = [d.all_stats.get(c, {}).get(self.stat, math.nan) if c is not None else math.nan
                for row in cells for c in row]
        finite = [v for v in vals if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        out = Text()
        out.append(f"{self.stat}", style="bold")
        out.append(f" by {self.x_param} (x) and {self.y_param or '—'} (y)"
                   "   keys: x/y parameter · t statistic · Enter open\n", style="#8b949e")
        lw = max(len(str(self.y_param or "")), *(len(str(v)) for v in ys), 4) + 1
        out.append(" " * lw + "".join(str(v).center(CELL) for v in xs) + "\n", style="bold")
        for j, yv in enumerate(ys):
            out.append(str("" if yv is None else yv).rjust(lw - 1) + " ", style="bold")
            for i in range(len(xs)):
                c = cells[j][i]
                v = d.all_stats.get(c, {}).get(self.stat, math.nan) if c is not None \
                    else math.nan
                if math.isfinite(v):
                    t = (v - lo) / (hi - lo) if hi > lo else 0.5
                    if self.stat in LOWER_BETTER:
                        t = 1.0 - t
                    style = _colour(t)
                else:
                    style = Style(color="#8b949e")
                if (i, j) == (self.cx, self.cy):
                    style = style + Style(bold=True, underline=True, reverse=self.has_focus)
                text = fmt_stat(self.stat, v if c is not None else None)
                mark = "*" if c == int(d.run["best"]) else " "
                out.append((mark + text).center(CELL - 1)[:CELL - 1], style=style)
                out.append(" ")
            out.append("\n")
        out.append("\n" + self.cursor_text(), style="bold")
        out.append("\n* the best combination (by " + str(d.run.get("rank_by")) + ")",
                   style="#8b949e")
        return out

    # -- keys --------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        xs, ys = self._values(self.x_param), self._values(self.y_param)
        self.cx = max(0, min(len(xs) - 1, self.cx + dx))
        self.cy = max(0, min(len(ys) - 1, self.cy + dy))
        self.refresh()

    def action_next_param(self, axis: str) -> None:
        swept = self.swept
        if not swept:
            return
        keep = self.cursor_combo
        if axis == "x":
            options = [p for p in swept if p != self.y_param] or swept
            cur = self.x_param
            self.x_param = options[(options.index(cur) + 1) % len(options)
                                   if cur in options else 0]
        else:
            options = [p for p in swept if p != self.x_param]
            if not options:
                return
            cur = self.y_param
            self.y_param = options[(options.index(cur) + 1) % len(options)
                                   if cur in options else 0]
        if keep is not None:
            self._cursor_to(keep)
        self.refresh()

    def action_next_stat(self) -> None:
        self.stat = STATS[(STATS.index(self.stat) + 1) % len(STATS)] \
            if self.stat in STATS else STATS[0]
        self.refresh()

    def action_open(self) -> None:
        cb = self.cursor_combo
        if cb is not None:
            self.post_message(self.Opened(cb))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
