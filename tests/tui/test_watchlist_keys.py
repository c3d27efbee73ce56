"""The watchlist owns its keys: on its own, outside the console, each key posts the
typed request the console screen handles (``Watchlist.Asked``), and a remap by id
reaches it. A remap onto a key the focused watchlist would shadow is refused.

The host here is a bare app holding one watchlist: no console screen, no runtime,
so a request that arrives can only have come from the widget itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from textual import on
from textual.app import App, ComposeResult
from textual.widgets import Input

from storage.errors import ConfigError
from tui.app import AvwapApp
from tui.keys import keymap_from_section
from tui.screens.console.watchlist import Watchlist
from tui.views import WatchRows

SYMBOLS = ("SPY", "AAPL", "MSFT")


def rows() -> WatchRows:
    n = len(SYMBOLS)
    flat = np.linspace(1.0, 3.0, n)
    return WatchRows(SYMBOLS, last=flat * 100, change=flat, volume=flat * 1e6, rvol=flat,
                     z=flat - 2, regime=np.zeros(n, dtype=np.int64))


class Host(App[None]):
    """One watchlist (sorted by symbol: AAPL MSFT SPY) and an input to move the focus to."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[Watchlist.Asked] = []

    def compose(self) -> ComposeResult:
        yield Watchlist(id="wl")
        yield Input(id="elsewhere")

    def on_mount(self) -> None:
        wl = self.query_one(Watchlist)
        wl.update_rows(rows())
        wl.focus()

    @on(Watchlist.FindAsked)
    @on(Watchlist.AddAsked)
    @on(Watchlist.RemoveAsked)
    @on(Watchlist.NewListAsked)
    @on(Watchlist.AlertAsked)
    @on(Watchlist.AnchorsAsked)
    @on(Watchlist.ChartAsked)
    def _asked(self, msg: Watchlist.Asked) -> None:
        self.asked.append(msg)


async def test_each_key_posts_its_request_with_the_highlighted_symbol() -> None:
    app = Host()
    async with app.run_test(size=(80, 12)) as pilot:
        wl = app.query_one(Watchlist)
        await pilot.pause()
        assert wl.cursor_symbol == "AAPL"
        await pilot.press("slash", "plus", "N", "a", "K", "c", "enter")
        await pilot.pause()
        assert [type(m) for m in app.asked] == [
            Watchlist.FindAsked, Watchlist.AddAsked, Watchlist.NewListAsked,
            Watchlist.AlertAsked, Watchlist.AnchorsAsked, Watchlist.ChartAsked,
            Watchlist.ChartAsked]
        assert {m.symbol for m in app.asked} == {"AAPL"}
        assert isinstance(app.asked[0], Watchlist.FindAsked)
        assert app.asked[0].current == SYMBOLS  # the rows, which find ranks first
        # -: the symbol and the neighbour the cursor goes to once it is gone.
        app.asked.clear()
        await pilot.press("minus", "j", "minus", "G", "minus")
        await pilot.pause()
        assert [(m.symbol, getattr(m, "neighbour", "?")) for m in app.asked] == [
            ("AAPL", "MSFT"), ("MSFT", "SPY"), ("SPY", "MSFT")]
        # o and O sort the watchlist itself (no request).
        app.asked.clear()
        await pilot.press("o")
        assert (wl.sort_key, wl.reverse) == ("last", True)
        await pilot.press("O")
        assert (wl.sort_key, wl.reverse) == ("last", False)
        # Focus elsewhere: the keys are the watchlist's, so they ask nothing.
        app.query_one(Input).focus()
        await pilot.pause()
        await pilot.press("N", "K")
        await pilot.pause()
        assert app.asked == []


async def test_a_remap_by_id_reaches_the_watchlist() -> None:
    app = Host()
    app.set_keymap({"find.symbol": "f"})
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.pause()
        await pilot.press("slash", "f")
        await pilot.pause()
        assert [type(m) for m in app.asked] == [Watchlist.FindAsked]


def test_a_remap_onto_a_key_the_focused_watchlist_shadows_is_refused() -> None:
    ids = AvwapApp.binding_ids()
    # The console screen's 'l' moved onto the watchlist's '/': the watchlist would win.
    with pytest.raises(ConfigError, match=r"'list.next' = 'slash' takes the key of "
                                          r"'find.symbol'"):
        keymap_from_section({"list.next": "slash"}, ids)
    # The backtests table's sort onto the Backtests screen's 'n' (the same folder).
    with pytest.raises(ConfigError, match=r"'table.sort' = 'n' takes the key of "
                                          r"'backtests.new'"):
        keymap_from_section({"table.sort": "n"}, ids)
    # Another screen's keys are never active with the watchlist's: no clash.
    assert keymap_from_section({"find.symbol": "n"}, ids) == ({"find.symbol": "n"}, [])
