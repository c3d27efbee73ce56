"""A training's evaluation on its test days: a table where it fits whole, stacked where not.

Why two forms: the table (name, top-k precision, its 95 % interval, model − it,
beats) needs about 90 columns. At 80x24 the Run tab is 34 wide, and a table
that keeps its figures whole showed only the row names. There the evaluation
is *stacked*: each row's name on its own line, its figures under it, each
figure whole and lines broken only between figures, so every number stays
readable in a narrow pane. A figure wider than the pane (below ~27 columns)
is left out and the first line names it: the console's rule, a number is
whole or not shown, and the title says what is hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.widget import Widget

from tui.screens.training.fitted import FittedTable

#: The stacked form's legend: what its unlabelled figures are.
LEGEND = ("top-k precision (95 % interval)", "beats: the model beats it",
          "Δ: model − it [95 %]")
#: Cells the stacked figures are indented by, and between two on a line.
INDENT, GAP = 2, 2


@dataclass(frozen=True)
class EvalRow:
    """One row of the evaluation, its figures written as both forms show them."""

    name: str
    context: bool  # a row no skill is needed to beat (base rate, AVWAP prior)
    precision: str
    ci: tuple[str, str]
    minus: str | None  # the model's precision minus this row's
    diff_ci: tuple[str, str] | None
    beats: bool | None

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> EvalRow:
        """From a row of the ``eval`` event (``models.evaluate.compare``)."""
        ci = row.get("ci95") or [np.nan, np.nan]
        diff = row.get("diff_ci95")
        minus = row.get("model_minus")
        beats = row.get("model_beats")
        return cls(
            name=str(row.get("name", "")),
            context=row.get("gate") is False and row.get("name") != "model",
            precision=f"{float(row.get('precision', np.nan)):.3f}",
            ci=(f"{float(ci[0]):.3f}", f"{float(ci[1]):.3f}"),
            minus=None if minus is None else f"{float(minus):+.3f}",
            diff_ci=None if not diff else (f"{float(diff[0]):+.3f}", f"{float(diff[1]):+.3f}"),
            beats=None if beats is None else bool(beats))

    @property
    def title(self) -> Text:
        return Text(self.name + (" (context)" if self.context else ""),
                    style="dim" if self.context else "")

    @property
    def beats_text(self) -> Text:
        return (Text("") if self.beats is None else
                Text("yes" if self.beats else "no", style="green" if self.beats else "bold red"))

    @property
    def minus_text(self) -> str:
        if self.minus is None:
            return ""
        return self.minus + (f" [{self.diff_ci[0]}, {self.diff_ci[1]}]" if self.diff_ci else "")

    def figures(self) -> list[tuple[str, Text]]:
        """(the table's column title, the figure) for the stacked form, in reading order."""
        out = [("top-k precision", Text(f"{self.precision} ({self.ci[0]}–{self.ci[1]})"))]
        if self.beats is not None:
            out.append(("beats", Text("beats: ") + self.beats_text))
        if self.minus is not None:
            out.append(("model − it", Text(f"Δ {self.minus_text}")))
        return out


class EvalTable(FittedTable):
    """The evaluation: each baseline's top-k precision beside the model's, whole or hidden."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("name", ""), ("precision", "top-k precision"), ("ci", "95 % interval"),
        ("minus", "model − it"), ("beats", "beats"))
    PRIORITY: ClassVar[tuple[str, ...]] = ("name", "precision", "beats", "minus", "ci")
    ALWAYS: ClassVar[tuple[str, ...]] = ("name",)

    def show(self, rows: list[EvalRow]) -> None:
        self.fill([(str(i), {"name": r.title, "precision": r.precision,
                             "ci": f"{r.ci[0]} – {r.ci[1]}", "minus": r.minus_text,
                             "beats": r.beats_text}) for i, r in enumerate(rows)])


def pack(items: list[Text], width: int, *, indent: int = INDENT, sep: str = " " * GAP
         ) -> tuple[list[Text], list[int]]:
    """Lines of whole ``items`` at most ``width`` cells, broken only between items;
    and the indices of items wider than a line (left out)."""
    lines: list[Text] = []
    left_out: list[int] = []
    line: Text | None = None
    for i, item in enumerate(items):
        if indent + item.cell_len > width:
            left_out.append(i)
            continue
        if line is not None and line.cell_len + cell_len(sep) + item.cell_len <= width:
            line.append(sep)
            line.append_text(item)
            continue
        if line is not None:
            lines.append(line)
        line = Text(" " * indent)
        line.append_text(item)
    if line is not None:
        lines.append(line)
    return lines, left_out


def stacked(rows: list[EvalRow], width: int) -> tuple[Text, tuple[str, ...]]:
    """The stacked evaluation at ``width`` cells, and the titles of the figures left out."""
    hidden: list[str] = []
    body: list[Text] = []
    for row in rows:
        body.append(row.title)
        figures = row.figures()
        lines, left_out = pack([f for _, f in figures], width)
        body += lines
        hidden += [figures[i][0] for i in left_out if figures[i][0] not in hidden]
    legend, too_wide = pack([Text(e) for e in LEGEND], width, indent=0, sep=" · ")
    if too_wide:  # narrower than an entry: one line, wrapped at its words
        legend = [Text(" · ".join(LEGEND))]
    head = [Text(f"Hidden at this width: {', '.join(hidden)}")] if hidden else []
    out = Text("\n", style="").join([*(Text(h.plain, style="dim") for h in head + legend),
                                     *body])
    return out, tuple(hidden)


class EvalStack(Widget):
    """The evaluation stacked for a narrow pane (``stacked``), fitted to its width."""

    DEFAULT_CSS = "EvalStack { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[EvalRow] = []
        self.hidden: tuple[str, ...] = ()

    def show(self, rows: list[EvalRow]) -> None:
        self.rows = rows
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        text, _ = stacked(self.rows, width)
        return len(text.wrap(self.app.console, max(width, 1)))

    def render(self) -> Text:
        text, self.hidden = stacked(self.rows, self.content_region.width)
        return text


class EvalView(Vertical):
    """The evaluation in the form that shows every figure whole at this width."""

    DEFAULT_CSS = """
    EvalView { height: auto; display: none; }
    EvalView #run-eval { height: auto; max-height: 9; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[EvalRow] = []

    def compose(self) -> ComposeResult:
        yield EvalTable(id="run-eval")
        yield EvalStack(id="run-eval-stack")

    @property
    def stacked(self) -> bool:
        """Whether the stacked form is the one shown (the table would hide a column)."""
        return self.query_one(EvalStack).display

    def show(self, table: Mapping[str, Any] | None) -> None:
        """The ``eval`` event's table; ``None`` clears it (and hides the view)."""
        self.rows = [EvalRow.from_dict(r) for r in (table or {}).get("rows", [])]
        self.query_one(EvalTable).show(self.rows)
        self.query_one(EvalStack).show(self.rows)
        self.display = table is not None
        self._choose()

    def on_resize(self) -> None:
        self._choose()

    def _choose(self) -> None:
        """The table when every column fits whole at this width, else the stacked form."""
        width = self.content_region.width
        if width <= 0:
            return
        _, hidden = self.query_one(EvalTable).fitted(width)
        self.query_one(EvalTable).display = not hidden
        self.query_one(EvalStack).display = bool(hidden)
