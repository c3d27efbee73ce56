"""The console's palette entries, "category: action" style (``list: all``, ``speed: max``).

Why a Provider: everything the keys do is also reachable by name from ctrl+p,
which is how a user finds an action without knowing its key. The console owns
these entries, but the app lists them on every screen (``AvwapApp.COMMANDS``):
they act on the console screen whichever screen the palette was opened on
(``AvwapApp.console_screen``), switching to it first when a dialog follows.
The watchlist's entries run the watchlist's own actions, so they post the same
requests as its keys (``Watchlist.Asked``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from storage.feeds.replay import SPEEDS, speed_label
from storage.tickers import available_lists
from tui.screens.common.commands import Entry, NamedCommands
from tui.screens.console.watchlist import COLUMNS, Watchlist

if TYPE_CHECKING:
    from tui.app import AvwapApp


class ConsoleCommands(NamedCommands):
    """Lists, speeds, sort columns, alerts, find and list edits."""

    def _commands(self) -> list[Entry]:
        app: AvwapApp = self.app  # type: ignore[assignment]
        cmds: list[Entry] = []
        for name in available_lists(app.controller.user_dir):
            cmds.append((f"list: {name}", partial(app.switch_list, name),
                         f"Watch the {name!r} ticker list"))
        for speed in SPEEDS:
            cmds.append((f"speed: {speed_label(speed)}",
                         partial(lambda s: app.console_screen.set_speed(s), speed),
                         "Replay speed"))
        for col in COLUMNS:
            cmds.append((f"sort: {col.key}",
                         partial(lambda k: app.console_screen.query_one(Watchlist).sort_by(k),
                                 col.key),
                         f"Sort the watchlist by {col.title}"))
        cmds.append(("alerts: list", lambda: app.console_screen.action_show_alerts(),
                     "Show alert rules and firings"))
        for name, action, help_text in (
                ("find: symbol", "find", "Find symbol: any symbol in the cache (/)"),
                ("edit list: add symbol", "add_to_list",
                 "Add the highlighted symbol to a list (+)"),
                ("edit list: remove symbol", "remove_from_list",
                 "Remove the highlighted symbol from this list (-)"),
                ("edit list: new list", "new_list",
                 "Create a list starting with the highlighted symbol (N)")):
            cmds.append((name, partial(self._watchlist_action, action), help_text))
        return cmds

    def _watchlist_action(self, action: str) -> None:
        """Run a watchlist key's action (``find``, ``add_to_list`` …) on the console's
        watchlist, switching to the console first when the palette was opened on
        another screen (the dialog it asks for opens there)."""
        app: AvwapApp = self.app  # type: ignore[assignment]
        if app.current_mode != "console":
            app.switch_mode("console")
        app.call_later(app.console_screen.query_one(Watchlist).run_action, action)
