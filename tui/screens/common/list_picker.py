"""The ticker-list picker: every available list with its size, or why it is broken.

Why one line per list: a description longer than the box used to wrap, and its
wrapped words (``(``, ``banks``) read as lists of their own. Each option is one
line cut with an ellipsis (``text-wrap: nowrap``); the box fits the terminal
from 80 columns up. Names and descriptions come from files, so they pass
through ``fmt.safe`` (a ``[bold]`` in a description is shown as written).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from storage.errors import TickerListError
from storage.tickers import available_lists, load_list
from tui import fmt


def describe_lists(user_dir: Path | None = None) -> list[tuple[str, str, bool]]:
    """(name, description, usable) for every available list."""
    out = []
    for name, path in available_lists(user_dir).items():
        try:
            tl = load_list(name, user_dir)
        except TickerListError as e:
            reason = str(e).removeprefix(f"{path}: ")  # the name already says which file
            out.append((name, f"broken: {reason}", False))
            continue
        desc = fmt.plural(len(tl), "symbol") + (f" · {tl.description}" if tl.description else "")
        out.append((name, desc, True))
    return out


class ListPicker(ModalScreen[str | None]):
    """Choose a ticker list; enter switches to it, escape cancels."""

    DEFAULT_CSS = """
    ListPicker { align: center middle; }
    ListPicker > Vertical {
        width: 100%; max-width: 100; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ListPicker OptionList {
        height: auto; max-height: 20; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
    ]

    def __init__(self, current: str | None, user_dir: Path | None = None) -> None:
        super().__init__()
        self.current = current
        self.user_dir = user_dir

    def compose(self) -> ComposeResult:
        options = []
        for name, desc, ok in describe_lists(self.user_dir):
            mark = "●" if name == self.current else " "
            one_line = " ".join(desc.split())  # a newline in a description stays one line
            options.append(Option(fmt.safe(f"{mark} {name:<12} {one_line}"), id=name,
                                  disabled=not ok))
        with Vertical():
            yield Label("Ticker lists — enter to switch, escape to cancel")
            yield OptionList(*options, id="lists")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        if self.current is not None:
            try:
                ol.highlighted = ol.get_option_index(self.current)
            except Exception:
                ol.highlighted = 0
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
