"""Backtests run view (issue 28 item 8): the focus shows, Tab visits only what the Run tab
shows, and the first Enter on a trade opens it.

The trader's path: Enter on a run, Tab to look for the trades, Enter. Tab used to stop on
the tab bar (its focus drawn nowhere), where that Enter did nothing.
"""

from __future__ import annotations

import pytest
from test_backtests import make_bt_app, open_screen, runs_db  # noqa: F401 (fixtures)

from tui.screens.backtests.run_view import RunView
from tui.screens.backtests.table import HEADER_FOCUS, Table
from tui.screens.backtests.trade_chart import TradeChartScreen


def header_has_focus_style(table: Table) -> bool:
    return any(seg.style is not None and seg.style.bgcolor == HEADER_FOCUS.bgcolor
               for seg in table.render_line(0))


@pytest.mark.parametrize("size", [(200, 50), (80, 24)])
async def test_tab_visits_the_shown_tables_and_the_first_enter_opens_a_trade(
        make_bt_app, size: tuple[int, int]) -> None:  # noqa: F811 (the fixture)
    app = make_bt_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("enter")  # open the first run
        await pilot.pause()
        view = screen.query_one(RunView)
        trades = screen.query_one("#run-trades", Table)
        symbols = screen.query_one("#run-symbols", Table)
        assert app.focused is trades
        stops = []
        for _ in range(4):
            await pilot.press("tab")
            await pilot.pause()
            f = app.focused
            stops.append(f)
            assert isinstance(f, Table) and f in view.query(Table), f"Tab stopped on {f!r}"
            assert f.region.area > 0 and screen.region.contains_region(f.region), f
            other = symbols if f is trades else trades
            assert header_has_focus_style(f) and not header_has_focus_style(other)
        assert stops == [symbols, trades, symbols, trades]
        await pilot.press("enter")  # on a trade: its chart, at the first Enter
        assert screen.chart_worker is not None
        await screen.chart_worker.wait()
        await pilot.pause()
        assert isinstance(app.screen, TradeChartScreen)
        await pilot.press("escape")


def cut_cells(table: Table) -> list[tuple[int, str, str]]:
    """(line, column, what shows) for every cell the table's window cuts: a value or a
    title only partly drawn at its left or right edge."""
    width, x = table.scrollable_content_region.width, int(table.scroll_offset.x)
    cut = []
    for y in range(min(table.size.height, table.row_count + 1)):
        shown = table.render_line(y).text
        start = 1
        for c in table.columns:
            end = start + c.width
            if (start < x < end or start < x + width < end) and c.width <= width:
                part = shown[max(start - x, 0):min(end - x, width)]
                if part.strip():
                    cut.append((y, c.key, part))
            start = end + 1
    return cut


async def test_a_run_views_tables_show_values_whole_or_not_at_all(
        make_bt_app) -> None:  # noqa: F811 (the fixture)
    """At 80x24 the symbols table ended in "0." (a profit factor) and the trades table in
    "2" (an entry time): a cell the window cuts is left blank, → brings it in whole."""
    app = make_bt_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("enter")
        await pilot.pause()
        tables = [screen.query_one("#run-symbols", Table), screen.query_one("#run-trades", Table)]
        assert all(t.virtual_size.width > t.scrollable_content_region.width for t in tables)
        for table in tables:
            table.focus()
            for _ in range(6):
                await pilot.pause()
                assert cut_cells(table) == [], (table.id, int(table.scroll_offset.x))
                await pilot.press("right", "right", "right")


@pytest.mark.parametrize("size", [(200, 50), (80, 24)])
async def test_the_run_views_two_tables_share_the_width(
        make_bt_app, size) -> None:  # noqa: F811 (the fixture)
    """A fixed 62 columns hid the symbols table's last columns at 200x50 and left the
    trades table 16 columns (symbol and side only) at 80x24."""
    app = make_bt_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("enter")
        await pilot.pause()
        symbols = screen.query_one("#run-symbols", Table)
        trades = screen.query_one("#run-trades", Table)
        if size[0] >= 160:  # room for every per-symbol column
            assert symbols.virtual_size.width <= symbols.scrollable_content_region.width
        else:
            assert trades.region.width >= size[0] // 2 - 1
        assert trades.region.x >= symbols.region.right
        assert trades.region.width >= 30 and symbols.region.width >= 30


async def test_the_run_views_head_line_wraps_at_80_columns(
        make_bt_app) -> None:  # noqa: F811 (the fixture)
    """One row high, it lost the run's end date at 80x24 ("… 2025-09-29 →")."""
    app = make_bt_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        screen.open_run(2)  # a grid: "combination 1 of 6" makes the line longer
        await pilot.pause()
        head = screen.query_one("#run-head")
        view = screen.query_one(RunView)
        end = str(view.detail.run["end_date"])
        assert str(head.render()).rstrip().endswith(end)
        need = head.get_content_height(head.size, app.size, head.content_region.width)
        assert need > 1 and head.region.height >= need
