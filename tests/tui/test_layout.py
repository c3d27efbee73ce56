"""Issue 17: the console at any terminal size from 80×24 up, and no number ever cut.

A number cut to its last digits (AAPL's 569.94 read ``9.94`` at 120 columns)
looks real and is not; the panes drop whole columns instead, by priority, and
say which are hidden. These tests read what is painted and compare every
number with the full formatted value.
"""

from __future__ import annotations

import datetime as dt
import re

from textual.app import App, ComposeResult

from storage import calendar
from storage.calendar import segments_started_before
from tui import fmt
from tui.alerts import ANCHORS, output_name
from tui.screens.console.avwap_pane import BAND_COLUMNS, AvwapTable
from tui.screens.console.indicators_pane import IndicatorsPane
from tui.screens.console.status_bar import StatusBar
from tui.screens.console.watchlist import Watchlist
from tui.views import Quote

NUMBER = re.compile(r"[+\-−]?[\d,]*\d\.\d+[σ%]?")


def big_quote() -> Quote:
    """Prices with thousands separators and σ values of both signs (the widest cells)."""
    levels: dict[str, float] = {}
    for k, anchor in enumerate(ANCHORS):
        base = 2734.28 + 111.11 * k
        for j, (band, _) in enumerate(BAND_COLUMNS):
            levels[output_name(anchor, band)] = base + 25.5 * (j - 3)
        levels[f"avwap_{anchor}_z"] = -12.34 + 4.5 * k
    return Quote("AVGO", 2734.28, -1.25, levels, partial=("quarter", "year"),
                 since="2025-10-27")


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AvwapTable(id="t")


async def test_avwap_table_drops_columns_never_digits() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 12)):
        table = app.query_one(AvwapTable)
        quote = big_quote()
        table.show(quote)
        full = {c for row in table.cells for c in row[1:]}  # every formatted number
        seen_hidden = set()
        for width in range(24, 121, 4):
            shown, hidden, _ = table.layout_for(width)
            seen_hidden.add(hidden)
            header = table._line(1, width).text
            for y in range(2, 2 + len(ANCHORS)):
                line = table._line(y, width).text
                assert len(line) == width
                numbers = NUMBER.findall(line)
                assert len(numbers) == len(shown), (width, line)
                assert set(numbers) <= full, (width, line)  # whole values only
            title = table._line(0, width).text
            if hidden:
                assert "hidden: " + " ".join(hidden) in title or len(title.rstrip()) > width - 20
                for label in hidden:
                    assert label not in header
            assert "2,734.28" in title  # the price in the title is whole too
        # Narrow to wide: from the level alone to every band.
        assert ("z", "±1σ", "±2σ", "±3σ") in seen_hidden and () in seen_hidden
        # Partial anchors: marked, with their real start under the grid.
        assert table._line(2 + ANCHORS.index("year"), 120).text.split()[0] == "year*"
        assert table._line(2 + ANCHORS.index("week"), 120).text.split()[0] == "week"
        assert table.note == "* since 2025-10-27: history loaded"
        assert table._line(2 + len(ANCHORS), 120).text.strip() == table.note


async def test_the_console_is_readable_at_80x24(make_app, ready, replay) -> None:
    app = make_app()  # no warm-up (fast): the AVWAP levels exist from the first minute
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await replay(pilot, 20)
        screen = app.console_screen
        wl = screen.query_one(Watchlist)
        shown = [c.key for c in wl.columns()]
        assert shown[:3] == ["symbol", "last", "change"]
        for row in range(len(wl.symbols)):
            line = wl.render_line(row + 1).text
            assert line.split()[: len(shown)] == [wl.cell_text(row, k) for k in shown]
        table = screen.query_one(AvwapTable)
        assert table.size.width >= 40
        assert "AVWAP" in table.render_line(1).text
        for y in range(2, 2 + len(ANCHORS)):
            numbers = NUMBER.findall(table.render_line(y).text)
            row = table.cells[y - 2]
            assert numbers and set(numbers) <= set(row[1:])
        pane = screen.query_one(IndicatorsPane)
        assert pane.size.height >= 4 and pane.shown
        _name, value, _ = pane.shown[0]
        assert value in pane.render_line(1).text  # values shown, not only names
        status = screen.query_one(StatusBar)
        text = status.render_status(status.content_size.width).plain
        assert "2025-11-21 09:" in text and "list mini (6 symbols)" in text
        assert len(text) <= status.content_size.width


async def test_wide_terminals_show_every_column(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(pilot)
        await replay(pilot, 5)
        screen = app.console_screen
        wl = screen.query_one(Watchlist)
        assert len(wl.columns()) == 7
        assert screen.query_one(AvwapTable).hidden == ()
        text = screen.query_one(StatusBar).render_status().plain
        for part in ("replay", "bars/s", "lag", "speed"):
            assert part in text


def test_status_bar_keeps_whole_fields_by_priority() -> None:
    bar = StatusBar()
    bar.status = bar.status.__class__(clock="2025-11-21 10:24 ET", list_name="curated",
                                      symbols=1, alerts=1)
    wide = bar.render_status(200).plain
    assert "1 symbol)" in wide and "1 alert" in wide and "lag" in wide
    narrow = bar.render_status(50).plain
    assert "2025-11-21 10:24 ET" in narrow and "lag" not in narrow and len(narrow) <= 50
    assert bar.render_status(20).plain.startswith("● CONNECTING")


def test_partial_anchor_kinds_follow_the_calendar() -> None:
    """A history starting on Wed 2025-10-01 holds all of October and Q4, not the week
    (Mon and Tue were before it) nor the year; one starting on a Monday holds the week."""
    def started_before(start: dt.date, end: dt.date) -> set[str]:
        return set(segments_started_before(calendar.minute_grid(start, end)))  # type: ignore[arg-type]

    assert started_before(dt.date(2025, 10, 1), dt.date(2025, 10, 3)) == {"week", "year"}
    # Monday 2025-10-27 (the console's 19-session history): the week is whole.
    assert started_before(dt.date(2025, 10, 27), dt.date(2025, 11, 21)) == {
        "month", "quarter", "year"}
    # Thursday 2025-01-02, the year's first session: Dec 29-31 share its week only.
    assert started_before(dt.date(2025, 1, 2), dt.date(2025, 1, 3)) == {"week"}


def test_numbers_regex_reads_formatted_values() -> None:
    for x in (569.94, 2734.28, 0.1234, -1.5):
        assert NUMBER.fullmatch(fmt.price(x))
    assert NUMBER.fullmatch(fmt.sigma(-2.25)) and NUMBER.fullmatch(fmt.pct(0.5))
