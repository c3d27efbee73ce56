"""The new-backtest form: strategy, parameters or grid, tickers, dates, costs, stops.

Each field shows its hint, or its error in the hint's place; the screen
checks the values (``request.parse_form``) on every edit and on Run.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, ProgressBar, Static

from tui.screens.backtests.request import FIELDS


class NewBacktestForm(Vertical):
    """The fields, Run/Cancel, a progress bar and the last run's status line."""

    DEFAULT_CSS = """
    NewBacktestForm { height: 1fr; }
    NewBacktestForm #bt-fields { height: 1fr; padding: 0 1; }
    NewBacktestForm .row { height: 1; }
    NewBacktestForm .row Label { width: 20; }
    NewBacktestForm .row Input { width: 1fr; height: 1; border: none; padding: 0; }
    NewBacktestForm .hint { color: $text-muted; height: auto; padding-left: 20; }
    NewBacktestForm .hint.-error { color: $error; }
    NewBacktestForm #bt-buttons { height: 3; }
    NewBacktestForm #bt-buttons Button { margin-right: 1; }
    NewBacktestForm #bt-progress { height: 1; }
    NewBacktestForm #bt-status { height: auto; min-height: 1; }
    """

    def __init__(self, defaults: dict[str, str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.defaults = defaults

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="bt-fields"):
            for key, label, default, hint in FIELDS:
                with Horizontal(classes="row"):
                    yield Label(label)
                    yield Input(self.defaults.get(key, default), id=f"bf-{key}")
                yield Static(hint, classes="hint", id=f"bh-{key}")
        with Horizontal(id="bt-buttons"):
            yield Button("Run (ctrl+r)", id="bt-run", variant="success")
            yield Button("Cancel (ctrl+x)", id="bt-cancel", variant="error", disabled=True)
        yield ProgressBar(id="bt-progress", total=1.0, show_eta=False)
        yield Static("", id="bt-status")

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#bf-{key}", Input).value for key, *_ in FIELDS}

    def set_value(self, key: str, text: str) -> None:
        self.query_one(f"#bf-{key}", Input).value = text

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, _, _, hint in FIELDS:
            w = self.query_one(f"#bh-{key}", Static)
            err = errors.get(key)
            w.set_class(bool(err), "-error")
            w.update(Text(f"✗ {err}" if err else hint))

    def status(self, text: str | Text, *, error: bool = False) -> None:
        self.query_one("#bt-status", Static).update(
            text if isinstance(text, Text) else Text(text, style="bold red" if error else ""))

    def progress(self, fraction: float | None) -> None:
        bar = self.query_one("#bt-progress", ProgressBar)
        bar.update(total=1.0, progress=0.0 if fraction is None else fraction)

    def running(self, yes: bool) -> None:
        self.query_one("#bt-run", Button).disabled = yes
        self.query_one("#bt-cancel", Button).disabled = not yes
