"""The chart screen's view state: which bars are shown, the zoom and the crosshair.

Why apart from the screen: moving the cursor, zooming and panning are small
integer rules (keep the cursor in view, keep the right edge on the newest bar
while following live minutes) that the tests check without an app, and the
screen only turns them into a ``CandleChart.plot`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui import fmt
from tui.views import CandleData

#: Zoom ladder: (cells per bar, bars per cell). Above one bar per cell the
#: chart merges a column's bars into one OHLC bar.
ZOOMS: tuple[tuple[int, int], ...] = (
    (3, 1), (2, 1), (1, 1), (1, 2), (1, 3), (1, 5), (1, 10), (1, 15), (1, 30), (1, 60),
)
DEFAULT_ZOOM = 2
#: The ``d`` key's spans: sessions shown (None: every loaded session).
SPANS: tuple[tuple[int | None, str], ...] = (
    (1, "today"), (2, "2 sessions"), (5, "5 sessions"), (10, "10 sessions"), (None, "all loaded"),
)


@dataclass
class ChartView:
    """Cursor, right edge and zoom over ``n`` bars (all indices are bars)."""

    n: int = 0
    cursor: int = 0
    stop: int = 0  # exclusive right edge of the window
    zoom: int = DEFAULT_ZOOM
    follow: bool = True  # the right edge stays on the newest bar

    @property
    def cells_per_bar(self) -> int:
        return ZOOMS[self.zoom][0]

    @property
    def bars_per_cell(self) -> int:
        return ZOOMS[self.zoom][1]

    def capacity(self, pw: int) -> int:
        """Bars that fit in ``pw`` plot columns at this zoom."""
        cpb, bpc = ZOOMS[self.zoom]
        return max(1, (max(pw, 1) // cpb) * bpc)

    def window(self, pw: int) -> tuple[int, int]:
        """(start, stop) of the bars shown."""
        if self.follow:
            self.stop = self.n
        stop = min(max(self.stop, 0), self.n)
        start = max(0, stop - self.capacity(pw))
        if self.bars_per_cell > 1:  # columns on fixed bar groups, so a column's bars stay put
            start += -start % self.bars_per_cell
        return start, stop

    def reset(self, n: int) -> None:
        """New data: cursor on the last bar, the window on the newest bars."""
        self.n, self.cursor, self.stop, self.follow = n, max(0, n - 1), n, True

    def grow(self, n: int) -> None:
        """Bars were appended: a cursor on the last bar follows it, as does the window."""
        at_end = self.cursor >= self.n - 1
        self.n = n
        if at_end:
            self.cursor = max(0, n - 1)
        if self.follow:
            self.stop = n

    def _show_cursor(self, pw: int) -> None:
        start, stop = self.window(pw)
        if self.cursor >= stop:
            self.stop = self.cursor + 1
        elif self.cursor < start:
            self.stop = min(self.n, self.cursor + self.capacity(pw))
        self.follow = self.stop >= self.n

    def move(self, delta: int, pw: int) -> None:
        if not self.n:
            return
        self.cursor = int(np.clip(self.cursor + delta, 0, self.n - 1))
        self._show_cursor(pw)

    def jump(self, index: int, pw: int) -> None:
        if not self.n:
            return
        self.cursor = int(np.clip(index if index >= 0 else self.n + index, 0, self.n - 1))
        self._show_cursor(pw)

    def zoom_by(self, step: int, pw: int) -> bool:
        """+1 zooms out (more bars per cell), -1 in; the cursor stays in view."""
        z = int(np.clip(self.zoom + step, 0, len(ZOOMS) - 1))
        if z == self.zoom:
            return False
        self.zoom = z
        if not self.follow:  # keep the cursor where it was, roughly centred
            half = self.capacity(pw) // 2
            self.stop = min(self.n, max(self.cursor + half, self.capacity(pw)))
            self.follow = self.stop >= self.n
        self._show_cursor(pw)
        return True

    def pan(self, direction: int, pw: int) -> None:
        """Half a window left (-1) or right (+1); the cursor is carried along if it falls out."""
        cap = self.capacity(pw)
        self.window(pw)
        self.stop = int(np.clip(self.stop + direction * max(1, cap // 2), min(cap, self.n), self.n))
        self.follow = self.stop >= self.n
        start, stop = self.window(pw)
        if stop > start:
            self.cursor = int(np.clip(self.cursor, start, stop - 1))


def readout(data: CandleData, i: int, lines: list[tuple[str, str]]) -> str:
    """The crosshair line: bar ``i``'s exchange time, OHLCV and ``lines``' levels.

    ``lines`` are (level key, label) of the lines shown; a level that is NaN at
    the bar (an anchor that starts later) reads "—".
    """
    if not 0 <= i < len(data):
        return "no bar"
    parts = [fmt.exchange_time(data.ts[i]),
             f"O {fmt.price(float(data.open[i]))}", f"H {fmt.price(float(data.high[i]))}",
             f"L {fmt.price(float(data.low[i]))}", f"C {fmt.price(float(data.close[i]))}",
             f"V {fmt.volume(float(data.volume[i]))}"]
    levels = [f"{label} {fmt.price(float(data.levels[key][i]))}"
              for key, label in lines if key in data.levels]
    return "  ".join(parts) + ("  │ " + "  ".join(levels) if levels else "")
