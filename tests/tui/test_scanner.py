"""The Scanner screen through Pilot: type a scan, see the minute's matches, open the chart;
an invalid scan is marked inline with the parser's message and suggestions."""

from __future__ import annotations

import numpy as np
from textual import events
from textual.widgets import Input

from tui.screens.chart.screen import ChartScreen
from tui.screens.scanner.screen import ScannerScreen


def _expected(app: object) -> set[str]:
    snap = app.controller.universe.now  # type: ignore[attr-defined]
    close, level = snap.last, snap.column("avwap_session")
    with np.errstate(invalid="ignore"):
        hit = (close > level) & snap.valid
    return {s for s, h in zip(snap.symbols, hit, strict=True) if h}


async def test_type_a_scan_see_matches_open_the_chart(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await replay(pilot, 30)
        await pilot.press("4")
        await pilot.pause()
        scr = app.screen
        assert isinstance(scr, ScannerScreen)
        await pilot.press(*"up: close > avwap_session | sort close")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        want = _expected(app)
        assert 0 < len(want) < 6
        table = scr.query_one("#scan-matches")
        got = {str(k.value) for k in table.rows}
        assert got == want
        assert "up" in {str(k.value) for k in scr.query_one("#scan-list").rows}
        # The next minute moves the matches with the replay.
        for _ in range(15):
            await app.console_screen.session.step_next()
        scr._poll()
        await pilot.pause()
        assert {str(k.value) for k in table.rows} == _expected(app)
        # An invalid scan is marked inline with the parser's message and suggestions.
        await pilot.press(*"bad: close > avwap_sesion")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        err = str(scr.query_one("#scan-error").render())
        assert "unknown name 'avwap_sesion'" in err and "avwap_session" in err
        # Tab then a key typed at once (a busy machine reads both before either is
        # handled): the key goes where Tab sent the focus, never into the input left.
        inp = scr.query_one("#scan-input", Input)
        inp.focus()
        await pilot.pause()
        before = inp.value
        app.post_message(events.Key("tab", "\t"))
        app.post_message(events.Key("x", "x"))
        await pilot.pause()
        assert inp.value == before
        assert app.focused is scr.query_one("#scan-list")
        # Back to the valid scan, then enter on a match opens its chart.
        scr.query_one("#scan-list").move_cursor(row=0)
        await pilot.pause()
        table.focus()
        first = str(next(iter(table.rows)).value) if table.row_count else None
        assert first in want | _expected(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChartScreen) and app.screen.symbol == first
        assert (app.controller.scans.book.scans[0].name, len(app.controller.scans.book.scans)) \
            == ("up", 2)
        # The same scan as a backtest: the Backtests form, strategy expr, the scan as entry.
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ScannerScreen)
        app.screen.query_one("#scan-list").focus()
        await pilot.press("ctrl+b")
        await pilot.pause()
        await pilot.pause()
        from tui.screens.backtests.form import NewBacktestForm

        form = app.screen.query_one(NewBacktestForm).values()
        assert form["strategy"] == "expr" and form["entry"] == "close > avwap_session"
        assert set(form["tickers"].split(",")) == set(app.controller.universe.symbols)


async def test_slash_is_new_scan_in_an_empty_line_and_text_after(make_app, ready) -> None:
    """`/` is the Scanner's "New scan" key: from the tables it focuses the line; typed into
    the empty line it is that key (it used to start the scan's name: '/up'); inside an
    expression it divides."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        await pilot.pause()
        scr = app.screen
        assert isinstance(scr, ScannerScreen)
        line = scr.query_one("#scan-input")
        scr.query_one("#scan-list").focus()
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused is line
        await pilot.press("slash", *"up: close / open > 1.001")
        await pilot.pause()
        assert line.value == "up: close / open > 1.001"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        saved = app.controller.scans.book.scans
        assert [(s.name, s.expression) for s in saved] == [("up", "close / open > 1.001")]

