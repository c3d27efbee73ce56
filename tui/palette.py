"""The app's own palette entries: ``screen: <name>`` for every screen in ``SCREENS``.

Why here and so small: each screen owns its palette entries (``COMMANDS`` on
the Training and Backtests screens; the console's in
``tui.screens.console.commands``); only switching screens belongs to the app,
and its entries are built from ``tui.screens.SCREENS``, the one list of
screens, so a new screen is never written down twice.
"""

from __future__ import annotations

from functools import partial

from tui.screens import SCREENS
from tui.screens.common.commands import Entry, NamedCommands


class ScreenCommands(NamedCommands):
    """``screen: console``, ``screen: training`` …, one per ``SCREENS`` entry."""

    def _commands(self) -> list[Entry]:
        return [(f"screen: {spec.title.lower()}", partial(self.app.switch_mode, spec.mode),
                 f"Show the {spec.title.lower()} screen") for spec in SCREENS]
