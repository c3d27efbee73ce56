"""Set an alert from the keyboard: pick the anchor and band for the highlighted symbol."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui import fmt
from tui.alerts import ANCHORS, BAND_LABELS, BANDS, AlertRule, output_name


class AlertDialog(ModalScreen[AlertRule | None]):
    """Options "session +2σ (123.45)" …; enter sets the alert, escape cancels."""

    DEFAULT_CSS = """
    AlertDialog { align: center middle; }
    AlertDialog > Vertical {
        width: 60; max-width: 100%; height: auto; max-height: 100%; border: round $warning;
        background: $surface; padding: 0 1;
    }
    AlertDialog OptionList { height: auto; max-height: 24; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="alert.cancel"),
    ]

    def __init__(self, symbol: str, levels: dict[str, float] | None = None) -> None:
        super().__init__()
        self.symbol = symbol
        self.levels = levels or {}

    def compose(self) -> ComposeResult:
        options = []
        for anchor in ANCHORS:
            for band in reversed(BANDS):
                value = self.levels.get(output_name(anchor, band), float("nan"))
                options.append(Option(
                    f"{anchor:<8} {BAND_LABELS[band]:>6}  {fmt.price(value):>10}",
                    id=f"{anchor}:{band}",
                ))
        with Vertical():
            yield Label(fmt.safe(f"Alert when {self.symbol} crosses… "
                                 "(enter sets, escape cancels)"))
            yield OptionList(*options, id="bands")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = 1  # session +2σ: the usual first choice
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        anchor, band = str(event.option.id).split(":")
        self.dismiss(AlertRule(self.symbol, anchor, band))

    def action_cancel(self) -> None:
        self.dismiss(None)
