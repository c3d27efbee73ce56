"""A DataTable whose columns fit its width: a value is shown whole, or its column is hidden.

Why: a DataTable wider than its pane scrolls sideways and cuts the column at the
edge (at 80x24 the Models table showed a name and half a date, the evaluation
table half a title). The console's rule holds here too: columns are kept in a
priority order while they fit whole, the first that does not is hidden with
every one after it, and ``hidden`` names them (the screen says so in a line
above the table). The columns are fitted again when the width changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

#: Cells of padding a DataTable puts around each column's widest text.
PAD = 2


def fit(need: dict[str, int], width: int, columns: tuple[tuple[str, str], ...],
        priority: tuple[str, ...], always: tuple[str, ...] = ()
        ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(shown keys in display order, hidden titles) for ``width`` cells; ``need`` per key."""
    used, kept, hidden = 0, set[str](), list[str]()
    titles = dict(columns)
    for key in priority:
        if not hidden and (used + need[key] <= width or key in always):
            used += need[key]
            kept.add(key)
        else:
            hidden.append(titles[key])
    return tuple(k for k, _ in columns if k in kept), tuple(hidden)


class FittedTable(DataTable[Any]):
    """Rows of cells by column key; ``COLUMNS`` shown as ``PRIORITY`` and the width allow."""

    #: (key, title) in display order.
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: The order columns are kept in as the table narrows.
    PRIORITY: ClassVar[tuple[str, ...]] = ()
    #: Shown even when they do not fit (what names the row).
    ALWAYS: ClassVar[tuple[str, ...]] = ()

    @dataclass
    class Fitted(Message):
        """The columns were fitted to the width; ``hidden`` names those left out."""

        table: FittedTable
        hidden: tuple[str, ...]

        @property
        def control(self) -> FittedTable:
            return self.table

    def __init__(self, *, id: str | None = None, cursor_type: str = "row",
                 zebra_stripes: bool = False) -> None:
        super().__init__(id=id, cursor_type=cursor_type,  # type: ignore[arg-type]
                         zebra_stripes=zebra_stripes)
        self.rows_cells: list[tuple[str, dict[str, Any]]] = []  # (row key, cells by column)
        self.shown: tuple[str, ...] = ()
        self.hidden: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self._layout()

    def on_resize(self) -> None:
        self._layout()

    def fill(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Replace the rows (and fit the columns to their values)."""
        self.rows_cells = rows
        self.shown = ()
        self._layout()

    def fitted(self, width: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(shown keys, hidden titles) were the table ``width`` cells wide."""
        need = {k: cell_len(t) + PAD for k, t in self.COLUMNS}
        for _, row in self.rows_cells:
            for k, v in row.items():
                need[k] = max(need[k], cell_len(v.plain if isinstance(v, Text) else str(v)) + PAD)
        # room for a vertical scrollbar, so a longer list never cuts the last column
        width -= self.styles.scrollbar_size_vertical
        return (fit(need, width, self.COLUMNS, self.PRIORITY, self.ALWAYS)
                if width > 0 else (tuple(k for k, _ in self.COLUMNS), ()))

    def _layout(self) -> None:
        shown, hidden = self.fitted(self.size.width)
        if shown == self.shown and self.columns and self.row_count == len(self.rows_cells):
            return
        keep = self._cursor_key()
        self.shown, self.hidden = shown, hidden
        self.clear(columns=True)
        titles = dict(self.COLUMNS)
        for k in shown:
            self.add_column(titles[k], key=k)
        for key, row in self.rows_cells:
            self.add_row(*(row[k] for k in shown), key=key)
        if keep is not None and keep in {key for key, _ in self.rows_cells}:
            self.move_cursor(row=self.get_row_index(keep))
        self.post_message(self.Fitted(self, hidden))

    def _cursor_key(self) -> str | None:
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
