"""A braille line chart drawn with NumPy straight into Textual strips.

Why not plotext: profiling the console at ~650 symbols showed plotext's
``build()`` costing 40–60 ms for today's 7 series × 390 minutes at the pane's
size (plus ~5 ms to parse its ANSI back into text), all on the UI thread —
the single biggest source of frames over 100 ms. The chart needs far less than
a plotting library: lines on a braille canvas, a price axis and time ticks. Here
every segment of every series is rasterised in one vectorised pass (no Python
loop over points) and each terminal row becomes a handful of segments, so a
full redraw costs about a millisecond and the result is cached until the data
or the size changes.

``render_chart`` is a pure function (arrays in, strips out) so it can be tested
and timed without an app; ``BrailleChart`` is the widget that caches its output.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui import fmt

#: Braille dot bit for (x within the cell 0..1, y within the cell 0..3, top down).
_DOT_BITS = np.array([[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]], dtype=np.uint8)
_GLYPHS = np.array([" "] + [chr(0x2800 + k) for k in range(1, 256)], dtype="<U1")
AXIS = Style(color="#8b949e")


@dataclass(frozen=True)
class Series:
    """One line: ``y[k]`` is the value at x = k (NaN leaves a gap)."""

    y: np.ndarray
    style: Style


def raster_line(y: np.ndarray, xscale: float, yscale: float, lo: float, ph: int, *,
                x0: float = 0.0, joined: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y from the top) of ``y`` drawn as connected segments.

    ``y[k]`` is at x = ``x0 + k * xscale``; neighbours are joined when both are
    finite (and ``joined[k + 1]``, when given: a line restarting at a new
    anchor is not drawn as a stroke); lone points are dots. One vectorised
    pass, no Python loop over points (the candle chart draws its lines so too).
    """
    ok = np.isfinite(y)
    if not ok.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    x = np.arange(len(y), dtype=np.float64) * xscale + x0
    py = (ph - 1) - (np.where(ok, y, lo) - lo) * yscale
    seg = ok[:-1] & ok[1:]
    if joined is not None:
        seg &= joined[1:]
    sx, sy = x[:-1][seg], py[:-1][seg]
    dx, dy = x[1:][seg] - sx, py[1:][seg] - sy
    steps = np.ceil(np.maximum(np.abs(dx), np.abs(dy))).astype(np.int64) + 1
    owner = np.repeat(np.arange(len(steps)), steps)
    starts = np.cumsum(steps) - steps
    t = (np.arange(int(steps.sum())) - starts[owner]) / np.maximum(steps[owner] - 1, 1)
    xs = np.concatenate([sx[owner] + t * dx[owner], x[ok]])  # + lone points
    ys = np.concatenate([sy[owner] + t * dy[owner], py[ok]])
    return np.rint(xs).astype(np.int64), np.clip(np.rint(ys), 0, ph - 1).astype(np.int64)


def _y_range(series: Sequence[Series]) -> tuple[float, float]:
    finite = [s.y[np.isfinite(s.y)] for s in series]
    vals = np.concatenate(finite) if finite else np.zeros(0)
    if not len(vals):
        return 0.0, 1.0
    lo, hi = float(vals.min()), float(vals.max())
    pad = (hi - lo) * 0.04 or max(abs(hi) * 0.001, 0.01)
    return lo - pad, hi + pad


def render_chart(
    series: Sequence[Series],
    width: int,
    height: int,
    *,
    x_max: int,
    x_ticks: Sequence[tuple[int, str]] = (),
    base: Style | None = None,
    y_label: Callable[[float], str] = fmt.price,
) -> list[Strip]:
    """``height`` strips of ``width`` cells: the lines, a price axis and time ticks.

    x runs from 0 to ``x_max`` (exclusive is fine: a series shorter than that
    leaves the right part empty, as today's chart does before the close).
    """
    base = base or Style()
    if width < 12 or height < 4:
        return [Strip.blank(width, base) for _ in range(height)]
    lo, hi = _y_range(series)
    labels = [(hi - (hi - lo) * k / 4) for k in range(5)]
    texts = [y_label(v) for v in labels]
    lw = max(len(t) for t in texts)
    pw, ph = width - lw - 1, height - 2  # plot cells (left axis, bottom axis + labels)
    px_w, px_h = pw * 2, ph * 4
    xscale = (px_w - 1) / max(x_max - 1, 1)
    yscale = (px_h - 1) / (hi - lo)
    dots = np.zeros((ph, pw), np.uint8)
    owner = np.full((ph, pw), -1, np.int64)
    for k, s in enumerate(series):
        xs, ys = raster_line(np.asarray(s.y, np.float64), xscale, yscale, lo, px_h)
        keep = (xs >= 0) & (xs < px_w)
        xs, ys = xs[keep], ys[keep]
        cx, cy = xs // 2, ys // 4
        np.bitwise_or.at(dots, (cy, cx), _DOT_BITS[xs % 2, ys % 4])
        owner[cy, cx] = k  # the last series through a cell colours it
    glyphs = _GLYPHS[dots]
    label_row = {min(ph - 1, round(k * (ph - 1) / 4)): t for k, t in enumerate(texts)}
    axis = base + AXIS
    styles = [base + s.style for s in series]
    strips: list[Strip] = []
    for r in range(ph):
        label = label_row.get(r)
        segs = [Segment((label or "").rjust(lw), axis), Segment("┤" if label else "│", axis)]
        row_owner = owner[r]
        cuts = np.flatnonzero(np.diff(row_owner)) + 1
        bounds = np.r_[0, cuts, pw]
        chars = glyphs[r]
        for a, b in itertools.pairwise(bounds.tolist()):
            k = int(row_owner[a])
            segs.append(Segment("".join(chars[a:b]), styles[k] if k >= 0 else base))
        strips.append(Strip(segs, width))
    ticks = [(round(m * xscale) // 2, text) for m, text in x_ticks if 0 <= m < x_max + 1]
    axis_line = ["─"] * pw
    label_line = [" "] * (pw + 1)
    for col, text in ticks:
        if col < pw:
            axis_line[col] = "┬"
        start = max(0, min(col - len(text) // 2, pw + 1 - len(text)))
        if all(c == " " for c in label_line[max(0, start - 1):start + len(text)]):
            label_line[start:start + len(text)] = list(text)
    strips.append(Strip([Segment(" " * lw + "└" + "".join(axis_line), axis)], width))
    strips.append(Strip([Segment(" " * lw + "".join(label_line)[:pw + 1], axis)], width))
    return strips


class BrailleChart(Widget):
    """Caches ``render_chart`` output; redraws only when the data or the size changed."""

    DEFAULT_CSS = """
    BrailleChart { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._series: tuple[Series, ...] = ()
        self._x_max = 60
        self._x_ticks: tuple[tuple[int, str], ...] = ()
        self._strips: list[Strip] | None = None
        self._strips_size: tuple[int, int] = (0, 0)

    def plot(self, series: Sequence[Series], *, x_max: int,
             x_ticks: Sequence[tuple[int, str]] = ()) -> None:
        self._series, self._x_max, self._x_ticks = tuple(series), x_max, tuple(x_ticks)
        self._strips = None
        self.refresh()

    def on_resize(self) -> None:
        self._strips = None

    def render_line(self, y: int) -> Strip:
        size = (self.size.width, self.size.height)
        if self._strips is None or self._strips_size != size:
            self._strips = render_chart(self._series, *size, x_max=self._x_max,
                                        x_ticks=self._x_ticks, base=self.rich_style)
            self._strips_size = size
        return self._strips[y] if y < len(self._strips) else Strip.blank(size[0])
