"""The watchlist pane: one row per symbol, sortable, coloured, and virtual.

Why a Line-API widget and not a DataTable: with ~650 symbols updating several
times a second, only the ~40 visible rows should cost anything. Each frame
stores the column arrays and a sort order (one NumPy argsort); ``render_line``
formats just the rows on screen. The cursor is a symbol, not a row number, so
it stays on its symbol when the order changes under it. The widget's CSS-derived
styles are looked up once per repaint, not once per line (profiling showed the
per-line ``rich_style`` lookup as a third of the pane's cost).

Why columns drop and never cut: a price cut to its last digits (``9.94`` for
569.94) reads as a real number. Each numeric column is as wide as its widest
value in the frame (found with one ``nanmax``/``nanmin`` per column, not by
formatting every row), and when the pane is narrower than all of them the
columns go whole in ``PRIORITY`` order (symbol, last and change stay longest).

Why the watchlist owns the keys that act on its rows: sort (``o O``), find
(``/``), list edits (``+ - N``), alert (``a``), anchors (``K``) and chart
(``c``/Enter) are about the highlighted symbol or the list, so they are bound
here (ids unchanged, remappable in ``[keys]``) and work while the watchlist has
the focus. Sorting is the widget's own; every other key posts what the trader
asked as a typed message (``Watchlist.Asked`` and its kinds, with the
highlighted symbol), and the screen the watchlist sits on does the work: the
widget knows nothing of lists on disk, dialogs or the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.snapshot import REGIMES
from tui import fmt
from tui.views import WatchRows

UP = Style(color="#3fb950")
DOWN = Style(color="#f85149")
FLAT = Style(color="#8b949e")
HOT_UP = Style(color="#0d1117", bgcolor="#3fb950", bold=True)
HOT_DOWN = Style(color="#0d1117", bgcolor="#f85149", bold=True)
REGIME_STYLE = {
    "trend-up": UP, "trend-down": DOWN, "volatile": Style(color="#d29922"), "range": FLAT,
}
HOT_SIGMA = 2.0
#: A guest row's symbol (shown by find, not in the list).
GUEST = Style(italic=True, color="#d2a8ff")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    align: str = "right"


COLUMNS: tuple[Column, ...] = (
    Column("symbol", "Symbol", 8, "left"),
    Column("last", "Last", 10),
    Column("change", "Chg%", 8),
    Column("volume", "Volume", 8),
    Column("rvol", "RVol", 5),
    Column("z", "σ VWAP", 8),
    Column("regime", "Regime", 10, "left"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
#: The order columns are kept in when the pane narrows (the rest drop first).
PRIORITY: tuple[str, ...] = ("symbol", "last", "change", "z", "rvol", "volume", "regime")
FORMATTERS: dict[str, Callable[[float], str]] = {
    "last": fmt.price, "change": fmt.pct, "volume": fmt.volume, "rvol": fmt.ratio,
    "z": fmt.sigma,
}


def _sign_style(x: float) -> Style:
    if not np.isfinite(x) or x == 0:
        return FLAT
    return UP if x > 0 else DOWN


class Watchlist(ScrollView, can_focus=True):
    """Symbols of the current list with last, change, volume, RVol, σ and regime."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"watchlist--header", "watchlist--cursor"}
    DEFAULT_CSS = """
    Watchlist { height: 1fr; scrollbar-size-vertical: 1; }
    Watchlist > .watchlist--header { text-style: bold; background: $panel; }
    Watchlist > .watchlist--cursor { background: $accent 40%; text-style: bold; }
    Watchlist:focus > .watchlist--cursor { background: $accent 70%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="watchlist.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="watchlist.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="watchlist.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="watchlist.page_down"),
        Binding("home,g", "jump(0)", "First", show=False, id="watchlist.first"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="watchlist.last"),
        # What the trader asks of the highlighted symbol or the list: the watchlist
        # posts it (the messages below) and the screen it sits on does the work.
        Binding("o", "sort_next", "Sort", id="sort.next"),
        Binding("O", "sort_reverse", "Reverse", show=False, id="sort.reverse"),
        Binding("a", "add_alert", "Alert", id="alert.add"),
        # K, not k: k moves the cursor up (vim keys)
        Binding("K", "anchors", "Anchors", show=False, id="anchors.list"),
        Binding("c,enter", "open_chart", "Chart", id="chart.open"),
        Binding("slash", "find", "Find", key_display="/", id="find.symbol"),
        Binding("plus", "add_to_list", "Add to list", show=False, key_display="+",
                id="list.add"),
        Binding("minus", "remove_from_list", "Remove from list", show=False, key_display="-",
                id="list.remove"),
        Binding("N", "new_list", "New list", show=False, id="list.new"),
    ]

    @dataclass
    class Highlighted(Message):
        """The cursor moved to ``symbol`` (by key, click or a new list)."""

        symbol: str

    @dataclass
    class Sorted(Message):
        """The sort column or direction changed."""

        column: str
        reverse: bool

    # -- what the trader asked (posted by the keys; the host screen does the work) --
    @dataclass
    class Asked(Message):
        """A request about ``symbol``, the highlighted one (``None``: no rows yet)."""

        symbol: str | None

    @dataclass
    class FindAsked(Asked):
        """``/``: find any symbol (``current``: the rows, ranked first)."""

        current: tuple[str, ...] = ()

    class AddAsked(Asked):
        """``+``: add the symbol to a list."""

    @dataclass
    class RemoveAsked(Asked):
        """``-``: remove the symbol from the list on screen; ``neighbour`` gets the cursor."""

        neighbour: str | None = None

    class NewListAsked(Asked):
        """``N``: a new list starting with the symbol."""

    class AlertAsked(Asked):
        """``a``: set an alert on the symbol."""

    class AnchorsAsked(Asked):
        """``K``: the symbol's custom anchors."""

    class ChartAsked(Asked):
        """``c``/Enter: the symbol's chart."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.symbols: tuple[str, ...] = ()
        self.cols: dict[str, np.ndarray] = {}
        self.order = np.zeros(0, dtype=np.int64)
        self.sort_key = "symbol"
        self.reverse = False
        self.cursor_symbol: str | None = None
        self._lines: dict[int, Strip] = {}
        self._styles: tuple[Style, Style] | None = None  # (base, cursor) for this repaint
        self._symbol_order: np.ndarray | None = None  # argsort of ``symbols`` (cached)
        #: Cells per column: the widest text this frame (at least the column's width).
        self.widths: dict[str, int] = {c.key: c.width for c in COLUMNS}
        #: Rows shown by find that are not in the list (their symbol is drawn italic).
        self.guests: frozenset[str] = frozenset()

    # -- data ------------------------------------------------------------------
    def update_rows(self, rows: WatchRows) -> None:
        new_symbols = rows.symbols != self.symbols
        if new_symbols:
            self._symbol_order = None
        self.symbols = rows.symbols
        self.cols = {"last": rows.last, "change": rows.change, "volume": rows.volume,
                     "rvol": rows.rvol, "z": rows.z, "regime": rows.regime}
        self._resort()
        self._measure()
        if new_symbols or self.cursor_symbol not in self.symbols:
            self.cursor_symbol = self.row_symbol(0) if len(self.symbols) else None
            if self.cursor_symbol is not None:
                self.post_message(self.Highlighted(self.cursor_symbol))
        self.virtual_size = Size(self.width_of(self.columns()), len(self.symbols) + 1)
        self._scroll_to_cursor()
        self._invalidate()
        self.refresh()

    def _measure(self) -> None:
        """Column widths from the frame's extremes (the widest text of a column)."""
        widths = {c.key: c.width for c in COLUMNS}
        if self.symbols:
            widths["symbol"] = max(widths["symbol"], max(len(x) for x in self.symbols))
        for key, f in FORMATTERS.items():
            col = self.cols.get(key)
            if col is None or not len(col):
                continue
            finite = col[np.isfinite(col)]
            if len(finite):
                lo, hi = float(finite.min()), float(finite.max())
                widths[key] = max(widths[key], len(f(lo)), len(f(hi)))
        self.widths = widths

    def natural_width(self) -> int:
        """Cells every column needs (the pane's width when nothing has to drop)."""
        return self.width_of(COLUMNS)

    def width_of(self, cols: tuple[Column, ...]) -> int:
        return sum(self.widths[c.key] + 1 for c in cols)

    def columns(self, width: int | None = None) -> tuple[Column, ...]:
        """The columns shown at ``width`` (default: the pane's), in display order."""
        width = self.scrollable_content_region.width if width is None else width
        if width <= 0:
            return COLUMNS
        kept: set[str] = set()
        used = 0
        for key in PRIORITY:
            cost = self.widths[key] + 1
            if used + cost > width and kept:
                break
            kept.add(key)
            used += cost
        return tuple(c for c in COLUMNS if c.key in kept)

    def _resort(self) -> None:
        n = len(self.symbols)
        if self.sort_key == "symbol":
            if self._symbol_order is None:
                self._symbol_order = np.argsort(np.array(self.symbols, dtype=object),
                                                kind="stable")
            order = self._symbol_order
            self.order = order[::-1].copy() if self.reverse else order
            return
        key = self.cols[self.sort_key].astype(np.float64)
        nan = ~np.isfinite(key)
        k = np.where(nan, 0.0, -key if self.reverse else key)
        # NaN rows last in both directions; ties keep list order (stable).
        self.order = np.lexsort((np.arange(n), k, nan))

    def sort_by(self, key: str, reverse: bool | None = None) -> None:
        if key not in COLUMN_KEYS:
            raise ValueError(f"unknown column {key!r}")
        if reverse is None:
            reverse = (not self.reverse) if key == self.sort_key else key != "symbol"
        self.sort_key, self.reverse = key, reverse
        if self.symbols:
            self._resort()
            self._scroll_to_cursor()
        self._invalidate()
        self.refresh()
        self.post_message(self.Sorted(key, reverse))

    def cycle_sort(self) -> None:
        i = COLUMN_KEYS.index(self.sort_key)
        self.sort_by(COLUMN_KEYS[(i + 1) % len(COLUMN_KEYS)])

    def toggle_reverse(self) -> None:
        self.sort_by(self.sort_key, not self.reverse)

    # -- cursor ----------------------------------------------------------------
    def row_symbol(self, row: int) -> str:
        return self.symbols[int(self.order[row])]

    @property
    def cursor_row(self) -> int:
        if self.cursor_symbol is None or self.cursor_symbol not in self.symbols:
            return 0
        i = self.symbols.index(self.cursor_symbol)
        hits = np.flatnonzero(self.order == i)
        return int(hits[0]) if len(hits) else 0

    def move_to_row(self, row: int) -> None:
        if not len(self.symbols):
            return
        row = max(0, min(len(self.symbols) - 1, row))
        symbol = self.row_symbol(row)
        if symbol != self.cursor_symbol:
            self.cursor_symbol = symbol
            self.post_message(self.Highlighted(symbol))
        self._scroll_to_cursor()
        self._invalidate()
        self.refresh()

    def select_symbol(self, symbol: str) -> None:
        if symbol in self.symbols:
            self.move_to_row(int(np.flatnonzero(self.order == self.symbols.index(symbol))[0]))

    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_to_cursor(self) -> None:
        row, top, vis = self.cursor_row, int(self.scroll_offset.y), self._visible_rows()
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + vis:
            self.scroll_to(y=row - vis + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_to_row(self.cursor_row + delta)

    def action_page(self, delta: int) -> None:
        self.move_to_row(self.cursor_row + delta * self._visible_rows())

    def action_jump(self, row: int) -> None:
        self.move_to_row(len(self.symbols) - 1 if row < 0 else row)

    # -- the trader's requests (see ``Asked``) ------------------------------------
    def action_sort_next(self) -> None:
        self.cycle_sort()

    def action_sort_reverse(self) -> None:
        self.toggle_reverse()

    def action_find(self) -> None:
        self.post_message(self.FindAsked(self.cursor_symbol, self.symbols))

    def action_add_to_list(self) -> None:
        self.post_message(self.AddAsked(self.cursor_symbol))

    def action_remove_from_list(self) -> None:
        n, row = len(self.symbols), self.cursor_row
        neighbour = self.row_symbol(row + 1 if row + 1 < n else row - 1) if n > 1 else None
        self.post_message(self.RemoveAsked(self.cursor_symbol, neighbour))

    def action_new_list(self) -> None:
        self.post_message(self.NewListAsked(self.cursor_symbol))

    def action_add_alert(self) -> None:
        self.post_message(self.AlertAsked(self.cursor_symbol))

    def action_anchors(self) -> None:
        self.post_message(self.AnchorsAsked(self.cursor_symbol))

    def action_open_chart(self) -> None:
        self.post_message(self.ChartAsked(self.cursor_symbol))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x + int(self.scroll_offset.x)
            for col in self.columns():
                if x < self.widths[col.key] + 1:
                    self.sort_by(col.key)
                    return
                x -= self.widths[col.key] + 1
            return
        self.move_to_row(int(self.scroll_offset.y) + offset.y - 1)

    def on_resize(self) -> None:
        self._invalidate()

    # -- rendering -------------------------------------------------------------
    def _invalidate(self) -> None:
        self._lines.clear()
        self._styles = None

    def on_focus(self) -> None:
        self._invalidate()
        self.refresh()

    def on_blur(self) -> None:
        self._invalidate()
        self.refresh()

    def cell_text(self, row: int, key: str) -> str:
        """The text of one cell (what the tests compare to the Snapshot)."""
        i = int(self.order[row])
        if key == "symbol":
            return self.symbols[i]
        v = float(self.cols[key][i])
        formatter = FORMATTERS.get(key, fmt.value)
        if key == "regime":
            code = int(v)
            return REGIMES[code] if 0 <= code < len(REGIMES) else fmt.DASH
        return formatter(v)

    def set_guests(self, guests: frozenset[str]) -> None:
        """Mark the rows find added beside the list (redrawn only when they change)."""
        if guests != self.guests:
            self.guests = guests
            self._invalidate()
            self.refresh()

    def _cell_style(self, i: int, key: str) -> Style:
        if key == "symbol" and self.symbols[i] in self.guests:
            return GUEST
        if key in ("last", "change"):
            return _sign_style(float(self.cols["change"][i]))
        if key == "z":
            z = float(self.cols["z"][i])
            if np.isfinite(z) and abs(z) >= HOT_SIGMA:
                return HOT_UP if z > 0 else HOT_DOWN
            return _sign_style(z)
        if key == "regime":
            code = int(self.cols["regime"][i])
            return REGIME_STYLE.get(REGIMES[code], FLAT) if 0 <= code < len(REGIMES) else FLAT
        if key == "rvol":
            r = float(self.cols["rvol"][i])
            return Style(bold=True, color="#d29922") if np.isfinite(r) and r >= 2 else Style()
        return Style(bold=True)

    def _header(self, width: int) -> Strip:
        base = self.get_component_rich_style("watchlist--header")
        segs = []
        for col in self.columns(width):
            w = self.widths[col.key]
            title = col.title
            if col.key == self.sort_key:
                title = f"{title}{'▼' if self.reverse else '▲'}"
            text = title.ljust(w) if col.align == "left" else title.rjust(w)
            segs += [Segment(text[:w], base), Segment(" ", base)]
        return Strip(segs).extend_cell_length(width, base).crop(0, width)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # without the scrollbar
        if y == 0:
            return self._header(width)
        row = int(self.scroll_offset.y) + y - 1
        if row >= len(self.symbols):
            return Strip.blank(width, self.rich_style)
        cached = self._lines.get(row)
        if cached is not None and cached.cell_length == width:
            return cached
        i = int(self.order[row])
        if self._styles is None:
            plain = self.rich_style
            self._styles = (plain, plain + self.get_component_rich_style("watchlist--cursor"))
        base = self._styles[1] if self.symbols[i] == self.cursor_symbol else self._styles[0]
        segs = []
        for col in self.columns(width):
            w = self.widths[col.key]  # the widest value's width: nothing is ever cut
            text = self.cell_text(row, col.key)
            text = text.ljust(w) if col.align == "left" else text.rjust(w)
            segs += [Segment(text, base + self._cell_style(i, col.key)), Segment(" ", base)]
        strip = Strip(segs).extend_cell_length(width, base).crop(0, width)
        self._lines[row] = strip
        return strip
