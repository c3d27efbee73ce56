"""A virtual table: columns of NumPy arrays, only the visible rows formatted and drawn.

Why not ``DataTable``: a run may hold 10,000 trades, and ``DataTable`` builds
and measures every cell when rows are added (hundreds of milliseconds before
the run opens). Here a column is an array and a formatter; sorting is one
stable ``argsort`` of the column's values; drawing a line formats that row's
cells only. The cursor follows the row it is on (not its position) across
sorts and refreshes, keyed by ``keys``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

GAIN, LOSS = Style(color="#3fb950"), Style(color="#f85149")
HEADER = Style(bold=True, color="#8b949e")
#: The focused table's title line: which of two tables side by side has the keys
#: (the cursor's reverse row alone was too quiet to find at a glance).
HEADER_FOCUS = Style(bold=True, color="black", bgcolor="#58a6ff")
FOCUS_MARK = "▶"
CURSOR = Style(reverse=True)
MARKED = Style(color="#d29922", bold=True)


def _plain(x: Any) -> Any:
    """A NumPy scalar as its Python value (keys compare with plain ints and strings)."""
    return x.item() if isinstance(x, np.generic) else x


@dataclass(frozen=True)
class Column:
    """One column: title, width, values (sorted on), how a value is shown, right-aligned."""

    key: str
    title: str
    width: int
    values: np.ndarray
    fmt: Callable[[Any], str] = str
    right: bool = False


def fitted(c: Column) -> Column:
    """``c`` widened so its title (with a sort mark) and its longest value fit whole.

    A number is whole or not shown: the widest formatted value of a numeric column
    is that of its smallest or largest value (or NaN), so two formats per column
    find it without formatting 10,000 rows; other columns are measured directly.
    """
    vals = c.values
    need = len(c.title) + 1
    if len(vals):
        if vals.dtype.kind in "fiu":
            v = vals.astype(np.float64)
            probes = [vals[i] for i in {int(np.nanargmin(v)), int(np.nanargmax(v))}] \
                if np.isfinite(v).any() else []
            if np.isnan(v).any():
                probes.append(vals[int(np.flatnonzero(np.isnan(v))[0])])
        elif len(vals) <= 5_000:
            probes = list(vals)
        else:
            probes = [vals[int(np.argmax(np.char.str_len(vals.astype(str))))]]
        need = max(need, *(len(c.fmt(x)) for x in probes)) if probes else need
    return c if need <= c.width else replace(c, width=need)


class Table(ScrollView, can_focus=True):
    """Rows drawn on demand; ``s`` sorts by the next column, ``S`` reverses; Enter chooses."""

    DEFAULT_CSS = """
    Table { height: 1fr; min-height: 4; }
    Table:focus { background-tint: $foreground 3%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "edge(0)", "First", show=False, id="table.first"),
        Binding("end", "edge(1)", "Last", show=False, id="table.last"),
        Binding("enter", "choose", "Open", id="table.choose"),
        Binding("s", "sort_next", "Sort", id="table.sort"),
        Binding("S", "sort_reverse", "Reverse", key_display="S", id="table.sort_reverse"),
    ]

    class Chosen(Message):
        def __init__(self, table: Table, row: int) -> None:
            super().__init__()
            self.table, self.row = table, row

        @property
        def control(self) -> Table:
            return self.table

    def __init__(self, *, id: str | None = None, empty: str = "nothing to show") -> None:
        super().__init__(id=id)
        self.columns: list[Column] = []
        self.keys: np.ndarray = np.zeros(0, np.int64)
        self.order: np.ndarray = np.zeros(0, np.int64)  # display position -> data row
        self.row_styles: np.ndarray | None = None  # -1 loss, 0 plain, 1 gain per data row
        self.marked: set[Any] = set()
        self.sort_col: int | None = None
        self.sort_reverse = False
        self.cursor = 0
        self.empty = empty

    # -- data ------------------------------------------------------------------
    def set_data(self, columns: Sequence[Column], keys: np.ndarray | Sequence[Any],
                 row_styles: np.ndarray | None = None) -> None:
        """Replace the rows; the cursor stays on the row with the same key if it is still here."""
        kept = self.cursor_key
        self.columns = [fitted(c) for c in columns]
        self.keys = np.asarray(keys)
        self.row_styles = row_styles
        if self.sort_col is not None and self.sort_col >= len(self.columns):
            self.sort_col = None
        self._resort()
        self.cursor = 0
        if kept is not None:
            hit = np.flatnonzero(self.keys[self.order] == kept)
            if len(hit):
                self.cursor = int(hit[0])
        self.virtual_size = Size(sum(c.width + 1 for c in self.columns), len(self.order) + 1)
        self._follow()
        self.refresh()

    def _resort(self) -> None:
        n = len(self.keys)
        if self.sort_col is None or not n:
            self.order = np.arange(n)
            return
        vals = self.columns[self.sort_col].values
        if vals.dtype.kind in "fiub":
            v = vals.astype(np.float64)
            v = np.where(np.isnan(v), -np.inf, v)
            order = np.argsort(-v if self.sort_reverse else v, kind="stable")
        else:
            order = np.argsort(vals.astype(str), kind="stable")
            if self.sort_reverse:
                order = order[::-1]
        self.order = order

    def sort_by(self, key: str, reverse: bool = False) -> None:
        """Sort by column ``key`` (the cursor keeps its row)."""
        idx = [c.key for c in self.columns].index(key)
        kept = self.cursor_key
        self.sort_col, self.sort_reverse = idx, reverse
        self._resort()
        if kept is not None:
            self.cursor = int(np.flatnonzero(self.keys[self.order] == kept)[0])
        self._follow()
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.order)

    @property
    def cursor_row(self) -> int | None:
        """The data row under the cursor."""
        return int(self.order[self.cursor]) if len(self.order) else None

    @property
    def cursor_key(self) -> Any:
        row = self.cursor_row
        return None if row is None else _plain(self.keys[row])

    @property
    def sort_key(self) -> str | None:
        return None if self.sort_col is None else self.columns[self.sort_col].key

    def move_to_key(self, key: Any) -> bool:
        hit = np.flatnonzero(self.keys[self.order] == key)
        if not len(hit):
            return False
        self._set_cursor(int(hit[0]))
        return True

    def cells(self, position: int) -> list[str]:
        """The formatted cells of the row shown at ``position`` (tests read these)."""
        row = int(self.order[position])
        return [c.fmt(c.values[row]) for c in self.columns]

    # -- drawing -----------------------------------------------------------------
    def _line(self, texts: list[str]) -> str:
        out = []
        for c, t in zip(self.columns, texts, strict=True):
            t = t[:c.width]
            out.append(t.rjust(c.width) if c.right else t.ljust(c.width))
        return " ".join(out)

    def _whole(self, text: str, x: int, width: int) -> str:
        """``text`` (a line: its one-character mark, then the columns) with each column
        the window ``[x, x + width)`` would cut left blank: a value (a price, a time) is
        whole or not shown; → brings it in. A column wider than the window is cut, as
        it can never be whole."""
        start = 1
        chars = list(text)
        for c in self.columns:
            end = start + c.width
            if (start < x < end or start < x + width < end) and c.width <= width:
                chars[start:end] = " " * (min(end, len(chars)) - start)
            start = end + 1
        return "".join(chars)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            titles = []
            for i, c in enumerate(self.columns):
                mark = ("▼" if self.sort_reverse else "▲") if i == self.sort_col else ""
                titles.append(mark + c.title if c.right else c.title + mark)
            # One space where the rows have their mark, and the rows' horizontal
            # scroll: titles stay above their values (at 80x24 → moved only the rows).
            focused = self.has_focus
            text = (FOCUS_MARK if focused else " ") + self._line(titles) if self.columns else ""
            head = base + (HEADER_FOCUS if focused else HEADER)
            x = int(self.scroll_offset.x)
            text = self._whole(text, x, width)
            return Strip([Segment(text, head)]).crop_extend(x, x + width, head if focused else base)
        pos = y - 1 + int(self.scroll_offset.y)
        if not len(self.order):  # the message, wrapped (at 80x24 its end was cut)
            lines = textwrap.wrap(self.empty, max(width, 1)) or [""]
            text = lines[y - 1] if y - 1 < len(lines) else ""
            return Strip([Segment(text, base)]).crop_extend(0, width, base)
        if pos >= len(self.order):
            return Strip.blank(width, base)
        row = int(self.order[pos])
        style = base
        if self.row_styles is not None:
            s = int(self.row_styles[row])
            style = base + (GAIN if s > 0 else LOSS if s < 0 else Style())
        if _plain(self.keys[row]) in self.marked:
            style = style + MARKED
        prefix = "●" if _plain(self.keys[row]) in self.marked else " "
        x = int(self.scroll_offset.x)
        text = self._whole(prefix + self._line(self.cells(pos)), x, width)
        if pos == self.cursor and self.has_focus:
            style = style + CURSOR
        elif pos == self.cursor:
            style = style + Style(underline=True)
        return Strip([Segment(text, style)]).crop_extend(x, x + width, base)

    # -- cursor ------------------------------------------------------------------
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def _set_cursor(self, pos: int) -> None:
        n = len(self.order)
        pos = max(0, min(n - 1, pos)) if n else 0
        if pos == self.cursor:
            return
        old = self.cursor
        self.cursor = pos
        self._follow()
        self.refresh_lines(old - int(self.scroll_offset.y) + 1)
        self.refresh_lines(pos - int(self.scroll_offset.y) + 1)

    def _follow(self) -> None:
        top = int(self.scroll_offset.y)
        h = max(1, self.scrollable_content_region.height - 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
            self.refresh()
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False, immediate=True)
            self.refresh()

    def action_move(self, step: int) -> None:
        self._set_cursor(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._set_cursor(self.cursor + step * self._page())

    def action_edge(self, end: int) -> None:
        self._set_cursor(len(self.order) - 1 if end else 0)

    def action_choose(self) -> None:
        row = self.cursor_row
        if row is not None:
            self.post_message(self.Chosen(self, row))

    def action_sort_next(self) -> None:
        if not self.columns:
            return
        nxt = 0 if self.sort_col is None else (self.sort_col + 1) % len(self.columns)
        self.sort_by(self.columns[nxt].key, self.sort_reverse)

    def action_sort_reverse(self) -> None:
        if self.sort_col is None and self.columns:
            self.sort_col = 0
        if self.columns:
            self.sort_by(self.columns[self.sort_col or 0].key, not self.sort_reverse)

    def on_click(self, event: Any) -> None:
        y = int(getattr(event, "y", 0))
        if y == 0:  # a header: sort by the column clicked
            x = int(getattr(event, "x", 0)) + int(self.scroll_offset.x) - 1
            edge = 0
            for c in self.columns:
                edge += c.width + 1
                if x < edge:
                    self.sort_by(c.key, not self.sort_reverse if self.sort_key == c.key
                                 else False)
                    return
            return
        self.focus()
        self._set_cursor(y - 1 + int(self.scroll_offset.y))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
