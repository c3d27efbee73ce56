"""The ``?`` overlay: every key of the screen it was opened on, with its binding id.

Why ids are shown: they are what the ``[keys]`` section of the config remaps
(``sort.next = "ctrl+o"``), so the help doubles as the remapping reference.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import fmt

HelpRow = tuple[str, str, str]  # key display, description, binding id


#: What the mouse does on a screen that says nothing else (``ChartScreen.MOUSE_HELP``).
MOUSE = "click a row to select, a header to sort; wheel scrolls"


class HelpScreen(ModalScreen[None]):
    """A centred list of keys; escape, ``?`` or ``q`` closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 80; height: auto; max-height: 100%; border: round $accent;
        background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[HelpRow], mouse: str = MOUSE) -> None:
        super().__init__()
        self.rows = rows
        self.mouse = mouse

    def compose(self) -> ComposeResult:
        table = Table(title=fmt.safe("Keys (remap in the config's [keys] table by id)"),
                      expand=True, box=None, padding=(0, 1))
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        table.add_column("id", style="dim")
        for key, desc, bid in self.rows:
            table.add_row(fmt.safe(key), fmt.safe(desc), fmt.safe(bid))
        table.add_row("", "", "")
        table.add_row("mouse", fmt.safe(self.mouse), "")
        with VerticalScroll():
            yield Static(table, id="help-table")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
