"""Pilot: ``/`` finds a symbol, ``+``/``-``/``N`` edit lists, and the edits persist.

The app runs on the demo cache (six symbols) with the test's own user tickers
folder (``mini``: all six; ``half``: SPY, AAPL and ZZZZ without data); every
edit is checked in the files a new app would read, and the shipped lists'
bytes are checked unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.tickers import builtin_dir, load_list
from tui.runtime.console import ConsoleSession
from tui.screens.common.confirm import Confirm
from tui.screens.common.find import FindSymbol, SymbolIndex, matches
from tui.screens.common.help import HelpScreen
from tui.screens.common.list_edit import NEW_LIST, AddToListPicker, NewListDialog
from tui.screens.console.watchlist import GUEST, Watchlist

SIZE = (120, 36)


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def open_find(pilot, text: str) -> FindSymbol:
    app = pilot.app
    await pilot.press("slash")
    assert isinstance(app.screen, FindSymbol)
    find = app.screen
    await find.workers.wait_for_complete()
    await pilot.pause()
    assert find.index is not None
    if text:
        await pilot.press(*text)
        await pilot.pause()
    return find


def test_matches_rank_exact_prefix_substring_then_list_names() -> None:
    index = SymbolIndex(("AAPL", "AMD", "MSFT", "SPY", "XSP"),
                        {"AAPL": ("curated",), "AMD": ("semis", "curated")})
    assert matches(index, "sp") == ["SPY", "XSP"]  # prefix before substring
    assert matches(index, "a") == ["AAPL", "AMD"]  # prefix: alphabetical…
    assert matches(index, "a", current=("AMD",)) == ["AMD", "AAPL"]  # …the current list first
    assert matches(index, "semi") == ["AMD"]  # by a list's name
    assert matches(index, "") [:2] == ["AAPL", "AMD"]
    assert matches(index, "", current=("SPY",))[0] == "SPY"  # the current list first
    assert matches(index, "zz") == []


async def test_find_moves_the_cursor_to_a_symbol_in_the_list(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 2)
        wl = app.console_screen.query_one(Watchlist)
        assert wl.cursor_symbol == "AAPL"
        find = await open_find(pilot, "ms")
        assert find.shown == ["MSFT"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.console_screen
        assert wl.cursor_symbol == "MSFT"
        # ↑/↓ choose among matches; a list's name finds its symbols; escape changes nothing.
        find = await open_find(pilot, "half")
        assert find.shown == ["AAPL", "SPY"]  # half's symbols with data (ZZZZ has none)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert wl.cursor_symbol == "SPY"
        await open_find(pilot, "t")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.console_screen and wl.cursor_symbol == "SPY"
        # The palette's entry opens the same dialog.
        await pilot.press("ctrl+p")
        await pilot.press(*"find symbol")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, FindSymbol)


@pytest.mark.skipif(not hasattr(ConsoleSession, "show_symbol"),
                    reason="ConsoleSession.show_symbol (the lead's guest rows) is not there yet")
async def test_find_shows_a_symbol_outside_the_list_and_plus_keeps_it(
        make_app, ready, replay, user_dir: Path) -> None:
    app = make_app("half")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 1)
        wl = app.console_screen.query_one(Watchlist)
        assert set(wl.symbols) == {"SPY", "AAPL"}
        find = await open_find(pilot, "nv")
        assert find.shown == ["NVDA"]
        await pilot.press("enter")
        await ready(pilot)
        assert "NVDA" in wl.symbols  # a guest row, drawn apart
        assert wl.cursor_symbol == "NVDA"
        assert wl.guests == {"NVDA"}
        assert wl._cell_style(wl.symbols.index("NVDA"), "symbol") == GUEST
        assert wl._cell_style(wl.symbols.index("SPY"), "symbol") != GUEST
        assert wl.render_line(1 + wl.cursor_row).text.startswith("NVDA")
        assert any("NVDA is not in 'half'" in m for m in messages(app))
        assert load_list("half", user_dir).symbols == ("SPY", "AAPL", "ZZZZ")  # not saved
        # + on the found symbol: the current list comes first in the picker.
        await pilot.press("plus")
        assert isinstance(app.screen, AddToListPicker)
        await pilot.press("enter")
        await ready(pilot)
        assert load_list("half", user_dir).symbols == ("SPY", "AAPL", "ZZZZ", "NVDA")
        assert wl.cursor_symbol == "NVDA"
        assert wl.guests == frozenset()  # a list row now


@pytest.mark.skipif(not hasattr(ConsoleSession, "show_symbol"),
                    reason="ConsoleSession.show_symbol (the lead's guest rows) is not there yet")
async def test_find_before_the_first_rows_waits_for_them(make_app, ready, replay) -> None:
    app = make_app("half")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        wl = app.console_screen.query_one(Watchlist)
        assert wl.symbols == ()  # no minute shown yet
        await open_find(pilot, "nvda")
        await pilot.press("enter")
        await ready(pilot)
        assert any("NVDA is shown once the list is warm" in m for m in messages(app))
        assert "NVDA" not in app.controller.symbols  # nothing asked of the session yet
        await replay(pilot, 1)  # the first rows: now NVDA is asked for
        await ready(pilot)
        await replay(pilot, 1)
        assert "NVDA" in wl.symbols and wl.cursor_symbol == "NVDA"


async def test_plus_new_list_and_add_persist_for_a_new_app(make_app, ready, replay,
                                                           user_dir: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 2)
        wl = app.console_screen.query_one(Watchlist)
        assert wl.cursor_symbol == "AAPL"
        await pilot.press("plus")
        picker = app.screen
        assert isinstance(picker, AddToListPicker)
        ol = picker.query_one("#targets")
        assert ol.get_option_at_index(0).id == "mini"  # the current list first…
        assert ol.get_option_at_index(0).disabled  # …but it already has AAPL
        assert ol.get_option_at_index(ol.option_count - 1).id == NEW_LIST
        ol.highlighted = ol.option_count - 1
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, NewListDialog)
        await pilot.press(*"bad name", "enter")
        await pilot.pause()
        assert "invalid list name" in str(app.screen.query_one("#newlist-error").render())
        await pilot.press(*(["backspace"] * 8), *"swing", "enter")
        await pilot.pause()
        assert app.screen is app.console_screen
        assert json.loads((user_dir / "swing.json").read_text())["symbols"] == ["AAPL"]
        # Add MSFT to swing: the picker answers with the list's name.
        wl.select_symbol("MSFT")
        await pilot.press("plus")
        ol = app.screen.query_one("#targets")
        ol.highlighted = ol.get_option_index("swing")
        await pilot.press("enter")
        await pilot.pause()
        assert load_list("swing", user_dir).symbols == ("AAPL", "MSFT")
        assert any("Added MSFT to 'swing'" in m for m in messages(app))
        # N: a new list starting with the highlighted symbol.
        await pilot.press("N")
        assert isinstance(app.screen, NewListDialog)
        await pilot.press(*"solo", "enter")
        await pilot.pause()
        assert load_list("solo", user_dir).symbols == ("MSFT",)
        assert app.console_screen.list_name == "mini"  # still watching the same list
    app2 = make_app("swing")  # a new app on the same user dir sees the list
    async with app2.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 1)
        assert app2.console_screen.query_one(Watchlist).symbols == ("AAPL", "MSFT")


async def test_minus_removes_from_the_current_list(make_app, ready, replay,
                                                   user_dir: Path) -> None:
    app = make_app("mini")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 2)
        screen = app.console_screen
        wl = screen.query_one(Watchlist)
        wl.select_symbol("MSFT")  # rows by symbol: AAPL JPM MSFT NVDA SPY TSLA
        await pilot.press("minus")
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")  # cancel: nothing changes
        await pilot.pause()
        assert "MSFT" in load_list("mini", user_dir).symbols
        await pilot.press("minus")
        await pilot.press("y")
        await ready(pilot)
        assert load_list("mini", user_dir).symbols == ("SPY", "AAPL", "NVDA", "TSLA", "JPM")
        assert "MSFT" not in wl.symbols
        assert wl.cursor_symbol == "NVDA"  # the next row, not the top
        assert screen.list_name == "mini"


async def test_editing_a_shipped_list_leaves_tickers_untouched(make_app, ready, replay,
                                                               user_dir: Path) -> None:
    before = {p: p.read_bytes() for p in builtin_dir().iterdir() if p.is_file()}
    curated = load_list(builtin_dir() / "curated.json")
    assert "MSFT" in curated.symbols
    app = make_app("curated")  # the demo cache holds six of its symbols
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 1)
        wl = app.console_screen.query_one(Watchlist)
        wl.select_symbol("MSFT")
        await pilot.press("minus", "y")
        await ready(pilot)
        assert any("saved as your copy" in m for m in messages(app))
        assert "MSFT" not in wl.symbols
    copy = load_list("curated", user_dir)
    assert copy.path == user_dir / "curated.json"
    assert copy.symbols == tuple(s for s in curated.symbols if s != "MSFT")
    assert copy.description == curated.description
    assert {p: p.read_bytes() for p in builtin_dir().iterdir() if p.is_file()} == before


async def test_help_lists_the_find_and_list_keys(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 1)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {r[2]: r[0] for r in app.screen.rows}
        assert rows["find.symbol"] == "/"
        assert rows["list.add"] == "+"
        assert rows["list.remove"] == "-"
        assert rows["list.new"] == "N"
        await pilot.press("escape")
        # From another screen, the palette's list entries act on the console.
        await pilot.press("2")
        await pilot.press("ctrl+p")
        await pilot.press(*"edit list: new")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert app.current_mode == "console"
        assert isinstance(app.screen, NewListDialog)
