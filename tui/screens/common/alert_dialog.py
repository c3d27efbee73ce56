"""Set an alert from the keyboard: pick the anchor and band for the highlighted symbol.

The options are the calendar anchors, the auto anchors (hh, ll, hv) and the
symbol's custom anchors (``custom``: rule anchor ``anchor:<id>``, its name and
values by band); the anchors dialog opens it on one custom anchor alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui import fmt
from tui.alerts import ANCHORS, AUTO_ANCHORS, BAND_LABELS, BANDS, AlertRule, output_name


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

    def __init__(self, symbol: str, levels: dict[str, float] | None = None,
                 custom: Sequence[tuple[str, str, dict[str, float]]] = (),
                 *, registry: bool = True) -> None:
        super().__init__()
        self.symbol = symbol
        self.levels = levels or {}
        #: (rule anchor ``anchor:<id>``, name, values by band) per custom anchor.
        self.custom = tuple(custom)
        self.registry = registry  # False: only the custom anchors are offered
        self._names = {key: name for key, name, _ in self.custom}

    def compose(self) -> ComposeResult:
        options = []
        rows: list[tuple[str, str, dict[str, float]]] = []
        if self.registry:
            rows += [(a, a, {b: self.levels.get(output_name(a, b), float("nan")) for b in BANDS})
                     for a in (*ANCHORS, *AUTO_ANCHORS)
                     if a in ANCHORS or output_name(a, "level") in self.levels]
        rows += list(self.custom)
        for anchor, name, values in rows:
            for band in reversed(BANDS):
                options.append(Option(
                    fmt.safe(f"{name[:12]:<12} {BAND_LABELS[band]:>6}  "
                             f"{fmt.price(values.get(band, float('nan'))):>10}"),
                    id=f"{anchor}|{band}",
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
        anchor, band = str(event.option.id).split("|")
        self.dismiss(AlertRule(self.symbol, anchor, band, name=self._names.get(anchor, "")))

    def action_cancel(self) -> None:
        self.dismiss(None)
