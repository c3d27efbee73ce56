"""The Textual app: the runtime, the screens' modes, global keys, the palette.

Why thin: long work lives in the runtime (``tui.runtime``: the MLX thread, the
jobs, clean shutdown), each screen in its own folder (``tui.screens``, listed
once in ``SCREENS``), the panes render view models (``tui.views``). This file
wires them and holds the knobs the tests and the benchmark turn (clock, render
interval, live).

Why the app watches its terminal: when the terminal goes away (a closed
window, ``tmux kill-session``: SIGHUP; or SIGHUP ignored and the tty hung up,
which makes Textual's input thread read EOF in a loop) or the process is asked
to stop (SIGTERM), the console leaves as ``q`` does, minus the questions
(nobody is there to answer): it awaits the runtime's shutdown (jobs cancelled,
the IB session closed, the MLX thread ends after ``mx.clear_streams()``) and
exits. Ctrl-C quits like ``q`` (Textual's default only says "press ctrl+q").
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

from tui.keys import binding_ids, keymap_from_section
from tui.palette import ScreenCommands
from tui.runtime.controller import Controller
from tui.runtime.runtime import Runtime
from tui.screens import SCREENS
from tui.screens.common.confirm import Confirm
from tui.screens.common.help import MOUSE, HelpRow, HelpScreen
from tui.screens.console.commands import ConsoleCommands
from tui.screens.console.screen import ConsoleScreen
from tui.terminal import ConsoleDriver, is_terminal


class AvwapApp(App[None]):
    """AVWAP Console."""

    TITLE = "AVWAP Console"
    CSS_PATH = "app.tcss"
    MODES: ClassVar = {spec.mode: spec.factory() for spec in SCREENS}
    DEFAULT_MODE = "console"
    #: The console's entries act on the console from every screen (switching to it).
    COMMANDS = App.COMMANDS | {ScreenCommands, ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.interrupt"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        # Tab moves the focus the moment it arrives, not after it has bubbled back up
        # from the focused widget: Textual forwards each key to the widget focused when
        # the key is read, so on a busy machine a key typed right after Tab (``q`` to
        # quit, a letter for the table) still went into the input being left. As
        # priority bindings, the move happens before the next key is routed. No widget
        # here consumes Tab (no TextArea), so nothing loses it.
        Binding("tab", "app.focus_next", "Focus Next", show=False, priority=True,
                id="app.focus_next"),
        Binding("shift+tab", "app.focus_previous", "Focus Previous", show=False, priority=True,
                id="app.focus_previous"),
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
        desktop_alerts: str = "off",
    ) -> None:
        super().__init__()
        #: The alerts' desktop notification (``tui.notify``; the config's [alerts] desktop).
        self.desktop_alerts = desktop_alerts
        self.controller = controller
        self.runtime = Runtime(self.post_message)
        self.list_name = list_name
        self.speed = speed
        self.feed_kind = feed_kind
        self.clock = clock
        self.render_interval = render_interval
        self.chart_interval = chart_interval
        self.live = live
        #: One line per job left running at quit, printed once the terminal is back.
        self.left_running: list[str] = []
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
        if not self.is_headless:
            self.watch_terminal()

    async def action_quit(self) -> None:
        """Stop every job and the MLX thread (never blocking the loop), then exit.

        A job that asks at quit (a training) gets a question first: stop it, or
        leave it running to completion in the background.
        """
        asking = [j for j in self.runtime.running() if j.ask_at_quit]
        if not asking:
            await self.runtime.shutdown()
            self.exit()
            return
        # each job's label ("training NAME"), not its id ("train")
        names = " and the ".join(j.label for j in asking)

        async def answered(answer: str | None) -> None:
            if answer is None:
                return
            keep = tuple(j.name for j in asking) if answer == "leave" else ()
            await self.runtime.shutdown(keep=keep)
            self.left_running = [j.left_running_note() for j in asking if j.detached]
            self.exit()

        self.push_screen(Confirm(f"The {names} {'is' if len(asking) == 1 else 'are'} "
                                 "running. Quit anyway?", {
            "s": ("stop", "stop it (the best checkpoint so far is kept), then quit"),
            "l": ("leave", "leave it running to completion in the background, then quit"),
        }), answered)

    def model_activated(self, path: object | None) -> None:
        """A model was made active (or none is): the console reloads its picks."""
        screen = self.console_screen
        if screen.session is not None:
            from tui.screens.console.watchlist import Watchlist

            screen.session.model_changed(screen.query_one(Watchlist).cursor_symbol)

    async def on_unmount(self) -> None:
        self._unwatch_terminal()
        await self.runtime.shutdown()  # idempotent; covers exits that bypass ``q``

    # -- the terminal and signals ------------------------------------------------
    _watched: tuple[signal.Signals, ...] = ()
    _quitting = False

    def watch_terminal(self, interval: float = 0.5) -> None:
        """Quit cleanly on SIGHUP/SIGTERM and when the terminal hangs up."""
        loop = asyncio.get_running_loop()
        watched = []
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.request_quit, 128 + sig)
                watched.append(sig)
        self._watched = tuple(watched)
        self.set_interval(interval, self._check_terminal, name="terminal-watch")

    def _unwatch_terminal(self) -> None:
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for sig in self._watched:
                loop.remove_signal_handler(sig)
        self._watched = ()

    def _check_terminal(self) -> None:
        # A hung-up tty stops being a tty (its reads give EOF, its writes EIO).
        driver = self._driver
        lost = driver.terminal_lost if isinstance(driver, ConsoleDriver) else False
        if lost or not all(is_terminal(f) for f in (sys.__stdin__, sys.__stderr__)):
            self.request_quit(128 + signal.SIGHUP)

    def request_quit(self, code: int = 0) -> None:
        """Shut the runtime down and exit with ``code`` (idempotent; signal-safe)."""
        if self._quitting:
            return
        self._quitting = True

        async def quit_now() -> None:
            await self.runtime.shutdown()
            self.exit(return_code=code)

        self.call_later(quit_now)

    def get_driver_class(self) -> type[Driver]:
        """Textual's Linux driver, made safe for a terminal that goes away (``tui.terminal``)."""
        base = super().get_driver_class()
        return ConsoleDriver if base is LinuxDriver else base

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """The palette's Screenshot, saved in a folder that exists (the toast says where).

        Textual's default is ``~/Downloads``, which servers and containers often
        lack ("Failed to save screenshot"): it is used only when it exists,
        else the user data dir's ``screenshots`` folder (created).
        """
        return super().deliver_screenshot(filename, path or str(screenshot_dir()), time_format)

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
        from tui.screens.chart.screen import ChartScreen

        mouse = ChartScreen.MOUSE_HELP if isinstance(self.screen, ChartScreen) else MOUSE
        self.push_screen(HelpScreen(self.help_rows(), mouse))

    def switch_list(self, name: str) -> None:
        """Show ticker list ``name`` on the console (the palette, the tests)."""
        self.console_screen.switch_list(name)


def screenshot_dir() -> Path:
    """``~/Downloads`` when it exists, else the user data dir (made if missing)."""
    import platformdirs

    from storage.config import APP

    downloads = platformdirs.user_downloads_path()
    if downloads.is_dir():
        return downloads
    data = Path(platformdirs.user_data_dir(APP)) / "screenshots"
    data.mkdir(parents=True, exist_ok=True)
    return data



