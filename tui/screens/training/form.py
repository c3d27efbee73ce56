"""The training form: ticker list, days, epochs, interval … each with its hint or its error."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from tui.screens.training.request import FIELDS


class TrainForm(VerticalScroll):
    """Inputs with the seeds' defaults; ``Changed`` on every edit (the screen validates)."""

    #: Its columns (the screen's breakpoints count them).
    WIDTH = 44
    DEFAULT_CSS = f"""
    TrainForm {{ width: {WIDTH}; height: 1fr; padding: 0 1; }}
    TrainForm .row {{ height: 1; }}
    TrainForm .row Label {{ width: 16; }}
    TrainForm .row Input {{ width: 1fr; height: 1; border: none; padding: 0; }}
    TrainForm .row Select {{ width: 1fr; }}
    TrainForm #row-list {{ height: 3; }}
    TrainForm .hint {{ color: $text-muted; height: auto; margin-bottom: 1; }}
    TrainForm .hint.-error {{ color: $error; }}
    """

    @dataclass
    class Changed(Message):
        """A field changed (``values`` by field key, ``list_name`` the chosen list)."""

        values: dict[str, str]
        list_name: str | None

    def __init__(self, lists: list[str], list_name: str | None, *, id: str | None = None
                 ) -> None:
        super().__init__(id=id)
        self.lists = lists
        self.list_name = list_name if list_name in lists else (lists[0] if lists else None)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row", id="row-list"):
            yield Label("Ticker list")
            yield Select([(n, n) for n in self.lists], value=self.list_name or Select.BLANK,
                         allow_blank=not self.lists, id="f-list")
        yield Static("the symbols to learn from", classes="hint", id="h-list")
        for f in FIELDS:
            with Horizontal(classes="row"):
                yield Label(f.label)
                yield Input(f.default, id=f"f-{f.key}")
            yield Static(f.hint, classes="hint", id=f"h-{f.key}")

    def values(self) -> dict[str, str]:
        return {f.key: self.query_one(f"#f-{f.key}", Input).value for f in FIELDS}

    def set_value(self, key: str, text: str) -> None:
        self.query_one(f"#f-{key}", Input).value = text

    def show_errors(self, errors: dict[str, str]) -> None:
        """Each field's hint, or its error in its place (text from data shown as written)."""
        hints = {"list": "the symbols to learn from", **{f.key: f.hint for f in FIELDS}}
        for key, hint in hints.items():
            widget = self.query_one(f"#h-{key}", Static)
            err = errors.get(key)
            widget.set_class(bool(err), "-error")
            widget.update(Text(f"✗ {err}" if err else hint))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.values(), self.list_name))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.list_name = None if event.value is Select.BLANK else str(event.value)
        self.post_message(self.Changed(self.values(), self.list_name))
