"""What a console feature needs from the console screen: a small Protocol.

Why: the find/list-edit keys and the custom-anchor keys used to be ``Screen``
mixins of ``ConsoleScreen``, each redeclaring the attributes it expected and
stubbing ``show_frame``. Each is now a helper the screen composes
(``FindLists``, ``AnchorKeys``), given the screen as a ``ConsoleHost``: the
helper can use only what this Protocol names, and a test or another screen can
host it. The keys are the watchlist's (``Watchlist.BINDINGS``); the screen
hands each request it posts (``Watchlist.Asked``) to the helper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from tui.app import AvwapApp
    from tui.runtime.console import ConsoleSession
    from tui.runtime.frames import Frame
    from tui.screens.console.status_bar import StatusBar
    from tui.screens.console.watchlist import Watchlist


class ConsoleHost(Protocol):
    """The console screen as its features see it."""

    session: ConsoleSession | None
    list_name: str | None
    frame: Frame | None

    @property
    def avwap_app(self) -> AvwapApp: ...

    def watchlist(self) -> Watchlist: ...

    def status_bar(self) -> StatusBar: ...

    def show_frame(self, frame: Frame) -> None: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...
