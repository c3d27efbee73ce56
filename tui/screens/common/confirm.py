"""A question with a few keyed answers (delete a model? stop the training before quitting?)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class Confirm(ModalScreen[str | None]):
    """``choices`` maps a key to (answer, label); escape answers ``None``."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 64; height: auto; border: round $warning; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer('')", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, question: str, choices: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, style="bold"))
            for key, (_, label) in self.choices.items():
                yield Static(Text.assemble((f" {key} ", "bold reverse"), f"  {label}"))
            yield Static(Text.assemble((" escape ", "bold reverse"), "  cancel"))

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if key in self.choices:
            getattr(event, "stop", lambda: None)()
            self.dismiss(self.choices[key][0])

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer or None)
