"""The live precheck: sessions per symbol, the sample estimate and exact count, epoch time."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static


class PrecheckView(Vertical):
    """What ``avwap precheck --json`` found for the form as it is now."""

    #: As tall as the summary and up to 5 symbols' rows (the table scrolls), at least
    #: 12. A fixed 12 rows left the table no row at all at 80x24, where the summary
    #: wraps to 9 lines.
    DEFAULT_CSS = """
    PrecheckView { height: auto; min-height: 12; border-title-color: $accent;
                   border: round $panel; }
    PrecheckView #pc-summary { height: auto; }
    PrecheckView DataTable { height: auto; max-height: 6; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="pc-summary")
        yield DataTable(id="pc-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.border_title = "Precheck"
        table = self.query_one(DataTable)
        table.add_columns("Symbol", "Sessions", "Missing")
        self.summary = Text("")

    def pending(self, what: str) -> None:
        self.query_one("#pc-summary", Static).update(Text(f"… {what}", style="dim"))

    def invalid(self) -> None:
        self.query_one("#pc-summary", Static).update(
            Text("Fix the marked fields to check the data.", style="dim"))

    def failed(self, error: str) -> None:
        self.query_one("#pc-summary", Static).update(Text(error, style="bold red"))
        self.query_one(DataTable).clear()

    def show(self, rep: dict[str, Any]) -> None:
        if "exact" not in rep:  # the precheck stopped before counting: its one line only
            self.failed(str(rep.get("error", "precheck failed")))
            return
        lines = Text()
        if rep.get("window"):
            a, b = rep["window"]
            lines.append(f"Window {a} .. {b} ({rep.get('sessions')} sessions); ")
        lines.append(f"samples: estimate {rep.get('estimate', 0):,} = {rep.get('formula', '')}; "
                     f"exact {rep.get('exact', 0):,} ({rep.get('train', 0):,} training, "
                     f"{rep.get('val', 0):,} validation, {rep.get('test', 0):,} test; "
                     f"{rep.get('folds', 1)} walk-forward fold(s))")
        if rep.get("missing"):
            lines.append(f"\n{len(rep['missing'])} of {rep.get('tickers')} symbols have no bars "
                         "in the window (skipped)", style="yellow")
        if rep.get("epoch_s") is not None:
            lines.append(f"\nEpoch ≈ {rep['epoch_s']:.1f} s ({rep['steps_per_epoch']} steps × "
                         f"{rep['step_ms']:.0f} ms, measured now)")
        if not rep.get("ok", False):
            lines.append("\n" + str(rep.get("error", "precheck failed")), style="bold red")
        self.query_one("#pc-summary", Static).update(lines)
        table = self.query_one(DataTable)
        table.clear()
        for row in rep.get("coverage", []):
            missing = row.get("missing", [])
            if row.get("skipped"):
                shown = Text("no data: skipped", style="red")
            elif missing:
                more = f" … (+{len(missing) - 3})" if len(missing) > 3 else ""
                shown = Text(", ".join(missing[:3]) + more, style="yellow")
            else:
                shown = Text("-", style="dim")
            table.add_row(Text(str(row.get("symbol", ""))), str(row.get("sessions", 0)), shown)
