"""The anchors dialog (``K`` on the console): list, delete and alert on custom anchors.

Why a dialog and not a pane: a trader keeps a few anchors per symbol and looks
at them now and then (which ones, since when, where price is against each); the
AVWAP pane already shows their values every minute. The dialog lists the
highlighted symbol's anchors (``t`` toggles all symbols), ``d``/delete removes
the highlighted one after the Confirm question, ``a`` sets an alert on one of
its bands. It knows nothing of the runtime: the console passes the rows
(``load``), the delete (``delete``, awaited: the session runs it on the MLX
thread) and the alert setter. Every text from data goes through ``fmt.safe``;
a refused delete is one notification line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from storage.errors import AvwapError
from tui import fmt
from tui.screens.common.confirm import Confirm


@dataclass(frozen=True)
class AnchorItem:
    """One anchor as the dialog lists it (values NaN when its symbol is not loaded)."""

    anchor_id: int
    symbol: str
    when: str  # the anchor bar in exchange time, ``YYYY-MM-DD HH:MM ET``
    label: str
    values: dict[str, float] = field(default_factory=dict)  # level, up1 … dn3, z

    @property
    def name(self) -> str:
        """What the pane and the alert call it: the label, else the bar's time."""
        return self.label or "@" + self.when[5:16]

    def line(self) -> str:
        nan = float("nan")
        return (f"{self.symbol:<6} {self.when[:16]}  {self.label[:16]:<16} "
                f"{fmt.price(self.values.get('level', nan)):>10} "
                f"{fmt.sigma(self.values.get('z', nan)):>8}")


class AnchorsDialog(ModalScreen[None]):
    """The custom anchors of ``symbol`` (or of every symbol)."""

    DEFAULT_CSS = """
    AnchorsDialog { align: center middle; }
    AnchorsDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    AnchorsDialog OptionList { height: auto; max-height: 18; text-wrap: nowrap; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="anchors.close"),
        Binding("d,delete", "delete", "Delete", id="anchors.delete"),
        Binding("a", "alert", "Alert", id="anchors.alert"),
        Binding("t", "toggle_all", "This/all symbols", id="anchors.all"),
    ]

    def __init__(
        self,
        symbol: str | None,
        load: Callable[[str | None], list[AnchorItem]],
        delete: Callable[[int], Awaitable[object]],
        alert: Callable[[AnchorItem], None],
    ) -> None:
        super().__init__()
        self.symbol = symbol
        self.show_all = symbol is None
        self._load, self._delete, self._alert = load, delete, alert
        self.items: list[AnchorItem] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("", id="anchors-title")
            yield OptionList(id="anchors")
            yield Label("d delete · a alert · t this symbol/all · escape close",
                        id="anchors-keys")

    def on_mount(self) -> None:
        self.reload()
        self.query_one(OptionList).focus()

    def reload(self) -> None:
        """Read the anchors again (after a delete, or the scope changed)."""
        try:
            self.items = self._load(None if self.show_all else self.symbol)
        except AvwapError as e:
            self.items = []
            self.notify(fmt.safe(e), title="Anchors", severity="error")
        scope = "every symbol" if self.show_all else (self.symbol or "")
        title = f"Anchors of {scope}: {fmt.plural(len(self.items), 'anchor')}"
        if not self.items:
            title += " (set one with a on the chart, or `avwap anchors add`)"
        self.query_one("#anchors-title", Label).update(fmt.safe(title))
        ol = self.query_one(OptionList)
        ol.clear_options()
        ol.add_options([Option(fmt.safe(i.line()), id=str(i.anchor_id)) for i in self.items])
        if self.items:
            ol.highlighted = 0

    @property
    def current(self) -> AnchorItem | None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.items:
            return None
        return self.items[min(ol.highlighted, len(self.items) - 1)]

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_all(self) -> None:
        if self.symbol is not None:
            self.show_all = not self.show_all
            self.reload()

    def action_alert(self) -> None:
        item = self.current
        if item is not None:
            self._alert(item)

    def action_delete(self) -> None:
        item = self.current
        if item is None:
            return

        def answered(answer: str | None) -> None:
            if answer == "delete":
                self.run_worker(self._do_delete(item), group="anchors-delete")

        self.app.push_screen(Confirm(
            f"Delete the anchor {item.symbol} {item.when}"
            + (f" ({item.label})" if item.label else "") + "?",
            {"d": ("delete", "delete it (its alerts go with it)")}), answered)

    async def _do_delete(self, item: AnchorItem) -> None:
        try:
            await self._delete(item.anchor_id)
        except AvwapError as e:
            self.notify(fmt.safe(e), title="Anchor not deleted", severity="error")
        else:
            self.notify(fmt.safe(f"Anchor deleted: {item.symbol} {item.name}"), timeout=3)
        self.reload()
