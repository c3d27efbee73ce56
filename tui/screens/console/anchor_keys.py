"""The console's custom anchors: the dialog the watchlist's ``K`` asks for; ``AnchorsChanged``.

Why a helper of its own: ``K`` belongs to the watchlist, which posts
``Watchlist.AnchorsAsked`` with the highlighted symbol; the dialog needs the
session (which adds and deletes anchors on the MLX thread) and the current
frame's anchor values, so it lives here, behind the ``ConsoleHost`` Protocol,
and the screen keeps one handler line per message.

``AnchorsChanged`` (an anchor added from the chart's ``a``, or deleted here)
carries the frame with the new values, shown at once: an anchor is on screen
without waiting for the next minute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.anchors import list_anchors
from tui import fmt
from tui.alerts import AlertRule, custom_anchor
from tui.messages import AnchorsChanged
from tui.runtime.anchors import BANDS
from tui.screens.common.alert_dialog import AlertDialog
from tui.screens.common.anchors import AnchorItem, AnchorsDialog

if TYPE_CHECKING:
    from tui.app import AvwapApp
    from tui.runtime.frames import Frame
    from tui.screens.console.host import ConsoleHost


def custom_choices(frame: Frame | None, symbol: str) -> list[tuple[str, str, dict[str, float]]]:
    """The symbol's custom anchors as ``AlertDialog`` choices (rule anchor, name, values)."""
    from tui.screens.console.present import anchor_name

    rows = frame.anchors.get(symbol, ()) if frame is not None else ()
    return [(custom_anchor(lv.anchor.id), anchor_name(lv.anchor),
             {k: lv.value(k) for k in BANDS}) for lv in rows]


class AnchorKeys:
    """The custom-anchor actions of the console (see the module docstring)."""

    def __init__(self, console: ConsoleHost) -> None:
        self.console = console

    @property
    def _anchors_app(self) -> AvwapApp:
        return self.console.avwap_app

    def anchor_items(self, symbol: str | None) -> list[AnchorItem]:
        """The anchors of ``symbol`` (or all) from the cache, with their values now."""
        ctl = self._anchors_app.controller
        values = {lv.anchor.id: lv for rows in (ctl.frame.anchors if ctl.frame else {}).values()
                  for lv in rows}
        items = []
        for a in list_anchors(ctl.cache, None if symbol is None else [symbol]):
            lv = values.get(a.id)
            vals = {k: lv.value(k) for k in (*BANDS, "z")} if lv is not None else {}
            items.append(AnchorItem(a.id, a.symbol, fmt.exchange_time(a.ts), a.label, vals))
        return items

    def open_dialog(self, symbol: str | None) -> None:
        """The anchors dialog for ``symbol``, the highlighted one (all symbols with none)."""
        self._anchors_app.push_screen(
            AnchorsDialog(symbol, self.anchor_items, self._delete_anchor, self.alert_on_anchor))

    async def _delete_anchor(self, anchor_id: int) -> None:
        if self.console.session is None:
            from storage.anchors import AnchorError

            raise AnchorError("the console has not started: nothing to delete yet")
        await self.console.session.delete_anchor(anchor_id)

    def alert_on_anchor(self, item: AnchorItem) -> None:
        """Pick a band of one custom anchor and set the alert (persisted like the others)."""
        if not item.values:
            self.console.notify(fmt.safe(f"{item.symbol} is not loaded in this list: no values "
                                         "to alert on yet"), severity="warning")
            return
        ctl = self._anchors_app.controller

        def chosen(rule: AlertRule | None) -> None:
            if rule is not None:
                ctl.alerts.add(rule)
                self.console.status_bar().set(alerts=len(ctl.alerts.rules))
                self.console.notify(fmt.safe(f"Alert set: {rule.label}"), timeout=3)

        self._anchors_app.push_screen(AlertDialog(
            item.symbol, custom=[(custom_anchor(item.anchor_id), item.name, item.values)],
            registry=False), chosen)

    def changed(self, msg: AnchorsChanged) -> None:
        """An anchor was added or deleted: its values (or its absence) show now."""
        frame, shown = msg.frame, self.console.frame
        if frame is not None and (shown is None or frame.seq >= shown.seq):
            self.console.show_frame(frame)
        self.console.status_bar().set(alerts=len(self._anchors_app.controller.alerts.rules))
