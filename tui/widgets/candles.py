"""Candles (or OHLC bars), volume, AVWAP overlays and a crosshair, drawn with NumPy.

Why hand-rasterised like ``tui.widgets.chart``: the chart screen redraws on
every cursor move and every live minute, on the UI thread, at up to 200×50
cells; a plotting library costs tens of milliseconds there. Here each part is
one vectorised pass over a ``[rows, columns]`` grid:

- **candles** at half-cell price resolution: each cell row is two price steps,
  and a cell's glyph comes from what covers its top and bottom halves (body
  ``█▀▄``, wick ``│╵╷``, doji ``─┼``), so a body ending mid-cell shows it;
- **OHLC bars** when a cell holds several bars (zoomed out): the column's bars
  are merged (first open, highest high, lowest low, last close) and drawn as a
  range ``│`` with the open tick ``┤`` on the left and the close tick ``├`` on
  the right (``┼`` when both fall in one cell);
- **volume** under the price in eighth blocks ``▁▂▃▄▅▆▇█``;
- **overlays** (AVWAP levels and bands) as braille lines over the candles in
  their own colours, with gaps at NaN and off-scale values;
- a **crosshair** column with a highlighted background and the cursor bar's
  close marked on the price axis.

Each row then becomes a few segments of equal style. ``render_candles`` is pure
(arrays in, strips out); ``CandleChart`` caches its strips until the data, the
view or the size changes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui import fmt
from tui.widgets.chart import _DOT_BITS, _GLYPHS, raster_line

UP, DOWN = Style(color="#26a69a"), Style(color="#ef5350")
UP_VOL, DOWN_VOL = Style(color="#1b6b64"), Style(color="#8c3533")
AXIS = Style(color="#8b949e")
CURSOR_BG = "#30363d"
CROSS = Style(color="#6e7681")
CURSOR_LABEL = Style(color="#0d1117", bgcolor="#c9d1d9", bold=True)

#: Half-cell codes: 0 empty, 1 wick, 2 body, 3 doji (open == close).
#: Glyph of a cell by (top half code) * 4 + (bottom half code).
_CANDLE_GLYPHS = np.array(list(" ╷▄─" "╵│▄┼" "▀▀█─" "─┼▀─"), dtype="<U1")
_VOL_GLYPHS = np.array(list(" ▁▂▃▄▅▆▇█"), dtype="<U1")
#: A wide candle's outer cells by (body in the top half) + 2 × (in the bottom half):
#: the body's right half on the left cell, its left half on the right cell.
_LEFT_SIDE = np.array(list(" ▝▗▐"), dtype="<U1")
_RIGHT_SIDE = np.array(list(" ▘▖▌"), dtype="<U1")
#: OHLC bar codes: 1 range, 2 open tick, 3 close tick, 4 both.
_OHLC_GLYPHS = np.array(list(" │┤├┼"), dtype="<U1")


@dataclass(frozen=True)
class Overlay:
    """One line over the candles: ``y[k]`` at bar ``k`` of the data (NaN: a gap).

    ``scale``: whether the line widens the price range (levels do, bands do not,
    so a far 3σ band never squashes the candles).
    """

    y: np.ndarray
    style: Style
    scale: bool = True
    #: Named at the plot's top or bottom edge when its last value shown is off the scale.
    label: str = ""
    #: ``[T]`` True where the line restarts (a new session for the session AVWAP):
    #: not joined to the bar before, so a reset is not drawn as a vertical stroke.
    breaks: np.ndarray | None = None


@dataclass(frozen=True)
class Bars:
    """The OHLCV arrays the chart draws (``[T]``, oldest first) and their time ticks."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    day: np.ndarray | None = None  # datetime64[D] exchange date, for the date ticks
    minute: np.ndarray | None = None  # minutes since the 09:30 open, for the hour ticks

    def __len__(self) -> int:
        return len(self.close)


def nice_step(span: float, count: int) -> float:
    """A round price step (1, 2, 2.5, 5 × 10^k) giving about ``count`` labels over ``span``."""
    if not span > 0 or count < 1:
        return 1.0
    raw = span / count
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw:
            return m * mag
    return 10.0 * mag


def axis_width(bars: Bars) -> int:
    """Cells of the right price axis: the widest price label of the data, plus the rule."""
    finite = bars.high[np.isfinite(bars.high)]
    top = float(finite.max()) if len(finite) else 0.0
    return max(len(fmt.price(top)), len(fmt.price(top * 1.1)), 6) + 1


def plot_width(width: int, bars: Bars) -> int:
    return max(0, width - axis_width(bars))


def volume_rows(height: int) -> int:
    """Rows for volume under the price: none on a tiny chart, about a sixth otherwise."""
    return 0 if height < 10 else max(2, height // 6)


def visible_bars(pw: int, cells_per_bar: int, bars_per_cell: int) -> int:
    """How many bars fit in ``pw`` plot columns at this zoom."""
    return max(1, (pw // max(1, cells_per_bar)) * max(1, bars_per_cell))


def _groups(bars: Bars, start: int, stop: int, bpc: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close, volume) per column: ``bpc`` bars merged into one."""
    sl = slice(start, stop)
    o, h, lo, c, v = (np.asarray(a[sl], np.float64) for a in
                      (bars.open, bars.high, bars.low, bars.close, bars.volume))
    if bpc <= 1:
        return o, h, lo, c, v
    idx = np.arange(0, len(c), bpc)
    last = np.minimum(idx + bpc - 1, len(c) - 1)
    return (o[idx], np.fmax.reduceat(h, idx), np.fmin.reduceat(lo, idx), c[last],
            np.add.reduceat(np.nan_to_num(v), idx))


def _price_range(h: np.ndarray, lo: np.ndarray, overlays: Sequence[np.ndarray]
                 ) -> tuple[float, float]:
    """The candles' range, widened for lines within one candle range of it.

    Why not every line: a month AVWAP a few percent away would squash today's
    candles into a few rows; such a line is named at the plot's edge instead.
    """
    bars = np.concatenate([h, lo])
    bars = bars[np.isfinite(bars)]
    if not len(bars):
        return 0.0, 1.0
    a, b = float(bars.min()), float(bars.max())
    reach = max(b - a, abs(b) * 0.002)
    for y in overlays:
        y = y[np.isfinite(y)]
        near = y[(y >= a - reach) & (y <= b + reach)]
        if len(near):
            a, b = min(a, float(near.min())), max(b, float(near.max()))
    pad = (b - a) * 0.03 or max(abs(b) * 0.001, 0.01)
    return a - pad, b + pad


def _time_labels(bars: Bars, start: int, stop: int, col_of: np.ndarray, pw: int) -> str:
    """The time row: a date at each new exchange day, the hour at each full hour."""
    line = [" "] * pw
    if bars.day is None or bars.minute is None or stop <= start:
        return "".join(line)
    day = bars.day[start:stop]
    minute = bars.minute[start:stop]
    new_day = np.r_[True, day[1:] != day[:-1]]
    hour = ((minute + 30) % 60 == 0) & ~new_day
    picks = [(k, True) for k in np.flatnonzero(new_day)] + [(k, False) for k in
                                                          np.flatnonzero(hour)]
    for k, is_day in picks:  # dates first: they win over hours where both would collide
        col = int(col_of[k])
        if is_day:
            text = str(day[k])[5:].replace("-", "/")
        else:
            m = int(minute[k]) + 9 * 60 + 30
            text = f"{m // 60}:{m % 60:02d}"
        a, b = col, col + len(text)
        if b > pw or any(ch != " " for ch in line[max(0, a - 1):min(pw, b + 1)]):
            continue
        line[a:b] = list(text)
    return "".join(line)


def _edge_labels(shown: Sequence[Overlay], start: int, stop: int, pmin: float, pmax: float,
                 glyph: np.ndarray, sid: np.ndarray, n0: int) -> None:
    """Name each labelled line whose last value shown is off the scale, at the top
    (above) or bottom (below) row of the plot, right-aligned, in its colour."""
    ph, pw = glyph.shape
    top, bottom = 0, ph - 1
    for k, ov in enumerate(shown):
        if not ov.label:
            continue
        y = np.asarray(ov.y[start:stop], np.float64)
        y = y[np.isfinite(y)]
        if not len(y) or pmin <= y[-1] <= pmax:
            continue
        above = bool(y[-1] > pmax)
        text = f"{'↑' if above else '↓'}{ov.label} {fmt.price(float(y[-1]))}"
        row = top if above else bottom
        if len(text) > pw or not 0 <= row < ph or top > bottom:
            continue
        glyph[row, pw - len(text):] = list(text)
        sid[row, pw - len(text):] = n0 + k * 3
        if above:
            top += 1
        else:
            bottom -= 1


def render_candles(
    bars: Bars,
    width: int,
    height: int,
    *,
    start: int,
    stop: int,
    cells_per_bar: int = 1,
    bars_per_cell: int = 1,
    overlays: Sequence[Overlay] = (),
    cursor: int | None = None,
    base: Style | None = None,
) -> list[Strip]:
    """``height`` strips of ``width`` cells: bars ``[start, stop)`` of ``bars`` and their volume.

    One bar takes ``cells_per_bar`` columns (the candle in the first) or, when
    ``bars_per_cell`` > 1, that many bars share a column as one OHLC bar.
    ``cursor`` is a bar index into ``bars`` (None: no crosshair).
    """
    base = base or Style()
    aw = axis_width(bars)
    pw = width - aw
    vh = volume_rows(height)
    ph = height - vh - 1
    if pw < 4 or ph < 2 or stop <= start:
        return [Strip.blank(width, base) for _ in range(height)]
    cpb = max(1, cells_per_bar) if bars_per_cell <= 1 else 1
    bpc = max(1, bars_per_cell)
    o, h, lo, c, v = _groups(bars, start, stop, bpc)
    ncol = len(c)
    cols = np.arange(ncol) * cpb
    mid = 1 if cpb >= 3 else 0  # a wide candle's middle cell (its wick, volume, cursor)
    fits = cols + 2 * mid < pw
    o, h, lo, c, v, cols = o[fits], h[fits], lo[fits], c[fits], v[fits], cols[fits]
    shown = [ov for ov in overlays if len(ov.y) >= stop]
    scaled = [np.asarray(ov.y[start:stop], np.float64) for ov in shown if ov.scale]
    pmin, pmax = _price_range(h, lo, scaled)
    span = pmax - pmin

    # -- candles / OHLC bars -------------------------------------------------
    glyph = np.full((ph, pw), " ", dtype="<U1")
    # style ids: see ``styles`` below (overlays after the fixed ones)
    sid = np.zeros((ph + vh, pw), np.int64)
    up = c >= o
    ok = np.isfinite(h) & np.isfinite(lo)
    colour = np.where(up, 1, 2)

    def sub(p: np.ndarray, n: int) -> np.ndarray:  # price -> sub-row from the top
        y = np.floor((pmax - np.nan_to_num(p, nan=pmin)) / span * n)
        return np.clip(y, 0, n - 1).astype(np.int64)

    if bpc <= 1:
        s = 2 * ph
        wt, wb = sub(h, s), sub(lo, s)
        bt, bb = sub(np.fmax(o, c), s), sub(np.fmin(o, c), s)
        doji = o == c
        ys = np.arange(s)[:, None]
        code = np.where((ys >= bt) & (ys <= bb), 2, np.where((ys >= wt) & (ys <= wb), 1, 0))
        code = np.where(doji & (ys == bt), 3, code) * ok
        cell = code[0::2] * 4 + code[1::2]
        if mid:  # a wide candle: the wick in the middle cell, the body on three
            glyph[:, cols + 1] = _CANDLE_GLYPHS[cell]
            sid[:ph, cols + 1] = np.where(cell > 0, colour, 0)
            side = (code[0::2] >= 2) * 1 + (code[1::2] >= 2) * 2  # body in top / bottom half
            doji = (code[0::2] == 3) | (code[1::2] == 3)
            for off, table in ((0, _LEFT_SIDE), (2, _RIGHT_SIDE)):
                g = np.where(doji, "─", table[side])
                glyph[:, cols + off] = g
                sid[:ph, cols + off] = np.where(g != " ", colour, 0)
        else:
            glyph[:, cols] = _CANDLE_GLYPHS[cell]
            sid[:ph, cols] = np.where(cell > 0, colour, 0)
    else:
        rt, rb = sub(h, ph), sub(lo, ph)
        ro, rc = sub(o, ph), sub(c, ph)
        ys = np.arange(ph)[:, None]
        code = ((ys >= rt) & (ys <= rb)).astype(np.int64)
        code = code + (ys == ro) * 1 + (ys == rc) * 2
        code = code * ok
        glyph[:, cols] = _OHLC_GLYPHS[np.minimum(code, 4)]
        sid[:ph, cols] = np.where(code > 0, colour, 0)
    body = np.isin(glyph, ("█", "▀", "▄"))

    # -- overlays (braille, over the candles) ----------------------------------
    # style ids 0..5: base, up, down, up volume, down volume, the crosshair's dotted line
    styles: list[Style] = [Style(), UP, DOWN, UP_VOL, DOWN_VOL, CROSS]
    if shown:
        px_w, px_h = pw * 2, ph * 4
        xscale = 2.0 * cpb / bpc
        yscale = (px_h - 1) / span
        dots = np.zeros((ph, pw), np.uint8)
        owner = np.full((ph, pw), -1, np.int64)
        for k, ov in enumerate(shown):
            y = np.asarray(ov.y[start:stop], np.float64)
            y = np.where((y >= pmin) & (y <= pmax), y, np.nan)
            joined = (np.ones(len(y), bool) if ov.breaks is None
                      else ~np.asarray(ov.breaks[start:stop], bool))
            xs, ys_ = raster_line(y, xscale, yscale, pmin, px_h, x0=2 * mid, joined=joined)
            keep = (xs >= 0) & (xs < px_w)
            xs, ys_ = xs[keep], ys_[keep]
            np.bitwise_or.at(dots, (ys_ // 4, xs // 2), _DOT_BITS[xs % 2, ys_ % 4])
            owner[ys_ // 4, xs // 2] = k
        lit = dots > 0
        glyph[lit] = _GLYPHS[dots[lit]]
        # an overlay over a candle body keeps the body's colour as its background
        under = np.where(body, sid[:ph], 0)
        n0 = len(styles)
        for ov in shown:
            styles += [ov.style, ov.style + Style(bgcolor=UP.color),
                       ov.style + Style(bgcolor=DOWN.color)]
        sid[:ph][lit] = n0 + owner[lit] * 3 + under[lit]

        _edge_labels(shown, start, stop, pmin, pmax, glyph, sid, n0)

    # -- volume ----------------------------------------------------------------
    vglyph = np.full((vh, pw), " ", dtype="<U1")
    vmax = float(np.nanmax(v)) if len(v) and np.isfinite(v).any() else 0.0
    if vh and vmax > 0:
        eighths = np.rint(np.nan_to_num(v) / vmax * vh * 8).astype(np.int64)
        rows = (vh - 1 - np.arange(vh))[:, None] * 8
        level = np.clip(eighths[None, :] - rows, 0, 8)
        vglyph[:, cols + mid] = _VOL_GLYPHS[level]
        sid[ph:, cols + mid] = np.where(level > 0, np.where(up, 3, 4), 0)
    glyphs = np.concatenate([glyph, vglyph]) if vh else glyph

    # -- crosshair -------------------------------------------------------------
    ncur = len(styles)
    cur_col = None
    if cursor is not None and start <= cursor < stop:
        cc = ((cursor - start) // bpc) * cpb + mid
        if cc < pw:
            cur_col = cc
            empty = glyphs[:, cc] == " "
            glyphs[:, cc] = np.where(empty, "┊", glyphs[:, cc])
            sid[:, cc] = np.where(empty, 5, sid[:, cc]) + ncur
    all_styles = [base + st for st in styles]
    all_styles += [base + st + Style(bgcolor=CURSOR_BG) for st in styles]

    # -- the price axis (right) ----------------------------------------------
    labels: dict[int, tuple[str, Style]] = {}
    step = nice_step(span, max(1, ph // 3))
    first = math.ceil(pmin / step) * step
    for p in np.arange(first, pmax, step):
        r = int(sub(np.array([p]), ph)[0])
        if r not in labels and r - 1 not in labels:
            labels[r] = (fmt.price(float(p)), AXIS)
    if cursor is not None and 0 <= cursor < len(bars):
        cp = float(bars.close[cursor])
        if np.isfinite(cp) and pmin <= cp <= pmax:
            r = int(sub(np.array([cp]), ph)[0])
            for q in (r - 1, r, r + 1):
                labels.pop(q, None)
            labels[r] = (fmt.price(cp), CURSOR_LABEL)
    if vh and vmax > 0:
        labels[ph] = (fmt.volume(vmax), AXIS)
    axis = base + AXIS

    strips: list[Strip] = []
    # Each row as one Python string (a [rows, pw] '<U1' grid viewed as '<U{pw}'),
    # cut where the style changes: slicing str is far cheaper than joining cells.
    texts = np.ascontiguousarray(glyphs).view(f"<U{pw}")[:, 0].tolist()
    change = sid[:, 1:] != sid[:, :-1]
    sids = sid.tolist()
    for r in range(ph + vh):
        row_sid, text_r = sids[r], texts[r]
        bounds = [0, *(np.flatnonzero(change[r]) + 1).tolist(), pw]
        segs: list[Segment] = [Segment(text_r[a:b].ljust(b - a), all_styles[row_sid[a]])
                               for a, b in itertools.pairwise(bounds)]
        text, st = labels.get(r, ("", AXIS))
        rule = "┤" if text else "│"
        segs.append(Segment(rule, axis))
        segs.append(Segment(text[:aw - 1].ljust(aw - 1), base + st))
        strips.append(Strip(segs, width))
    col_of = (np.arange(stop - start) // bpc) * cpb
    times = _time_labels(bars, start, stop, col_of, pw)
    segs = [Segment(times, axis), Segment("└".ljust(aw, " "), axis)]
    if cur_col is not None and cursor is not None and bars.minute is not None:
        # the cursor bar's time on the time axis, over the ticks (as a crosshair does)
        m = int(bars.minute[cursor]) + 9 * 60 + 30
        label = f"{m // 60:02d}:{m % 60:02d}"
        a = min(max(0, cur_col - 2), max(0, pw - len(label)))
        b = min(pw, a + len(label))
        cells = list(times)  # a tick the label would touch goes, rather than run into it
        i = a - 1
        while i >= 0 and cells[i] != " ":
            cells[i], i = " ", i - 1
        i = b
        while i < pw and cells[i] != " ":
            cells[i], i = " ", i + 1
        times = "".join(cells)
        segs = [Segment(times[:a], axis), Segment(label[:b - a], base + CURSOR_LABEL),
                Segment(times[b:], axis), segs[1]]
    strips.append(Strip(segs, width))
    return strips


class CandleChart(Widget):
    """Caches ``render_candles`` output until the data, the view or the size changes."""

    DEFAULT_CSS = """
    CandleChart { width: 1fr; height: 1fr; }
    """

    class Clicked(Message):
        """A click on the plot: the bar under the pointer."""

        def __init__(self, bar: int) -> None:
            super().__init__()
            self.bar = bar

    class Zoom(Message):
        """The wheel: -1 zooms in (wheel up), +1 out."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.bars = Bars(*(np.zeros(0) for _ in range(5)))
        self.overlays: tuple[Overlay, ...] = ()
        self.start = self.stop = 0
        self.cells_per_bar = 1
        self.bars_per_cell = 1
        self.cursor: int | None = None
        self._strips: list[Strip] | None = None
        self._drawn: tuple[int, int] = (0, 0)

    def plot(self, bars: Bars, overlays: Sequence[Overlay], *, start: int, stop: int,
             cells_per_bar: int, bars_per_cell: int, cursor: int | None) -> None:
        self.bars, self.overlays = bars, tuple(overlays)
        self.start, self.stop, self.cursor = start, stop, cursor
        self.cells_per_bar, self.bars_per_cell = cells_per_bar, bars_per_cell
        self._strips = None
        self.refresh()

    def plot_columns(self) -> int:
        """Plot columns at the current width (the screen sizes its view with it)."""
        return plot_width(self.size.width, self.bars)

    def bar_at(self, x: int) -> int | None:
        """The bar under column ``x`` (a click), None outside the bars shown."""
        if x < 0 or x >= self.plot_columns():
            return None
        cpb = self.cells_per_bar if self.bars_per_cell <= 1 else 1
        bar = self.start + (x // cpb) * self.bars_per_cell
        return bar if bar < self.stop else None

    def on_resize(self) -> None:
        self._strips = None

    def on_click(self, event: events.Click) -> None:
        bar = self.bar_at(event.x)
        if bar is not None:
            self.post_message(self.Clicked(bar))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.Zoom(-1))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(self.Zoom(1))

    def render_line(self, y: int) -> Strip:
        size = (self.size.width, self.size.height)
        if self._strips is None or self._drawn != size:
            self._strips = render_candles(
                self.bars, *size, start=self.start, stop=self.stop,
                cells_per_bar=self.cells_per_bar, bars_per_cell=self.bars_per_cell,
                overlays=self.overlays, cursor=self.cursor, base=self.rich_style)
            self._drawn = size
        return self._strips[y] if y < len(self._strips) else Strip.blank(size[0])
