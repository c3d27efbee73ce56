"""Jump the replay to a time: one line of input, read by ``tui.runtime.replay_nav``."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class JumpDialog(ModalScreen[str | None]):
    """Asks for ``HH:MM``, ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM`` (exchange time)."""

    DEFAULT_CSS = """
    JumpDialog { align: center middle; }
    JumpDialog > Vertical {
        width: 60; height: auto; border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="jump.cancel"),
    ]

    def __init__(self, now: str) -> None:
        super().__init__()
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Jump the replay to (exchange time; now {self.now})")
            yield Input(placeholder="10:45  ·  2025-11-20  ·  2025-11-20 10:45", id="jump-to")
            yield Static("enter jumps · escape cancels · earlier minutes of a replayed "
                         "session step again from its start", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#jump-to")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
