"""The screens the console switches between, declared once.

Each screen lives in its own folder and is listed in ``SCREENS`` with its mode
name, key and title; the app builds its modes and its switching keys (binding
ids ``screen.<mode>``, remappable like every other key) from this list, so a
new screen is a new folder and one line here, never a change to another screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from textual.binding import Binding
from textual.screen import Screen


@dataclass(frozen=True)
class ScreenSpec:
    """One switchable screen: ``target`` is "module:Class", imported when first shown."""

    mode: str
    key: str
    title: str
    target: str

    def factory(self) -> Callable[[], Screen[None]]:
        def make() -> Screen[None]:
            module, cls = self.target.split(":")
            return getattr(import_module(module), cls)()  # type: ignore[no-any-return]

        return make

    def binding(self) -> Binding:
        return Binding(self.key, f"switch_mode('{self.mode}')", self.title, show=False,
                       id=f"screen.{self.mode}")


SCREENS: tuple[ScreenSpec, ...] = (
    ScreenSpec("console", "1", "Console", "tui.screens.console.screen:ConsoleScreen"),
    ScreenSpec("training", "2", "Training", "tui.screens.training.screen:TrainingScreen"),
    ScreenSpec("backtests", "3", "Backtests", "tui.screens.backtests.screen:BacktestsScreen"),
    ScreenSpec("scanner", "4", "Scanner", "tui.screens.scanner.screen:ScannerScreen"),
)
