"""The console's find and list edits: what the watchlist's ``/ + - N`` ask for.

Why a helper of its own: the keys belong to the watchlist (``Watchlist.BINDINGS``),
which posts what the trader asked (``Watchlist.FindAsked``, ``AddAsked``,
``RemoveAsked``, ``NewListAsked``) with the highlighted symbol; the console
screen hands each request to this helper. The work needs the watchlist, the
session and the controller's user tickers folder, so it lives here, behind
the small ``ConsoleHost`` Protocol of what it uses of the console, and the
screen keeps one handler line per request.

Find: a symbol in the watchlist gets the cursor at once; any other symbol of
the cache is handed to ``ConsoleSession.show_symbol`` (warmed and shown as a
guest row) and the cursor follows when a frame carries it (``pending_cursor``,
applied by ``apply_pending_cursor`` from ``show_frame``).

Edits go through ``storage.tickers`` (atomic JSON in the user's tickers folder;
a shipped list gets a user copy). After an edit of the list on screen the
session switches to it again, so the rows follow; the cursor stays on the
added symbol, or moves to the neighbour of a removed one.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from storage.errors import TickerListError
from storage.tickers import (
    add_symbols,
    builtin_dir,
    create_list,
    load_list,
    remove_symbols,
)
from tui import fmt
from tui.screens.common.confirm import Confirm
from tui.screens.common.find import FindSymbol, build_index
from tui.screens.common.list_edit import NEW_LIST, AddToListPicker, NewListDialog
from tui.screens.console.watchlist import Watchlist

if TYPE_CHECKING:
    from tui.app import AvwapApp
    from tui.screens.console.host import ConsoleHost


class FindLists:
    """Find and list edits for the console (see the module docstring)."""

    def __init__(self, console: ConsoleHost) -> None:
        self.console = console
        #: The symbol the cursor goes to as soon as a frame's rows hold it (find, edits).
        self.pending_cursor: str | None = None
        #: A found symbol to show once the first list is on screen (found during the warm-up).
        self._deferred_show: str | None = None

    @property
    def _app(self) -> AvwapApp:
        return self.console.avwap_app

    def apply_pending_cursor(self, wl: Watchlist) -> None:
        """After new rows (``show_frame``): mark the guest rows, put the cursor on
        ``pending_cursor`` once the rows hold it, and ask for a symbol found while
        the first list was warming."""
        if self.console.session is not None:
            wl.set_guests(frozenset(self.console.session.guests))
        if self._deferred_show is not None and wl.symbols and self.console.session is not None:
            symbol, self._deferred_show = self._deferred_show, None
            if symbol not in wl.symbols:
                self.console.session.show_symbol(symbol)
        if self.pending_cursor is not None and self.pending_cursor in wl.symbols:
            wl.select_symbol(self.pending_cursor)
            self.pending_cursor = None

    # -- find ------------------------------------------------------------------
    def find(self, current: tuple[str, ...]) -> None:
        """The find dialog; ``current`` (the rows on screen) ranks first."""
        ctl = self._app.controller
        load = partial(build_index, ctl.cache.symbols, ctl.user_dir)
        self._app.push_screen(
            FindSymbol(load, current, self.console.list_name, any_symbol=ctl.source.fills_cache),
            self._found)

    def _found(self, symbol: str | None) -> None:
        if symbol:
            self.goto_symbol(symbol)

    def goto_symbol(self, symbol: str) -> None:
        """Show ``symbol``: the cursor moves to it, or it is warmed as a guest row first."""
        wl = self.console.watchlist()
        if symbol in wl.symbols:
            self.pending_cursor = None
            wl.select_symbol(symbol)
            return
        if self.console.session is None:
            return
        self.pending_cursor = symbol
        if not wl.symbols:
            # The first list is still warming: showing a guest now would restart that
            # warm-up with one more symbol; ask once the list is on screen instead.
            self._deferred_show = symbol
            self.console.notify(fmt.safe(f"{symbol} is shown once the list is warm."), timeout=3)
            return
        self.console.session.show_symbol(symbol)
        self.console.notify(fmt.safe(f"{symbol} is not in {self.console.list_name!r}: shown "
                                     "beside it (+ adds it to a list)"), timeout=4)

    # -- list edits --------------------------------------------------------------
    def _target_symbol(self, highlighted: str | None) -> str | None:
        """The symbol ``+``/``N`` act on: the one just found (still loading), else the cursor's."""
        return self.pending_cursor or highlighted

    def add_to_list(self, highlighted: str | None) -> None:
        symbol = self._target_symbol(highlighted)
        if symbol is None:
            self.console.notify("No symbol to add yet.", severity="warning")
            return
        user_dir = self._app.controller.user_dir

        def chosen(name: str | None) -> None:
            if name == NEW_LIST:
                self._new_list_with(symbol)
            elif name:
                self._edit(name, symbol, add=True)

        self._app.push_screen(AddToListPicker(symbol, self.console.list_name, user_dir), chosen)

    def remove_from_list(self, symbol: str | None, neighbour: str | None) -> None:
        """Remove the highlighted ``symbol`` (after a question); ``neighbour`` gets the cursor."""
        name = self.console.list_name
        if symbol is None or name is None:
            self.console.notify("No symbol to remove yet.", severity="warning")
            return
        try:
            in_list = symbol in load_list(name, self._app.controller.user_dir).symbols
        except TickerListError as e:
            self.console.notify(fmt.safe(e), severity="error")
            return
        if not in_list:
            self.console.notify(
                fmt.safe(f"{symbol} is not in the list {name!r} (it is shown by find)."),
                severity="warning")
            return
        def answered(answer: str | None) -> None:
            if answer == "remove":
                self._edit(name, symbol, add=False, cursor=neighbour)

        # Confirm draws plain Text (never markup): the names go in as written.
        self._app.push_screen(
            Confirm(f"Remove {symbol} from the list {name!r}?",
                    {"y": ("remove", f"remove {symbol}")}), answered)

    def new_list(self, highlighted: str | None) -> None:
        symbol = self._target_symbol(highlighted)
        if symbol is None:
            self.console.notify("No symbol to start a list with yet.", severity="warning")
            return
        self._new_list_with(symbol)

    def _new_list_with(self, symbol: str) -> None:
        user_dir = self._app.controller.user_dir

        def named(name: str | None) -> None:
            if not name:
                return
            try:
                tl = create_list(name, [symbol], user_dir=user_dir)
            except TickerListError as e:
                self.console.notify(fmt.safe(e), title="List not created", severity="error")
                return
            self.console.notify(fmt.safe(f"Created {tl.name!r} with {symbol}; L switches to it"),
                                timeout=6)

        self._app.push_screen(NewListDialog(symbol, user_dir), named)

    def _edit(self, name: str, symbol: str, *, add: bool, cursor: str | None = None) -> None:
        """Add or remove one symbol, tell the trader, and let the rows follow the list."""
        user_dir = self._app.controller.user_dir
        try:
            tl = (add_symbols if add else remove_symbols)(name, [symbol], user_dir)
        except TickerListError as e:
            self.console.notify(fmt.safe(e), title="List not changed", severity="error")
            return
        # Where it went, once: a shipped list's edits live in the user's copy.
        copy = " · saved as your copy" if (builtin_dir() / f"{name}.json").is_file() else ""
        verb = f"Added {symbol} to" if add else f"Removed {symbol} from"
        self.console.notify(fmt.safe(f"{verb} {name!r}: {fmt.plural(len(tl), 'symbol')}{copy}"),
                            timeout=6)
        if name == self.console.list_name and self.console.session is not None:
            self.pending_cursor = symbol if add else cursor
            self.console.session.switch_list(name)
