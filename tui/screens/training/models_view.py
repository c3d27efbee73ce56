"""Trained models: list them, show one's config and curves, make one active, delete one.

Reads the models folder through ``models.registry`` (the same listing as
``avwap models``); a broken model folder is listed with its problem, never
hidden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from models import checkpoint as ck
from models.registry import SHORT, ModelInfo, list_models
from tui.screens.training import running
from tui.screens.training.fitted import FittedTable
from tui.screens.training.run_view import ACC, LOSS, SPARSE, VAL_LOSS, Legend, epoch_ticks
from tui.widgets.chart import BrailleChart, Series

#: The verdict of a model whose training still runs, and its mark beside the name.
TRAINING, TRAINING_MARK = "training…", "…"


class ModelsTable(FittedTable):
    """One row per trained model; the active one marked ●, one still training ….

    Its columns fit its width (``FittedTable``): the name, then the verdicts
    (what a model is chosen by), then the rest.
    """

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("mark", ""), ("name", "Model"), *((f"vs:{b}", f"vs {s}") for b, s in SHORT.items()),
        ("null", "Null p"), ("acc", "Val acc"), ("created", "Created"), ("data", "Data"),
        ("verdict", "Verdict"))
    PRIORITY: ClassVar[tuple[str, ...]] = (
        "mark", "name", *(f"vs:{b}" for b in SHORT), "null", "acc", "verdict", "created", "data")
    ALWAYS: ClassVar[tuple[str, ...]] = ("mark", "name")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "use", "Use model", id="model.use"),
        Binding("d", "delete", "Delete model", id="model.delete"),
        Binding("ctrl+r", "resume", "Resume", id="train.resume"),
    ]

    @dataclass
    class Chosen(Message):
        """``action`` (open | use | delete | resume) on model ``name``."""

        action: str
        name: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.models: list[ModelInfo] = []

    def load(self, root: Path) -> None:
        current = self.current
        self.models = list_models(root)
        training = {r.name for r in running.find(root) if r.alive}
        listed = {m.name for m in self.models}
        # a training before its first checkpoint is listed too (its folder has no pointer yet)
        self.models += [ModelInfo(n, root / n, "", "", {}, TRAINING, False)
                        for n in sorted(training - listed)]
        rows = []
        for m in self.models:
            acc = m.metrics.get("val_selection_accuracy")
            # still training (maybe in a process an earlier console left running): not
            # "interrupted", whatever its last checkpoint says
            verdict = TRAINING if m.name in training else m.problem or m.verdict
            rows.append((m.name, {
                # the mark column is never hidden: a narrow table still shows a training
                "mark": Text("●", style="bold green") if m.active else
                Text(TRAINING_MARK, style="bold yellow") if m.name in training else "",
                "name": Text(m.name),
                **{f"vs:{b}": _against(m, b) for b in SHORT},
                "null": "" if m.null_p is None else f"{m.null_p:.3f}",
                "acc": "" if acc is None else f"{acc:.3f}",
                "created": m.created[:16].replace("T", " "), "data": Text(m.data),
                "verdict": Text(verdict, style="yellow" if m.name in training else
                                "red" if m.problem or m.edge else "")}))
        self.fill(rows)
        if current is not None and current in {m.name for m in self.models}:
            self.move_cursor(row=self.get_row_index(current))

    @property
    def current(self) -> str | None:
        if not self.models or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def _chosen(self, action: str) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(action, self.current))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._chosen("open")

    def action_use(self) -> None:
        self._chosen("use")

    def action_delete(self) -> None:
        self._chosen("delete")

    def action_resume(self) -> None:
        self._chosen("resume")


def _against(m: ModelInfo, baseline: str) -> Text:
    """One verdict cell: the margin over ``baseline`` on the test days, ✓ when an edge."""
    if baseline not in m.against:
        return Text("-", style="dim")
    margin, beats = m.against[baseline]
    return Text(f"{margin:+.3f} {'✓' if beats else '✗'}",
                style="green" if beats else "red")


class ModelDetail(VerticalScroll):
    """A model's config and its loss and accuracy curves.

    Side by side where both fit (the config's 48 columns and ``CURVES_MIN`` for
    the curves); on a narrower screen (the Models tab at 80x24 is 36 columns) the
    screen stacks them (``TrainingScreen``'s ``-narrow`` rules) and the detail
    scrolls: side by side, the config was cut at the tab's edge and the curves
    had no width at all.
    """

    #: The config's columns, and the fewest the curves need beside it.
    CONFIG_WIDTH, CURVES_MIN = 48, 30
    DEFAULT_CSS = """
    ModelDetail { height: 1fr; }
    ModelDetail #md-row { height: 1fr; }
    ModelDetail #md-config { width: 48; height: 1fr; overflow-y: auto; }
    ModelDetail #md-curves { width: 1fr; height: 1fr; }
    ModelDetail #md-legend { height: auto; }
    ModelDetail BrailleChart { width: 1fr; height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="md-row"):
            yield Static("Enter on a model shows its config and curves.", id="md-config")
            with Vertical(id="md-curves"):
                yield Legend(("loss", LOSS), ("val loss", VAL_LOSS),
                             ("selection accuracy", ACC), ("sparsity", SPARSE), id="md-legend")
                yield BrailleChart(id="md-chart")

    def show(self, path: Path) -> dict[str, Any]:
        """Show model ``path`` (best checkpoint); returns its config (the tests read it)."""
        best = ck.resolve(path)
        cfg = json.loads((best / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((best / "metrics.json").read_text(encoding="utf-8"))
        lines = Text()
        lines.append(f"{cfg.get('name')}\n", style="bold")
        for key in ("created", "start", "end", "lookback", "horizon", "top_k", "interval",
                    "days", "val_days", "test_days", "folds", "seed"):
            lines.append(f"{key:>9}: {cfg.get(key)}\n")
        tickers = cfg.get("tickers", [])
        lines.append(f"{'tickers':>9}: {len(tickers)} ({', '.join(tickers[:6])}"
                     f"{' …' if len(tickers) > 6 else ''})\n")
        samples = cfg.get("samples", {})
        lines.append(f"{'samples':>9}: {samples.get('train')} training, {samples.get('val')} "
                     f"validation, {samples.get('test', '-')} test\n")
        lines.append(f"{'features':>9}: {len(cfg.get('features', []))}, selectable "
                     f"{len(cfg.get('outputs', []))}\n")
        self.query_one("#md-config", Static).update(lines)
        series = [
            Series(np.asarray([m.get(k, np.nan) for m in metrics], dtype=np.float64), style)
            for k, style in (("loss", LOSS), ("val_loss", VAL_LOSS),
                             ("selection_accuracy", ACC), ("sparsity", SPARSE))
        ]
        n = max(len(metrics), 1)
        self.query_one("#md-chart", BrailleChart).plot(
            series, x_max=max(n, 2), x_ticks=epoch_ticks(n))  # x_max: the points
        return dict(cfg)
