"""Pilot tests: every binding and pane of the console, and bad inputs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from storage.cache import Cache
from storage.feeds.base import FeedState
from tui.screens.backtests.screen import BacktestsScreen
from tui.screens.common.alert_dialog import AlertDialog
from tui.screens.common.alerts_list import AlertsScreen
from tui.screens.common.help import HelpScreen
from tui.screens.common.list_picker import ListPicker
from tui.screens.console import present
from tui.screens.console.avwap_pane import AvwapChart, AvwapTable
from tui.screens.console.indicators_pane import IndicatorsPane
from tui.screens.console.status_bar import StatusBar
from tui.screens.console.watchlist import Watchlist
from tui.screens.training.screen import TrainingScreen

SIZE = (160, 48)


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_panes_show_the_first_frame(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 5)
        screen = app.console_screen
        wl = screen.query_one(Watchlist)
        assert wl.symbols == ("SPY", "AAPL", "MSFT", "NVDA", "TSLA", "JPM")
        assert wl.cursor_symbol == "AAPL"  # first by symbol
        table = screen.query_one(AvwapTable)
        assert table.render_line(1).text.split()[:2] == ["Anchor", "−3σ"]
        # Only Friday 2025-11-21 is loaded (no warm-up): every anchor beyond the day
        # runs from that day's first minute, and the table says so.
        assert [table.render_line(2 + r).text.split()[0] for r in range(6)] == [
            "session", "day", "week*", "month*", "quarter*", "year*"]
        assert table.render_line(8).text.strip() == "* since 2025-11-21: history loaded"
        chart = screen.query_one(AvwapChart)
        assert chart._key == ("AAPL", 5)
        status = screen.query_one(StatusBar).status
        assert status.clock == "2025-11-21 09:34 ET"
        assert status.list_name == "mini" and status.symbols == 6
        view = present.indicator_values(screen.frame, "AAPL")
        assert screen.query_one(IndicatorsPane).rows(view)[0][0] == "avwap_session_z"


async def test_cursor_keys_and_cursor_follows_symbol(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 3)
        wl = app.console_screen.query_one(Watchlist)
        await pilot.press("down")
        assert wl.cursor_symbol == "JPM"
        await pilot.press("end")
        assert wl.cursor_symbol == "TSLA"
        await pilot.press("home")
        assert wl.cursor_symbol == "AAPL"
        await pilot.press("pagedown")
        assert wl.cursor_symbol == "TSLA"
        await pilot.press("pageup")
        assert wl.cursor_symbol == "AAPL"
        await pilot.press("j", "j")
        assert wl.cursor_symbol == "MSFT"
        await pilot.press("k")
        assert wl.cursor_symbol == "JPM"
        # Sort by change: JPM keeps the cursor wherever it lands, across updates.
        wl.sort_by("change")
        await replay(pilot, 20)
        assert wl.cursor_symbol == "JPM"
        assert wl.row_symbol(wl.cursor_row) == "JPM"


async def test_sort_keys(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 10)
        wl = app.console_screen.query_one(Watchlist)
        await pilot.press("o")
        assert (wl.sort_key, wl.reverse) == ("last", True)
        last = [wl.cols["last"][wl.order[r]] for r in range(6)]
        assert last == sorted(last, reverse=True)
        await pilot.press("O")
        assert (wl.sort_key, wl.reverse) == ("last", False)
        last = [wl.cols["last"][wl.order[r]] for r in range(6)]
        assert last == sorted(last)


async def test_mouse_header_sorts_and_row_selects(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 10)
        wl = app.console_screen.query_one(Watchlist)
        await pilot.click(Watchlist, offset=(20, 0))  # the "Chg%" header
        assert wl.sort_key == "change"
        await pilot.click(Watchlist, offset=(2, 3))  # third row
        assert wl.cursor_symbol == wl.row_symbol(2)


async def test_speed_and_pause_keys(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        feed = app.controller.feed
        await pilot.press("s")
        assert app.speed == 1.0 and feed.speed == 1.0
        await pilot.press("s")
        assert feed.speed == 10.0
        await pilot.press("s", "s")
        assert feed.speed is None
        assert app.console_screen.query_one(StatusBar).status.speed is None
        await pilot.press("space")
        assert feed.state is FeedState.PAUSED
        await pilot.press("space")
        assert feed.state is FeedState.LIVE


async def test_help_overlay_lists_every_binding(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {r[2] for r in app.screen.rows}
        for bid in ("app.quit", "app.help", "sort.next", "replay.speed", "list.next",
                    "list.pick", "alert.add", "alert.list", "watchlist.down"):
            assert bid in ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_screens_navigate(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("2")
        assert isinstance(app.screen, TrainingScreen)
        await pilot.press("3")
        assert isinstance(app.screen, BacktestsScreen)
        await pilot.press("1")
        assert app.screen is app.console_screen


async def test_quit_key(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app._exit  # the app is shutting down
    assert app.return_code == 0


async def test_next_list_key_switches_engine(make_app, ready, replay) -> None:
    app = make_app("half")  # available lists: all, broken, curated, half, mini, nodata
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert any("ZZZZ" in m for m in messages(app))  # symbol without data
        assert app.controller.symbols == ("SPY", "AAPL")
        await replay(pilot, 4)
        await pilot.press("l")  # next after half is mini
        await ready(pilot)
        assert app.console_screen.list_name == "mini"
        ctl = app.controller
        # half's engine keeps running; mini's four new symbols warmed as a second group
        # that caught up with the replay's clock: the replay did not restart.
        assert [g.symbols for g in ctl.groups] == [("SPY", "AAPL"),
                                                    ("MSFT", "NVDA", "TSLA", "JPM")]
        assert len(ctl.view) == 6 and set(ctl.view) == set(ctl.symbols)
        assert ctl.groups[1].last_ts == ctl.groups[0].last_ts
        assert app.console_screen.frame.snapshot.ts == ctl.groups[0].last_ts
        assert app.console_screen.frame.snapshot.ts >= np.datetime64("2025-11-21T14:33")
        assert app.console_screen.query_one(Watchlist).symbols == ctl.view


async def test_picker_key_and_palette(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("L")
        assert isinstance(app.screen, ListPicker)
        await pilot.press("escape")
        assert not isinstance(app.screen, ListPicker)
        await pilot.press("L")
        ol = app.screen.query_one("#lists")
        ol.highlighted = ol.get_option_index("half")
        await pilot.press("enter")
        await ready(pilot)
        assert app.console_screen.list_name == "half"
        # Command palette: "list: mini".
        await pilot.press("ctrl+p")
        await pilot.press(*"list: mini")
        await pilot.pause()
        await pilot.press("enter")
        await ready(pilot)
        assert app.console_screen.list_name == "mini"


async def test_broken_list_notifies_and_keeps_running(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.switch_list("broken")
        await ready(pilot)
        assert any("invalid JSON" in m for m in messages(app))
        assert app.console_screen.list_name == "mini"  # still on the old list
        app.switch_list("nodata")
        await ready(pilot)
        assert any("no bars for any symbol" in m for m in messages(app))
        assert app.controller.symbols[0] == "SPY"


async def test_empty_cache_says_how_to_get_data(make_app, ready, tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    Cache(empty).close()
    app = make_app(db=empty)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert messages(app) == []  # no "Cannot switch list" toast
        page = app.console_screen.query_one("#no-data")
        assert page.display and not app.console_screen.query_one(Watchlist).display
        text = str(page.render())
        for cmd in ("avwap demo-data", "avwap sync", "avwap import-csv", "[pg]"):
            assert cmd in text
        assert app.console_screen.query_one(StatusBar).status.state is FeedState.DOWN
        await pilot.press("question_mark")  # still responsive
        assert isinstance(app.screen, HelpScreen)


async def test_alert_keys_set_list_and_delete(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 3)
        await pilot.press("a")
        assert isinstance(app.screen, AlertDialog)
        await pilot.press("down", "down")  # session +2σ -> +1σ -> AVWAP
        await pilot.press("enter")
        rules = app.controller.alerts.rules
        assert [(r.symbol, r.anchor, r.band) for r in rules] == [("AAPL", "session", "level")]
        await pilot.press("A")
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("d")
        assert app.controller.alerts.rules == []
        await pilot.press("escape")
        assert app.screen is app.console_screen


async def test_alert_fires_notification_and_bell(make_app, ready, replay) -> None:
    from tui.alerts import AlertRule

    app = make_app()
    bells: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        for sym in app.controller.symbols:
            app.controller.alerts.add(AlertRule(sym, "session", "level"))
        fired = []
        for _ in range(60):
            frame = await app.console_screen.session.step_next()
            if frame.hits:
                fired.extend(frame.hits)
                from tui.messages import AlertsFired

                app.console_screen.post_message(AlertsFired(frame.hits))
        await pilot.pause()
        assert fired, "no symbol crossed its session AVWAP in an hour of demo data"
        assert bells
        assert any("crosses session AVWAP" in m for m in messages(app))
        assert len(app.controller.alerts.history) == len(fired)


async def test_live_loop_replays_at_max_speed(make_app, ready) -> None:
    app = make_app(live=True, limit=30, render_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.console_screen.session.feed_finished()  # its 30 minutes replayed
        await pilot.pause()
        screen = app.console_screen
        assert app.controller.feed.state is FeedState.DONE
        assert app.controller.frame.snapshot.ts == np.datetime64("2025-11-21T14:59")
        assert screen.frame.snapshot.ts == np.datetime64("2025-11-21T14:59")
        assert screen.query_one(StatusBar).status.clock == "2025-11-21 09:59 ET"


async def test_keys_remap_from_config(make_app, ready, replay) -> None:
    app = make_app(keys={"sort.next": "x", "nonsense.id": "y"})
    # Every notification, kept: the toast itself expires after 8 s of real time, which a
    # busy machine can spend warming up before the assertion (a flake seen under load).
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, *a, **kw: (said.append(str(message)),  # type: ignore[method-assign]
                                            notify(message, *a, **kw))[1]
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 2)
        wl = app.console_screen.query_one(Watchlist)
        await pilot.press("x")
        assert wl.sort_key == "last"
        await pilot.press("o")  # no longer bound
        assert wl.sort_key == "last"
        assert any("nonsense.id" in m for m in said)


async def test_throttled_chart_catches_up_with_the_last_minute(make_app, ready, replay) -> None:
    # A long chart interval and a frozen clock: frames inside the interval skip
    # the chart but arm its timer; when it fires the chart shows the newest minute.
    app = make_app(chart_interval=3600.0)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 5)
        screen = app.console_screen
        chart = screen.query_one(AvwapChart)
        assert chart._key == ("AAPL", 5)  # a new symbol draws at once
        await replay(pilot, 3)
        assert chart._key == ("AAPL", 5) and screen._chart_timer is not None
        screen._chart_due()  # what the armed timer runs
        assert chart._key == ("AAPL", 8) and screen._chart_timer is None


def test_braille_chart_draws_lines_axes_and_gaps() -> None:
    from rich.style import Style

    from tui.widgets.chart import Series, render_chart

    y = np.array([10.0, 10.0, np.nan, 12.0, 11.0])
    strips = render_chart([Series(y, Style(color="cyan"))], 40, 10, x_max=5,
                          x_ticks=[(0, "9:30")])
    assert len(strips) == 10 and all(s.cell_length == 40 for s in strips)
    text = [s.text for s in strips]
    assert text[-1].strip() == "9:30" and "└┬" in text[-2]
    plot = [line.split("┤")[-1].split("│")[-1] for line in text[:-2]]
    assert any(ch != " " for line in plot for ch in line)  # something is drawn
    # The NaN at x=2 breaks the line: the cells between x=1 and x=3 stay empty.
    cols = sorted({c for line in plot for c, ch in enumerate(line) if ch != " "})
    assert max(b - a for a, b in itertools.pairwise(cols)) > 5
