"""Command-palette entries, "category: action" style (``list: all``, ``speed: max``).

Why a Provider: everything the keys do is also reachable by name from ctrl+p,
which is how a user finds an action without knowing its key. The console's
entries act on the console screen whichever screen the palette was opened on
(``AvwapApp.console_screen``); the ``screen:`` entries are built from
``tui.screens.SCREENS``, the one list of screens.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from storage.feeds.replay import SPEEDS, speed_label
from storage.tickers import available_lists
from tui.screens import SCREENS
from tui.screens.common.commands import NamedCommands
from tui.screens.console.watchlist import COLUMNS, Watchlist

if TYPE_CHECKING:
    from tui.app import AvwapApp


class ConsoleCommands(NamedCommands):
    """Lists, speeds, sort columns and screens."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: AvwapApp = self.app  # type: ignore[assignment]
        cmds: list[tuple[str, Callable[[], object], str]] = []
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
        for spec in SCREENS:
            label = spec.title.lower()
            cmds.append((f"screen: {label}", partial(app.switch_mode, spec.mode),
                         f"Show the {label} screen"))
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
            cmds.append((name, partial(self._console_action, action), help_text))
        return cmds

    def _console_action(self, action: str) -> None:
        """Run a console key's action (``find``, ``add_to_list`` …) on the console,
        switching to it first when the palette was opened on another screen."""
        app: AvwapApp = self.app  # type: ignore[assignment]
        if app.current_mode != "console":
            app.switch_mode("console")
        app.call_later(app.console_screen.run_action, action)
