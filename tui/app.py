"""The Textual app: modes, global keys, the palette, and nothing else.

Why thin: the console's behaviour lives in ``tui.controller`` (no widgets),
``tui.screens.main`` (the loop and the panes) and ``tui.widgets`` (one module
per pane); this file wires them and holds the knobs the tests and the
benchmark turn (clock, render interval, live).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import App
from textual.binding import Binding

from tui.controller import Controller
from tui.keys import binding_ids, keymap_from_section
from tui.palette import ConsoleCommands
from tui.screens.help import HelpRow, HelpScreen
from tui.screens.main import MainScreen
from tui.screens.placeholders import BacktestsScreen, TrainingScreen


class AvwapApp(App[None]):
    """AVWAP Console."""

    TITLE = "AVWAP Console"
    CSS_PATH = "app.tcss"
    MODES: ClassVar = {
        "console": MainScreen, "training": TrainingScreen, "backtests": BacktestsScreen,
    }
    DEFAULT_MODE = "console"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("1", "switch_mode('console')", "Console", show=False, id="screen.console"),
        Binding("2", "switch_mode('training')", "Training", show=False, id="screen.training"),
        Binding("3", "switch_mode('backtests')", "Backtests", show=False,
                id="screen.backtests"),
    ]

    def __init__(
        self,
        controller: Controller,
        *,
        list_name: str = "curated",
        speed: float | None = 1.0,
        feed_kind: str = "replay",
        keys: dict[str, object] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        render_interval: float = 0.1,
        chart_interval: float = 0.5,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.list_name = list_name
        self.speed = speed
        self.feed_kind = feed_kind
        self.clock = clock
        self.render_interval = render_interval
        self.chart_interval = chart_interval
        self.live = live
        keymap, self.key_warnings = keymap_from_section(dict(keys or {}), self.binding_ids())
        if keymap:
            self.set_keymap(keymap)

    @staticmethod
    def binding_ids() -> list[str]:
        from tui.screens.alert_dialog import AlertDialog
        from tui.screens.alerts_list import AlertsScreen
        from tui.screens.list_picker import ListPicker
        from tui.widgets.watchlist import Watchlist

        return list(binding_ids([AvwapApp, MainScreen, Watchlist, HelpScreen, ListPicker,
                                 AlertDialog, AlertsScreen]))

    def on_mount(self) -> None:
        for w in self.key_warnings:
            self.notify(w, title="Config", severity="warning", timeout=8)

    @property
    def main_screen(self) -> MainScreen:
        screen = self.get_screen_stack("console")[0] if self.current_mode != "console" \
            else self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def help_rows(self) -> list[HelpRow]:
        rows: list[HelpRow] = []
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if b.id in seen:
                continue
            seen.add(b.id or key)
            keys = [self.get_key_display(Binding(k, b.action)) for k, a in
                    self.screen.active_bindings.items() if a.binding.id == b.id] if b.id else []
            rows.append((" ".join(keys) or self.get_key_display(b), b.description or b.action,
                         b.id or ""))
        return rows

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.help_rows()))

    # palette targets -------------------------------------------------------------
    def switch_list(self, name: str) -> None:
        self.main_screen.switch_list(name)

    def set_speed(self, speed: float | None) -> None:
        self.main_screen.set_speed(speed)

    def sort_by(self, key: str) -> None:
        from tui.widgets.watchlist import Watchlist

        self.main_screen.query_one(Watchlist).sort_by(key)

    def show_alerts(self) -> None:
        self.main_screen.action_show_alerts()
