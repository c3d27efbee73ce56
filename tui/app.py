"""The Textual app: the runtime, the screens' modes, global keys, the palette.

Why thin: long work lives in the runtime (``tui.runtime``: the MLX thread, the
jobs, clean shutdown), each screen in its own folder (``tui.screens``, listed
once in ``SCREENS``), the panes render view models (``tui.views``). This file
wires them and holds the knobs the tests and the benchmark turn (clock, render
interval, live).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import import_module
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from tui.keys import binding_ids, keymap_from_section
from tui.palette import ConsoleCommands
from tui.runtime.controller import Controller
from tui.runtime.runtime import Runtime
from tui.screens import SCREENS
from tui.screens.common.help import HelpRow, HelpScreen
from tui.screens.console.screen import ConsoleScreen


class AvwapApp(App[None]):
    """AVWAP Console."""

    TITLE = "AVWAP Console"
    CSS_PATH = "app.tcss"
    MODES: ClassVar = {spec.mode: spec.factory() for spec in SCREENS}
    DEFAULT_MODE = "console"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        *(spec.binding() for spec in SCREENS),
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
        self.runtime = Runtime(self.post_message)
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
        """Every binding id of every screen and widget class: remappable by construction.

        The screens' modules are imported first, so their classes (and the
        widgets they import) exist; any other ``Screen`` or widget subclass with
        ids (one a test defines, a later screen) is found the same way.
        """
        for spec in SCREENS:
            import_module(spec.target.split(":")[0])
        return list(binding_ids())

    def on_mount(self) -> None:
        for w in self.key_warnings:
            self.notify(w, title="Config", severity="warning", timeout=8)

    async def action_quit(self) -> None:
        """Stop every job and the MLX thread (never blocking the loop), then exit."""
        await self.runtime.shutdown()
        self.exit()

    async def on_unmount(self) -> None:
        await self.runtime.shutdown()  # idempotent; covers exits that bypass ``q``

    @property
    def console_screen(self) -> ConsoleScreen:
        screen = self.get_screen_stack("console")[0] if self.current_mode != "console" \
            else self.screen_stack[0]
        assert isinstance(screen, ConsoleScreen)
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
        self.console_screen.switch_list(name)

    def set_speed(self, speed: float | None) -> None:
        self.console_screen.set_speed(speed)

    def sort_by(self, key: str) -> None:
        from tui.screens.console.watchlist import Watchlist

        self.console_screen.query_one(Watchlist).sort_by(key)

    def show_alerts(self) -> None:
        self.console_screen.action_show_alerts()
