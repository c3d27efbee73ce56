"""The Backtests screen on real saved runs: sort, filter, open, trade, compare, grid, new, delete.

Runs are made once per session by the real backtester on the fixed demo cache
(``conftest.demo_db``: six symbols, three sessions ending at
``storage.demo.DEFAULT_END``) and saved in a copy of it; each test copies that
file again, so a test that deletes or adds a run changes only its own copy.
The form's run is the real child process; waits are on the runtime's jobs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.backtest import MLXBacktester
from engine.backtest.persist import to_tables
from storage import demo
from storage.cache import Cache
from storage.feeds.replay import ReplaySource
from storage.results import save_run
from tests.tui.conftest import SYMBOLS
from tui.app import AvwapApp
from tui.runtime.controller import Controller
from tui.screens.backtests.compare import CompareView
from tui.screens.backtests.form import NewBacktestForm
from tui.screens.backtests.heatmap import Heatmap
from tui.screens.backtests.run_view import RunView
from tui.screens.backtests.screen import BacktestsScreen
from tui.screens.backtests.table import Table
from tui.screens.backtests.trade_chart import TradeChartScreen
from tui.screens.common.confirm import Confirm

SIZE = (160, 48)
START = "2025-11-19"


@pytest.fixture(scope="session")
def runs_db(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cache with three saved runs: 1 reversion, 2 a 2×3 grid, 3 orb."""
    path = tmp_path_factory.mktemp("bt") / "runs.duckdb"
    shutil.copy(demo_db, path)
    end = demo.DEFAULT_END
    with Cache(path) as cache:
        bt = MLXBacktester(cache)

        def save(cache: Cache, res: object) -> int:
            return save_run(cache, to_tables(res))  # type: ignore[arg-type]

        save(cache, bt.run_vectorized_backtest(SYMBOLS, START, end, "avwap-reversion",
                                               {"k": 2, "stop_pct": 0.5}))
        save(cache, bt.run_vectorized_backtest(SYMBOLS, START, end, "avwap-reversion",
                                               {"k": [1, 2], "stop_pct": [0.3, 0.5, 1.0]}))
        save(cache, bt.run_vectorized_backtest(SYMBOLS, START, end, "orb", {"minutes": 15}))
        # A fixed save time and code version: the snapshots show the date.
        with cache.transaction() as cur:
            cur.execute("UPDATE backtest_runs SET created_at = TIMESTAMPTZ "
                        "'2025-11-21 22:00:00+00', code_version = 'test'")
        cache.checkpoint()
    return path


@pytest.fixture
def make_bt_app(runs_db: Path, tmp_path: Path, user_dir: Path):
    def make(empty: bool = False, drop: str | None = None) -> AvwapApp:
        db = tmp_path / "app.duckdb"
        shutil.copy(runs_db, db)
        cache = Cache(db)
        if drop:  # the symbol's bars leave the cache; its runs stay
            with cache.transaction() as cur:
                cur.execute("DELETE FROM bars WHERE symbol = ?", [drop])
        if empty:
            for r in (1, 2, 3):
                from storage.results import delete_run
                delete_run(cache, r)
        source = ReplaySource(cache, end=demo.DEFAULT_END, warm_sessions=0, speed=None)
        ctl = Controller(cache, source, clock=lambda: 0.0, user_dir=user_dir)
        return AvwapApp(ctl, list_name="mini", speed=None, live=False, clock=lambda: 0.0,
                        render_interval=0.0, chart_interval=0.0)

    return make


async def open_screen(pilot) -> BacktestsScreen:
    app = pilot.app
    await pilot.pause()
    await app.console_screen.session.settled()
    await pilot.press("3")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, BacktestsScreen)
    return screen


def text_of(static) -> str:
    """What a Static shows, as plain text (its rich table printed wide)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(static.content)
    return console.export_text()


def shown_ids(table: Table) -> list[int]:
    return [int(table.keys[table.order[i]]) for i in range(table.row_count)]


async def test_runs_sort_filter_and_cursor_keeps_its_run(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        table = screen.query_one("#runs-table", Table)
        assert shown_ids(table) == [3, 2, 1]  # newest first
        table.sort_by("run_id")
        assert shown_ids(table) == [1, 2, 3]
        table.sort_by("trades", reverse=True)
        trades = [float(table.columns[-1].values[table.order[i]]) for i in range(3)]
        assert trades == sorted(trades, reverse=True)
        table.move_to_key(2)
        screen.refresh_runs()  # a refresh keeps the cursor on run 2
        assert table.cursor_key == 2
        screen.set_filter(strategy="orb")
        assert shown_ids(table) == [3]
        screen.set_filter(strategy="", text="stop_pct=0.5")
        assert sorted(shown_ids(table)) == [1, 2]
        screen.set_filter(text="nothing-like-this")
        assert table.row_count == 0


async def test_open_a_run_and_a_trade_chart_with_its_markers(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        assert screen.open_run(1)
        await pilot.pause()
        d = screen.detail
        assert d is not None and d.run_id == 1 and len(d.trades) > 0
        assert np.isfinite(d.equity).all() and len(d.equity) > 10
        view = screen.query_one(RunView)
        assert "sharpe" in text_of(view.query_one("#run-stats"))
        trades = screen.query_one("#run-trades", Table)
        assert trades.row_count == len(d.trades)
        trades.action_move(2)
        i = trades.cursor_row
        await pilot.press("enter")
        assert screen.chart_worker is not None
        await screen.chart_worker.wait()
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, TradeChartScreen)
        day = chart.day
        assert day.symbol == d.trades.symbol[i] and not day.missing
        assert day.ts[chart.entry_x] == d.trades.entry_ts[i]
        assert day.ts[chart.exit_x] == d.trades.exit_ts[i]
        assert np.isfinite(day.levels["avwap"]).sum() > 100
        await pilot.press("escape")


async def test_a_trade_whose_bars_are_gone_says_so_on_its_chart(make_bt_app) -> None:
    app = make_bt_app(drop="JPM")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        assert screen.open_run(1)
        await pilot.pause()
        d = screen.detail
        assert d is not None and "JPM" in d.symbol_stats  # stats and trades stay
        i = int(np.flatnonzero(d.trades.symbol == "JPM")[0])
        await screen.show_trade(i)
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, TradeChartScreen)
        assert "no longer in the cache" in chart.day.missing
        assert "no longer in the cache" in str(chart.query_one("#trade-missing").render())


async def test_compare_two_marked_runs(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        table = screen.query_one("#runs-table", Table)
        table.sort_by("run_id")
        table.move_to_key(1)
        await pilot.press("m", "down", "m")  # marks 1, then 3 (m moves down)
        assert table.marked == {1, 3}
        await pilot.press("c")
        await pilot.pause()
        view = screen.query_one(CompareView)
        assert view.pair is not None
        a, b = view.pair
        assert (a.run_id, b.run_id) == (1, 3)
        text = text_of(view.query_one("#cmp-table"))
        assert "B − A" in text and "run 3" in text


def test_a_counts_difference_has_one_sign() -> None:
    from tui.screens.backtests.compare import difference

    assert difference("trades", 3547, 3547) == ("+0", "")  # it said "++0"
    assert difference("closed_trades", 10, 12) == ("+2", "B")
    assert difference("trades", 12, 10) == ("-2", "A")
    assert difference("max_drawdown_minutes", 100, 90) == ("-10", "B")


async def test_compare_at_80x24_puts_the_curves_under_the_table(make_bt_app) -> None:
    """Beside the 66-column table the curves had one column at 80x24."""
    from tui.widgets.chart import BrailleChart

    app = make_bt_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        table = screen.query_one("#runs-table", Table)
        table.sort_by("run_id")
        table.move_to_key(1)
        await pilot.press("m", "down", "m", "c")
        await pilot.pause()
        view = screen.query_one(CompareView)
        stats = view.query_one("#cmp-table")
        chart = view.query_one("#cmp-chart", BrailleChart)
        assert stats.region.right <= 80 and stats.region.width >= 60
        need = stats.get_content_height(stats.size, app.size, stats.content_region.width)
        assert stats.region.height >= need  # every statistic, none scrolled inside
        view.scroll_to_widget(chart, animate=False)
        await pilot.pause()
        assert chart.region.width >= 60 and chart.region.height >= 8, chart.region
        assert chart.region.y >= 0 and chart.region.bottom <= 23, chart.region
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert chart.region.x >= stats.region.right and chart.region.width >= 60


async def test_grid_heatmap_cell_opens_its_combination(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        assert screen.open_run(2)
        screen.action_grid()
        await pilot.pause()
        hm = screen.query_one(Heatmap)
        assert hm.x_param == "k" and hm.y_param == "stop_pct"
        hm.cx, hm.cy = 0, 2  # k=1, stop_pct=1.0
        combo = hm.cursor_combo
        assert combo is not None and screen.detail is not None
        assert screen.detail.combos[combo] | {} == {**screen.detail.combos[combo], "k": 1,
                                                    "stop_pct": 1.0}
        assert "k=1" in hm.cursor_text() and "stop_pct=1.0" in hm.cursor_text()
        await pilot.press("enter")
        await pilot.pause()
        d = screen.detail
        assert d is not None and d.combo == combo and d.run_id == 2


async def test_delete_asks_first(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        table = screen.query_one("#runs-table", Table)
        assert table.cursor_key == 3
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")
        await pilot.pause()
        assert shown_ids(table) == [3, 2, 1]
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert shown_ids(table) == [2, 1]


async def test_keys_have_ids_in_help_and_the_palette_has_its_entries(make_bt_app) -> None:
    from tui.screens.backtests.screen import BacktestCommands
    from tui.screens.common.help import HelpScreen

    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        ids = {bid for _, _, bid in app.help_rows()}
        assert {"backtests.new", "backtests.compare", "backtests.delete", "table.sort"} <= ids
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        names = [n for n, _, _ in BacktestCommands(screen)._commands()]
        assert names == ["backtest: new", "backtest: compare"]
        assert "backtests.new" in AvwapApp.binding_ids()


async def test_empty_table_says_how_to_start(make_bt_app) -> None:
    app = make_bt_app(empty=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        table = screen.query_one("#runs-table", Table)
        assert table.row_count == 0
        assert "Press n" in table.render_line(1).text


async def test_the_empty_tables_message_wraps_at_80_columns(make_bt_app) -> None:
    """At 80x24 it ended at the edge: "… (the form runs it on the cached ba"."""
    from tui.screens.backtests.screen import EMPTY

    app = make_bt_app(empty=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        table = screen.query_one("#runs-table", Table)
        width = table.scrollable_content_region.width
        lines = [table.render_line(y).text.rstrip() for y in range(1, table.size.height)]
        assert all(len(line) <= width for line in lines)
        assert " ".join(line for line in lines if line) == EMPTY, lines


async def test_form_validation_and_a_run_from_it(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("n")
        form = screen.query_one(NewBacktestForm)
        bad = {"strategy": ("nope", "nope"), "params": ("k=7", "k"), "start": ("2025-13-01",
               "not a date"), "commission": ("-1", "number"), "stop_pct": ("x", "not a number")}
        for key, (text, why) in bad.items():
            good = form.values()[key]
            form.set_value(key, text)
            await pilot.pause()
            assert why in screen.errors.get(key, ""), (key, screen.errors)
            assert str(screen.query_one(f"#bh-{key}").render()).startswith("✗")
            form.set_value(key, good)
            await pilot.pause()
        form.set_value("tickers", "SPY,AAPL")
        form.set_value("start", START)
        form.set_value("params", "k=1")
        await pilot.pause()
        assert screen.errors == {}
        await pilot.press("ctrl+r")
        job = await app.runtime.wait("backtest")
        await pilot.pause()
        assert job is not None and job.state.value == "done", job.error
        table = screen.query_one("#runs-table", Table)
        assert table.cursor_key == job.saved_id == 4
        assert "Saved as run 4" in str(screen.query_one("#bt-status").render())


async def test_a_failing_backtest_shows_its_one_line_error(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("n")
        form = screen.query_one(NewBacktestForm)
        form.set_value("tickers", "SPY")
        form.set_value("start", "2020-01-06")
        form.set_value("end", "2020-01-07")  # no bars then
        await pilot.pause()
        await pilot.press("ctrl+r")
        job = await app.runtime.wait("backtest")
        await pilot.pause()
        assert job is not None and job.state.value == "failed"
        status = str(screen.query_one("#bt-status").render())
        assert status.startswith("no bars between 2020-01-06") or "no bars" in status, status
        assert "\n" not in status.strip()


# -- SVG snapshots on the fixed saved runs ---------------------------------------

def _snap(make_bt_app, steps):
    app = make_bt_app()

    async def run_before(pilot) -> None:
        screen = await open_screen(pilot)
        await steps(pilot, screen)
        await pilot.pause()

    return app, run_before


def test_snapshot_runs_table(snap_compare, make_bt_app) -> None:
    async def steps(pilot, screen) -> None:
        screen.query_one("#runs-table", Table).move_to_key(2)

    app, before = _snap(make_bt_app, steps)
    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_snapshot_run(snap_compare, make_bt_app) -> None:
    async def steps(pilot, screen) -> None:
        screen.open_run(1)
        await pilot.pause()

    app, before = _snap(make_bt_app, steps)
    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_snapshot_trade_chart(snap_compare, make_bt_app) -> None:
    async def steps(pilot, screen) -> None:
        screen.open_run(1)
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await screen.chart_worker.wait()

    app, before = _snap(make_bt_app, steps)
    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_snapshot_heatmap(snap_compare, make_bt_app) -> None:
    async def steps(pilot, screen) -> None:
        screen.open_run(2)
        await pilot.pause()
        await pilot.press("g")

    app, before = _snap(make_bt_app, steps)
    assert snap_compare(app, terminal_size=SIZE, run_before=before)


# -- the real avwap in a terminal ------------------------------------------------

def test_key_3_shows_the_runs_table_in_a_real_terminal(runs_db: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time
    import uuid

    tmux = shutil.which("tmux")
    avwap = Path(sys.executable).with_name("avwap")
    if tmux is None or not avwap.exists():
        pytest.skip("needs tmux + avwap")
    db = tmp_path / "tmux.duckdb"
    shutil.copy(runs_db, db)
    lists = tmp_path / "cfg" / "tickers"
    lists.mkdir(parents=True)
    (lists / "trio.txt").write_text("SPY\nAAPL\nMSFT\n")
    cfg = tmp_path / "cfg" / "config.toml"
    cfg.write_text('tickers = "trio"\n')
    session = f"avwap-bt-{uuid.uuid4().hex[:8]}"
    cmd = (f"env AVWAP_CONFIG={cfg} {avwap} --db {db} tui --speed max --warm-days 1; "
           "echo AVWAP-EXIT=$?; sleep 30")

    def capture() -> str:
        return subprocess.run([tmux, "capture-pane", "-p", "-t", session], capture_output=True,
                              text=True, check=False).stdout

    def wait_for(predicate, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = capture()
            if predicate(screen):
                return screen
            time.sleep(0.2)  # polling interval, not synchronisation
        raise AssertionError(f"timed out; the screen was:\n{screen}")

    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd],
                   check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        wait_for(lambda s: "Symbol" in s and "AAPL" in s)
        subprocess.run([tmux, "send-keys", "-t", session, "3"], check=True)
        # Wait for the rows, not just the header: the table fills after the tab shows.
        # The rows are read by their strategy and parameters, which lead the table: the
        # period column sits near the right edge, and a column the window cuts is left
        # blank (test_backtests_focus: values whole or not at all), so it is not a sign of the rows.
        screen = wait_for(lambda s: "avwap-reversion" in s and "orb" in s and "6× best" in s)
        assert "parameters" in screen and "minutes=15" in screen
        subprocess.run([tmux, "send-keys", "-t", session, "q"], check=True)
        assert "AVWAP-EXIT=0" in wait_for(lambda s: "AVWAP-EXIT=" in s)
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], check=False, capture_output=True)


async def test_cancel_a_running_backtest_saves_nothing(make_bt_app) -> None:
    app = make_bt_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("n")
        form = screen.query_one(NewBacktestForm)
        form.set_value("tickers", ",".join(SYMBOLS))
        await pilot.pause()
        await pilot.press("ctrl+r")
        job = app.runtime.job("backtest")
        assert job is not None
        for _ in range(500):  # until the child exists (the export comes first)
            if getattr(job, "pid", None) is not None or job.state.finished:
                break
            await pilot.pause()
        await pilot.press("ctrl+x")
        await app.runtime.wait("backtest")
        await pilot.pause()
        assert job.state.value == "cancelled"
        assert "nothing was saved" in str(screen.query_one("#bt-status").render())
        assert sorted(shown_ids(screen.query_one("#runs-table", Table))) == [1, 2, 3]


# ── issue 28: numbers whole, titles over their values when scrolled ──


async def test_virtual_table_keeps_values_whole_and_titles_over_them() -> None:
    import numpy as np
    from textual.app import App

    from tui.screens.backtests.table import Column, Table

    class One(App[None]):
        def compose(self):
            yield Table(id="t")

    app = One()
    async with app.run_test(size=(30, 8)) as pilot:
        t = app.query_one(Table)
        cash = np.array([3_200_000.0, -12.5, np.nan])
        t.set_data([Column("sym", "symbol", 6, np.array(["SPY", "AAPL", "BRK.B"])),
                    Column("pf", "profit factor", 4, np.array([0.58, 12.25, 1.0]),
                           lambda v: f"{v:.2f}", right=True),
                    Column("cash", "cash", 6, cash, lambda v: f"{v:,.2f}", right=True)],
                   keys=np.arange(3))
        await pilot.pause()
        rows = [t.cells(i) for i in range(3)]
        assert [r[2] for r in rows] == ["3,200,000.00", "-12.50", "nan"]
        t.scroll_to(x=12, animate=False)
        await pilot.pause()
        head, first = t.render_line(0).text, t.render_line(1).text
        col = head.index("cash")  # a right-aligned title ends where its values end
        assert head.rstrip().endswith("cash") and first.rstrip().endswith("3,200,000.00")
        assert len(head.rstrip()) == len(first.rstrip()) and col > 0
