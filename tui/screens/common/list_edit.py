"""Dialogs for editing ticker lists from the console: pick a target list, name a new one.

Why the current list comes first: ``+`` is most often "keep this found symbol
in the list I am watching". Lists that already hold the symbol, and broken
lists, are shown but cannot be chosen, so the picker never answers with an
edit that would fail. The last entry makes a new list. Names come from files
and user input, so everything shown passes through ``fmt.safe``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from storage.errors import TickerListError
from storage.tickers import available_lists, check_list_name, load_list
from tui import fmt

#: The picker's answer for its "new list…" entry (not a valid list name, so no clash).
NEW_LIST = "+new"


class AddToListPicker(ModalScreen[str | None]):
    """Choose the list to add ``symbol`` to; answers a list name, ``NEW_LIST`` or ``None``."""

    DEFAULT_CSS = """
    AddToListPicker { align: center middle; }
    AddToListPicker > Vertical {
        width: 100%; max-width: 72; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    AddToListPicker OptionList {
        height: auto; max-height: 18; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="addlist.cancel"),
    ]

    def __init__(self, symbol: str, current: str | None, user_dir: Path | None = None) -> None:
        super().__init__()
        self.symbol = symbol
        self.current = current
        self.user_dir = user_dir

    def compose(self) -> ComposeResult:
        names = list(available_lists(self.user_dir))
        if self.current in names:
            names.remove(self.current)
            names.insert(0, self.current)
        options = []
        for name in names:
            try:
                tl = load_list(name, self.user_dir)
            except TickerListError:
                options.append(Option(fmt.safe(f"  {name:<14} broken: see L"), id=name,
                                      disabled=True))
                continue
            has = self.symbol in tl.symbols
            mark = "●" if name == self.current else " "
            note = f"has {self.symbol}" if has else fmt.plural(len(tl), "symbol")
            options.append(Option(fmt.safe(f"{mark} {name:<14} {note}"), id=name, disabled=has))
        options.append(Option("  new list…", id=NEW_LIST))
        with Vertical():
            yield Label(fmt.safe(f"Add {self.symbol} to… (enter adds, escape cancels)"))
            yield OptionList(*options, id="targets")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        first = next(i for i in range(ol.option_count) if not ol.get_option_at_index(i).disabled)
        ol.highlighted = first
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NewListDialog(ModalScreen[str | None]):
    """Type a new list's name; a bad or taken name is refused inline, the box stays open."""

    DEFAULT_CSS = """
    NewListDialog { align: center middle; }
    NewListDialog > Vertical {
        width: 100%; max-width: 64; height: auto; border: round $accent;
        background: $surface; padding: 0 1;
    }
    NewListDialog #newlist-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="newlist.cancel"),
    ]

    def __init__(self, symbol: str | None, user_dir: Path | None = None) -> None:
        super().__init__()
        self.symbol = symbol
        self.user_dir = user_dir

    def compose(self) -> ComposeResult:
        start = f" with {self.symbol}" if self.symbol else ""
        with Vertical():
            yield Label(fmt.safe(f"New list{start}: enter creates, escape cancels"))
            yield Input(placeholder="name: letters, digits, _ or -", id="newlist-name")
            yield Static("", id="newlist-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#newlist-name")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            name = check_list_name(event.value)
            if name in available_lists(self.user_dir):
                raise TickerListError(f"a ticker list named {name!r} already exists")
        except TickerListError as e:
            self.query_one("#newlist-error", Static).update(fmt.safe(e))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
