"""The alerts list: active rules (delete with ``d``) and what fired, newest first."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tui import fmt
from tui.alerts import AlertBook


class AlertsScreen(ModalScreen[None]):
    """Rules and firings of the console's ``AlertBook``."""

    DEFAULT_CSS = """
    AlertsScreen { align: center middle; }
    AlertsScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%; border: round $warning;
        background: $surface; padding: 0 1;
    }
    AlertsScreen OptionList { height: auto; max-height: 12; }
    AlertsScreen #fired { height: auto; max-height: 16; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="alerts.close"),
        Binding("d,delete", "delete", "Delete rule", id="alerts.delete"),
    ]

    def __init__(self, book: AlertBook) -> None:
        super().__init__()
        self.book = book

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Alert rules — d deletes, escape closes")
            yield OptionList(id="rules")
            yield Label("Fired")
            yield Static(id="fired")

    def on_mount(self) -> None:
        self.refresh_lists()
        self.query_one(OptionList).focus()

    def refresh_lists(self) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        rules = self.book.rules
        if rules:
            ol.add_options([Option(fmt.safe(r.label), id=str(r.id)) for r in rules])
            ol.highlighted = 0
        else:
            ol.add_option(Option("no rules yet: press a on a symbol", disabled=True))
        fired = [f"{fmt.exchange_time(h.ts)}  {h.message}" for h in reversed(self.book.history)]
        self.query_one("#fired", Static).update(
            fmt.safe("\n".join(fired[:50])) or "nothing fired yet")

    def action_delete(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None:
            return
        opt = ol.get_option_at_index(ol.highlighted)
        if opt.id is not None:
            self.book.remove(int(opt.id))
            self.refresh_lists()

    def action_close(self) -> None:
        self.dismiss(None)
