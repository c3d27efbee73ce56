"""A training run as it happens: progress and ETA, loss and accuracy curves, log, evaluation.

``RunView.apply(event)`` takes the events of ``avwap train --progress-json``
(``storage.events``, documented in docs/model.md) one at a time; everything on it is what the
child process reported, nothing recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Log, ProgressBar, Static

from storage import events
from storage.events import Event, EventError, from_dict
from tui.screens.training.eval_view import EvalView
from tui.widgets.chart import BrailleChart, Series

LOSS, VAL_LOSS = Style(color="cyan"), Style(color="#ff8700")
ACC, SPARSE = Style(color="#3fb950"), Style(color="magenta")
#: A space the line breaking keeps (see ``legend``).
GLUE = "\u2800"


def legend(*items: tuple[str, Style], width: int | None = None) -> Text:
    """``━ name`` per curve, two spaces apart; a narrow pane wraps between entries,
    never inside one that fits its ``width`` (``━ val loss━ selection`` ran
    together at 80x24).

    Inside such an entry the spaces are the blank braille cell: it draws as a
    space, and Textual's line breaking does not break at it (it does at a
    no-break space). An entry wider than the pane breaks at its spaces instead.
    """
    def entry(name: str) -> str:
        text = f"━ {name}"
        return text if width is not None and len(text) > width else text.replace(" ", GLUE)

    return Text("  ").join(Text(entry(name), style) for name, style in items)


class Legend(Widget):
    """A chart's legend, wrapped between its entries at the width it has (``legend``)."""

    DEFAULT_CSS = "Legend { height: auto; }"

    def __init__(self, *items: tuple[str, Style], id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.items = items

    def render(self) -> Text:
        return legend(*self.items, width=self.content_region.width or None)


class RunView(VerticalScroll):
    """Progress bars, two curves, the best epoch, the log tail and the evaluation.

    It scrolls, below whatever the screen puts above it (the precheck and the
    buttons, given as its children): the curves take the room left and never
    less than 8 rows, and in a low window (80x24) the rest is scrolled to, never
    cut (a fixed-height view cut the verdict and the log there).
    """

    DEFAULT_CSS = """
    RunView { height: 1fr; }
    RunView .bar-row { height: 1; }
    RunView .bar-row Static { width: 10; }
    RunView ProgressBar { width: 1fr; }
    RunView #run-status { height: auto; min-height: 2; }
    RunView #run-charts { height: 1fr; min-height: 8; }
    RunView .curve { width: 1fr; height: 1fr; }
    RunView #curve-acc { margin-left: 2; }
    RunView .legend { height: auto; }
    RunView Log { height: 6; border: round $panel; }
    RunView #run-verdict { height: auto; display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.loss: list[float] = []
        self.val_loss: list[float] = []
        self.accuracy: list[float] = []
        self.sparsity: list[float] = []
        self.best_epoch: int | None = None
        self.best_accuracy: float | None = None
        self.epochs = 0
        self.eval: dict[str, Any] | None = None
        self.finished: str | None = None  # done | interrupted | error text
        self._t0: float | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="bar-row"):
            yield Static("epoch")
            yield ProgressBar(total=1, id="bar-epoch", show_eta=False)
        with Horizontal(classes="bar-row"):
            yield Static("overall")
            yield ProgressBar(total=1, id="bar-all", show_eta=False)
        yield Static("No training yet: fill the form and press ctrl+t (Start).", id="run-status")
        with Horizontal(id="run-charts"):
            with Vertical(classes="curve"):
                yield Legend(("loss", LOSS), ("val loss", VAL_LOSS), classes="legend")
                yield BrailleChart(id="chart-loss")
            with Vertical(classes="curve", id="curve-acc"):
                yield Legend(("selection accuracy", ACC), ("sparsity", SPARSE),
                             classes="legend")
                yield BrailleChart(id="chart-acc")
        yield EvalView(id="run-evaluation")
        yield Static("", id="run-verdict")
        yield Log(id="run-log", max_lines=500)

    def reset(self, title: str) -> None:
        self.loss, self.val_loss, self.accuracy, self.sparsity = [], [], [], []
        self.best_epoch = self.best_accuracy = None
        self.eval, self.finished, self._t0 = None, None, time.monotonic()
        # A known total (not an indeterminate, animated bar) until the child says more.
        self.query_one("#bar-epoch", ProgressBar).update(total=1, progress=0)
        self.query_one("#bar-all", ProgressBar).update(total=1, progress=0)
        self.query_one(EvalView).show(None)
        self.query_one("#run-verdict", Static).display = False
        self.query_one(Log).clear()
        self._status(title)
        self._plot()

    def show_progress(self) -> None:
        """Scroll the progress bars to the top (in a low window they sat below its edge,
        under the precheck); where everything fits this changes nothing."""
        bars = self.query_one(".bar-row")
        self.call_after_refresh(self.scroll_to_widget, bars, top=True, animate=False)

    def log_line(self, line: str) -> None:
        self.query_one(Log).write_line(line)

    def _status(self, text: str | Text) -> None:
        self.query_one("#run-status", Static).update(text if isinstance(text, Text)
                                                     else Text(text))

    # -- events ----------------------------------------------------------------
    def apply(self, ev: Event | Mapping[str, Any]) -> None:
        """Show one event; a wire object is decoded first (``storage.events.from_dict``).

        A line that is no known event is one error line in the log, never a crash.
        """
        if not isinstance(ev, Event):
            try:
                ev = from_dict(ev)
            except EventError as e:
                self.log_line(f"error: {e}")
                return
        match ev:
            case events.Build():
                self._status(f"Building the data set: {ev.tickers} symbols, {ev.days} days…")
                self.log_line(f"build: {ev.tickers} symbols × {ev.days} days")
            case events.BuildProgress():
                self.query_one("#bar-epoch", ProgressBar).update(total=ev.total,
                                                                progress=ev.done)
                self._status(f"Building the data set: {ev.done} of {ev.total} symbols")
            case events.Skipped():
                self.log_line("skipped (no bars in the window): "
                              f"{', '.join(map(str, ev.symbols[:20]))}")
            case events.Start():
                self._on_start(ev)
            case events.Step():
                self.query_one("#bar-epoch", ProgressBar).update(progress=ev.step)
                self.query_one("#bar-all", ProgressBar).update(progress=ev.global_step)
                self._status(f"Epoch {ev.epoch}/{self.epochs} · step {ev.step}/{ev.steps} · "
                             f"loss {ev.loss:.4f}" + self._best_text())
            case events.Epoch():
                self._on_epoch(ev)
            case events.Fold():
                self._status(f"Walk-forward fold {ev.fold}/{ev.folds}: training a model "
                             f"to test on {ev.test}…")
                self.log_line(f"fold {ev.fold}/{ev.folds}: test {ev.test}, "
                              f"{ev.train_samples:,} training, {ev.val_samples:,} validation")
            case events.FoldEpoch():
                self._status(f"Walk-forward fold {ev.fold}/{ev.folds} · epoch "
                             f"{ev.epoch}/{ev.epochs} · validation accuracy "
                             f"{ev.selection_accuracy:.3f}")
            case events.Null():
                self._status(f"Null test: the {ev.test_days} test days with random "
                             "directions…")
                self.log_line("null test: rebuilding the test days sign-randomized")
            case events.Checkpoint():
                self.log_line(f"checkpoint {'+'.join(ev.roles)} → {ev.path}")
            case events.Eval():
                self._on_eval(ev.table)
            case events.Interrupted():
                self.finished = "interrupted"
                self._status(Text(ev.message, style="yellow"))
                self.log_line(ev.message)
            case events.Done():
                self.finished = "interrupted" if ev.interrupted else "done"
                if not ev.interrupted:
                    self._status(Text(f"Done: {ev.name} saved to {ev.path}"
                                      + self._best_text(), style="green"))
            case events.Error():
                self.failed(ev.message)
            case events.BadLine():  # a line that is no known event: one line, the run goes on
                self.log_line(f"error: {ev.message}")

    def _on_start(self, ev: events.Start) -> None:
        self.epochs = ev.epochs
        steps = ev.steps_per_epoch
        self.query_one("#bar-epoch", ProgressBar).update(total=steps, progress=0)
        self.query_one("#bar-all", ProgressBar).update(total=self.epochs * steps,
                                                      progress=ev.resumed_at or 0)
        self.log_line(f"start {ev.name}: {ev.train_samples:,} training, "
                      f"{ev.val_samples:,} validation, {ev.test_samples:,} "
                      f"test samples, {ev.features} "
                      f"features, {ev.outputs} selectable, {self.epochs} epochs × "
                      f"{steps} steps")
        self._status(f"Training {ev.name}…")

    def _on_epoch(self, ev: events.Epoch) -> None:
        self.loss.append(float(ev.loss))
        self.val_loss.append(float(ev.val_loss))
        self.accuracy.append(float(ev.selection_accuracy))
        self.sparsity.append(float(ev.sparsity))
        if ev.best:
            self.best_epoch = ev.epoch
            self.best_accuracy = float(ev.selection_accuracy)
        eta_text = f" · ETA {_duration(float(ev.eta_s))}" if ev.eta_s is not None else ""
        self._status(f"Epoch {ev.epoch}/{ev.epochs} done · val loss "
                     f"{self.val_loss[-1]:.4f} · accuracy {self.accuracy[-1]:.3f} · sparsity "
                     f"{self.sparsity[-1]:.2f}{eta_text}" + self._best_text())
        self.log_line(f"epoch {ev.epoch}: loss {self.loss[-1]:.4f} "
                      f"val {self.val_loss[-1]:.4f} acc {self.accuracy[-1]:.3f} "
                      f"sparsity {self.sparsity[-1]:.2f}" + (" (best)" if ev.best else ""))
        self._plot()

    def _on_eval(self, ev: dict[str, Any]) -> None:
        self.eval = ev
        self.query_one(EvalView).show(ev)
        verdict = self.query_one("#run-verdict", Static)
        verdict.update(Text(str(ev.get("verdict", "")),
                            style="bold green" if ev.get("beats_all") else "bold red"))
        verdict.display = True

    def failed(self, error: str) -> None:
        self.finished = error
        self._status(Text(error, style="bold red"))
        self.log_line(f"error: {error}")

    def _best_text(self) -> str:
        if self.best_epoch is None or self.best_accuracy is None:
            return ""
        return f" · best epoch {self.best_epoch} ({self.best_accuracy:.3f})"

    def _plot(self) -> None:
        n = max(len(self.loss), 1)
        ticks = epoch_ticks(n)
        # x_max is the number of points (the chart's x runs 0 … x_max − 1): n − 1
        # drew the last epoch off the right edge, from the third epoch on
        self.query_one("#chart-loss", BrailleChart).plot(
            [Series(np.asarray(self.loss), LOSS), Series(np.asarray(self.val_loss), VAL_LOSS)],
            x_max=max(n, 2), x_ticks=ticks)
        self.query_one("#chart-acc", BrailleChart).plot(
            [Series(np.asarray(self.accuracy), ACC), Series(np.asarray(self.sparsity), SPARSE)],
            x_max=max(n, 2), x_ticks=ticks)


def epoch_ticks(n: int) -> list[tuple[int, str]]:
    """About eight epoch numbers under ``n`` points, the last epoch always among them."""
    ticks = [(k, str(k + 1)) for k in range(0, n, max(1, n // 8))]
    return ticks if ticks[-1][0] == n - 1 else [*ticks, (n - 1, str(n))]


def _duration(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
