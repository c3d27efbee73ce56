"""The Backtests screen (key 3): saved runs, one run, a trade on its chart, compare, grids, new.

Tabs: *Runs* (every saved run, sortable and filterable, marks for compare),
*Run* (stats, equity and drawdown, per symbol, trades; Enter on a trade opens
its day's chart), *Compare* (two marked runs), *Grid* (a grid run's heatmap;
Enter opens a combination), *New* (the form). Reads come from the cache's
results tables (``storage.results``); a trade's AVWAP is computed on the MLX
thread through the runtime's executor; a new backtest is a ``BacktestJob``
(a child process) started through the runtime, so the console keeps updating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Select, Static, TabbedContent, TabPane, Tabs

from storage import events
from storage.errors import AvwapError
from storage.results import delete_run
from tui.messages import JobFinished, JobProgress
from tui.runtime.jobs import JobState
from tui.runtime.runtime import JobRefused
from tui.screens.backtests.compare import CompareView
from tui.screens.backtests.data import (
    RUN_COLUMNS,
    RunDetail,
    RunRow,
    exchange_day,
    filter_rows,
    read_run,
    read_runs,
    trade_day,
)
from tui.screens.backtests.footer import StableFooter
from tui.screens.backtests.form import NewBacktestForm
from tui.screens.backtests.heatmap import Heatmap
from tui.screens.backtests.jobs import NAME, BacktestJob
from tui.screens.backtests.request import BacktestRequest, parse_form
from tui.screens.backtests.run_view import RunView, stat_fmt
from tui.screens.backtests.table import Column, Table
from tui.screens.backtests.trade_chart import TradeChartScreen
from tui.screens.common.commands import NamedCommands
from tui.screens.common.confirm import Confirm

if TYPE_CHECKING:
    from textual.worker import Worker

    from storage.cache import Cache
    from tui.app import AvwapApp

EMPTY = ("No saved backtests yet. Press n for a new one (the form runs it on the cached bars), "
         "or in a shell: avwap backtest --tickers curated")
ALL = "all strategies"
#: The Compare table's columns with a run's figures in the millions.
COMPARE_TABLE = 70


class BacktestCommands(NamedCommands):
    """Palette entries: "backtest: new", "backtest: compare"."""

    def _commands(self) -> list[tuple[str, Any, str]]:
        screen = self.screen
        if not isinstance(screen, BacktestsScreen):
            return []
        return [
            ("backtest: new", screen.action_new, "Open the new-backtest form"),
            ("backtest: compare", screen.action_compare,
             "Compare the two marked runs (m marks a run)"),
        ]


def run_columns(rows: list[RunRow]) -> list[Column]:
    cols = []
    for key, title, width, numeric in RUN_COLUMNS:
        vals = np.array([getattr(r, key) for r in rows],
                        dtype=np.float64 if numeric else object)
        if key in ("total_return", "sharpe", "max_drawdown", "trades"):
            cols.append(Column(key, title, width, vals, stat_fmt(key), True))
        elif numeric:
            cols.append(Column(key, title, width, vals, lambda v: f"{v:.0f}", True))
        else:
            cols.append(Column(key, title, width, vals))
    return cols


class BacktestsScreen(Screen[None]):
    """Runs, run, compare, grid and new (see the module docstring)."""

    COMMANDS: ClassVar = {BacktestCommands}
    AUTO_FOCUS = "#runs-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="backtests.new"),
        Binding("m", "mark", "Mark", id="backtests.mark"),
        Binding("c", "compare", "Compare", id="backtests.compare"),
        Binding("g", "grid", "Grid", id="backtests.grid"),
        Binding("d,delete", "delete", "Delete", id="backtests.delete"),
        Binding("slash", "filter", "Filter", key_display="/", id="backtests.filter"),
        Binding("f", "strategy_filter", "Strategy", id="backtests.strategy"),
        Binding("escape", "back", "Back", id="backtests.back"),
        Binding("ctrl+r", "run", "Run", id="backtests.run"),
        # Priority: the form's inputs would take ctrl+x as "cut".
        Binding("ctrl+x", "cancel", "Cancel", priority=True, id="backtests.cancel"),
    ]
    #: ``-narrow`` where the Compare tab's curves do not fit beside its table (about
    #: 66 columns): they go under it (``CompareView``).
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 (Textual's own attribute, not a ClassVar)
        (0, "-narrow"), (COMPARE_TABLE + CompareView.CURVES_MIN, "-wide")]
    DEFAULT_CSS = """
    BacktestsScreen.-narrow #cmp-row { layout: vertical; height: auto; }
    BacktestsScreen.-narrow #cmp-table { width: 1fr; height: auto; overflow-y: hidden; }
    BacktestsScreen.-narrow #cmp-curves { height: 14; }
    BacktestsScreen #runs-bar { height: 1; }
    BacktestsScreen #runs-bar Input { width: 40; height: 1; border: none; padding: 0; }
    BacktestsScreen #runs-bar Select { width: 30; height: 1; }
    BacktestsScreen #runs-bar Static { width: auto; padding: 0 1; }
    BacktestsScreen #runs-note { height: auto; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RunRow] = []
        self.strategy_filter: str | None = None
        self.text_filter = ""
        self.detail: RunDetail | None = None
        self.request: BacktestRequest | None = None
        self.errors: dict[str, str] = {}
        self.chart_worker: Worker[None] | None = None
        self._strategies: list[str] = []

    @property
    def avwap_app(self) -> AvwapApp:
        return self.app  # type: ignore[return-value]

    @property
    def cache(self) -> Cache:
        return self.avwap_app.controller.cache

    def compose(self) -> ComposeResult:
        defaults = {"tickers": self.avwap_app.list_name or ""}
        with TabbedContent(id="bt-tabs"):
            with TabPane("Runs", id="tab-runs"), Vertical():
                with Horizontal(id="runs-bar"):
                    yield Static("filter /")
                    yield Input(placeholder="text in strategy, parameters, dates", id="bt-filter")
                    yield Static("strategy f")
                    yield Select([(ALL, ALL)], value=ALL, allow_blank=False,
                                 id="bt-strategy")
                yield Table(id="runs-table", empty=EMPTY)
                yield Static("Enter open · m mark · c compare marked · g grid heatmap · "
                             "n new · d delete · s/S sort", id="runs-note")
            with TabPane("Run", id="tab-run"):
                yield RunView(id="run-view")
            with TabPane("Compare", id="tab-compare"):
                yield CompareView(id="compare-view")
            with TabPane("Grid", id="tab-grid"):
                yield Heatmap(id="heatmap")
            with TabPane("New", id="tab-new"):
                yield NewBacktestForm(defaults, id="bt-form")
        yield StableFooter()

    def on_mount(self) -> None:
        # Tab visits what a tab shows (its tables, the filter, the form), never the
        # tab bar, whose focus showed nowhere: a trader tabbing to the trades landed
        # on it and the next Enter did nothing. The tabs have keys (Enter, c, g, n, escape).
        self.query_one("#bt-tabs", TabbedContent).query_one(Tabs).can_focus = False
        self.refresh_runs()
        self._validate()
        self.query_one("#runs-table", Table).focus()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    #: What gets the focus when a tab is shown (its keys then work at once).
    TAB_FOCUS: ClassVar[dict[str, str]] = {
        "tab-runs": "#runs-table", "tab-run": "#run-trades", "tab-grid": "#heatmap",
        "tab-new": "#bf-strategy"}

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        target = self.TAB_FOCUS.get(event.pane.id or "")
        if target and event.pane.id == self.query_one(TabbedContent).active:  # not a stale one
            self.query_one(target).focus()

    # -- runs --------------------------------------------------------------------
    def refresh_runs(self, select: int | None = None) -> None:
        """Re-read the saved runs; the cursor keeps its run (or goes to ``select``)."""
        try:
            self.rows = read_runs(self.cache)
        except AvwapError as e:
            self.rows = []
            self.notify(escape(str(e)), title="Backtests", severity="error")
        strategies = sorted({r.strategy for r in self.rows})
        if strategies != self._strategies:
            self._strategies = strategies
            sel = self.query_one("#bt-strategy", Select)
            sel.set_options([(ALL, ALL), *((s, s) for s in strategies)])
            sel.value = self.strategy_filter if self.strategy_filter in strategies else ALL
        self._show_rows()
        if select is not None:
            self.query_one("#runs-table", Table).move_to_key(select)

    def _show_rows(self) -> None:
        rows = filter_rows(self.rows, self.strategy_filter, self.text_filter)
        table = self.query_one("#runs-table", Table)
        table.empty = EMPTY if not self.rows else "No run matches the filter."
        table.set_data(run_columns(rows), np.array([r.run_id for r in rows], np.int64))

    @on(Input.Changed, "#bt-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value
        self._show_rows()

    @on(Input.Submitted, "#bt-filter")
    def _filter_done(self) -> None:
        self.query_one("#runs-table", Table).focus()

    @on(Select.Changed, "#bt-strategy")
    def _strategy_changed(self, event: Select.Changed) -> None:
        value = None if event.value in (ALL, Select.BLANK) else str(event.value)
        if value != self.strategy_filter:
            self.strategy_filter = value
            self._show_rows()

    def set_filter(self, strategy: str | None = None, text: str | None = None) -> None:
        """Filter the runs table (the palette and the tests)."""
        if strategy is not None:
            self.query_one("#bt-strategy", Select).value = strategy or ALL
            self.strategy_filter = strategy or None
        if text is not None:
            self.query_one("#bt-filter", Input).value = text
            self.text_filter = text
        self._show_rows()

    def action_filter(self) -> None:
        if self.query_one(TabbedContent).active == "tab-runs":
            self.query_one("#bt-filter", Input).focus()
        else:
            self.query_one(TabbedContent).active = "tab-runs"

    def action_strategy_filter(self) -> None:
        options = [None, *self._strategies]
        cur = options.index(self.strategy_filter) if self.strategy_filter in options else 0
        nxt = options[(cur + 1) % len(options)]
        self.set_filter(strategy=nxt or "")

    # -- one run -----------------------------------------------------------------
    @on(Table.Chosen, "#runs-table")
    def _run_chosen(self, event: Table.Chosen) -> None:
        event.stop()
        self.open_run(int(event.table.keys[event.row]))

    def open_run(self, run_id: int, combo: int | None = None) -> bool:
        try:
            detail = read_run(self.cache, run_id, combo)
        except AvwapError as e:
            self.notify(escape(str(e)), title="Backtests", severity="error")
            return False
        self.detail = detail
        self.query_one(RunView).show(detail)
        self.call_after_refresh(self.avwap_app.runtime.gc.keep)  # no full-gc pauses while browsing
        self.query_one(TabbedContent).active = "tab-run"  # focus follows (_tab_shown)
        return True

    @on(Table.Chosen, "#run-trades")
    def _trade_chosen(self, event: Table.Chosen) -> None:
        event.stop()
        d = self.detail
        if self.chart_worker is not None and self.chart_worker.is_running:
            return  # one trade opens at a time; a second Enter does not restart it
        if d is not None:  # at once: the day's AVWAP may take a moment on a busy MLX thread
            self.query_one(RunView).note(f"opening the {d.trades.symbol[event.row]} trade of "
                                         f"{exchange_day(d.trades.entry_ts[event.row])}…")
        self.chart_worker = self.run_worker(self.show_trade(event.row), group="trade-chart",
                                            exclusive=True)

    @on(Table.Chosen, "#run-symbols")
    def _symbol_chosen(self, event: Table.Chosen) -> None:
        """Enter on a symbol: the trades list jumps to its first trade."""
        event.stop()
        d = self.detail
        if d is None:
            return
        sym = event.table.keys[event.row]
        hits = np.flatnonzero(d.trades.symbol == sym)
        trades = self.query_one("#run-trades", Table)
        if len(hits):
            trades.move_to_key(int(hits[0]))
            trades.focus()

    async def show_trade(self, i: int) -> None:
        """Trade ``i``'s day on its chart (the AVWAP computed on the MLX thread)."""
        d = self.detail
        if d is None:
            return
        tr = d.trades
        day = exchange_day(tr.entry_ts[i])
        start = d.run["start_date"]
        try:
            td = await self.avwap_app.runtime.executor.run(
                trade_day, self.cache, str(tr.symbol[i]), day, d.anchor, start)
        except AvwapError as e:
            self.notify(escape(str(e)), title="Trade chart", severity="error")
            return
        finally:
            self.query_one(RunView).note(None)
        await self.app.push_screen(TradeChartScreen(
            td, int(tr.direction[i]), tr.entry_ts[i], tr.exit_ts[i], float(tr.entry_price[i]),
            float(tr.exit_price[i]), float(tr.pnl[i]), str(tr.reason[i])))

    # -- mark, compare, grid, delete ----------------------------------------------
    def _runs_table(self) -> Table:
        return self.query_one("#runs-table", Table)

    def action_mark(self) -> None:
        table = self._runs_table()
        key = table.cursor_key
        if key is None:
            return
        if key in table.marked:
            table.marked.discard(key)
        else:
            table.marked.add(key)
        table.refresh()
        table.action_move(1)

    def action_compare(self) -> None:
        marked = sorted(self._runs_table().marked)
        if len(marked) != 2:
            self.notify(f"Mark exactly two runs with m (now {len(marked)}).",
                        severity="warning", timeout=4)
            return
        try:
            a, b = (read_run(self.cache, r) for r in marked)
        except AvwapError as e:
            self.notify(escape(str(e)), severity="error")
            return
        self.query_one(CompareView).show(a, b)
        self.query_one(TabbedContent).active = "tab-compare"

    def action_grid(self) -> None:
        d = self.detail
        key = self._runs_table().cursor_key
        if self.query_one(TabbedContent).active == "tab-runs" and key is not None \
                and (d is None or d.run_id != key):
            if not self.open_run(int(key)):
                return
            d = self.detail
        if d is None:
            self.notify("Open a run first (Enter).", timeout=3)
            return
        if len(d.combos) < 2:
            self.notify(f"Run {d.run_id} is not a grid (one combination).", timeout=4)
            return
        self.query_one(Heatmap).show(d)
        self.query_one(TabbedContent).active = "tab-grid"  # focus follows (_tab_shown)

    @on(Heatmap.Opened)
    def _combo_opened(self, event: Heatmap.Opened) -> None:
        d = self.detail
        if d is not None:
            self.open_run(d.run_id, event.combo)

    def action_delete(self) -> None:
        if self.query_one(TabbedContent).active != "tab-runs":
            return
        key = self._runs_table().cursor_key
        if key is None:
            return
        run_id = int(key)

        def answered(answer: str | None) -> None:
            if answer != "delete":
                return
            try:
                delete_run(self.cache, run_id)
            except AvwapError as e:
                self.notify(escape(str(e)), severity="error")
                return
            self._runs_table().marked.discard(run_id)
            if self.detail is not None and self.detail.run_id == run_id:
                self.detail = None
            self.refresh_runs()
            self.notify(f"Deleted backtest run {run_id}.", timeout=3)

        self.app.push_screen(Confirm(f"Delete backtest run {run_id}? Its trades and equity go "
                                     "too.", {"y": ("delete", "delete it")}), answered)

    def action_back(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "tab-grid" or tabs.active == "tab-compare":
            tabs.active = "tab-run" if tabs.active == "tab-grid" and self.detail else "tab-runs"
        else:
            tabs.active = "tab-runs"

    # -- new ---------------------------------------------------------------------
    def action_new(self) -> None:
        self.query_one(TabbedContent).active = "tab-new"

    @on(Input.Changed)
    def _form_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("bf-"):
            self._validate()

    def _validate(self) -> None:
        form = self.query_one(NewBacktestForm)
        self.request, self.errors = parse_form(form.values(), self.avwap_app.controller.user_dir)
        form.show_errors(self.errors)

    @on(Button.Pressed, "#bt-run")
    def _run_pressed(self) -> None:
        self.action_run()

    @on(Button.Pressed, "#bt-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_run(self) -> None:
        self._validate()
        form = self.query_one(NewBacktestForm)
        if self.request is None:
            form.status("Fix the marked fields first.", error=True)
            return
        try:
            self.avwap_app.runtime.start(BacktestJob(self.cache, self.request), watcher=self)
        except JobRefused as e:
            form.status(str(e), error=True)
            return
        form.running(True)
        form.progress(0.0)
        form.status(f"Running {self.request.strategy} on {len(self.request.symbols)} symbols…")

    def action_cancel(self) -> None:
        if not self.avwap_app.runtime.cancel(NAME):
            self.notify("No backtest is running.", timeout=3)

    def on_job_progress(self, msg: JobProgress) -> None:
        if msg.name != NAME:
            return
        form = self.query_one(NewBacktestForm)
        ev = msg.event
        if isinstance(ev, events.BadLine):
            form.status(ev.message, error=True)
        elif isinstance(ev, events.BacktestStep):
            form.progress(ev.fraction)
            form.status(f"{ev.stage}…")
        elif isinstance(ev, events.Saved):
            run_id = ev.run_id
            form.progress(1.0)
            form.status(Text(f"Saved as run {run_id}: it is in the Runs tab.", style="bold"))
            self.refresh_runs(select=run_id)

    def on_job_finished(self, msg: JobFinished) -> None:
        if msg.name != NAME:
            return
        form = self.query_one(NewBacktestForm)
        form.running(False)
        if msg.state == JobState.FAILED.value:
            form.status(one_line(msg.error), error=True)
            self.notify(escape(one_line(msg.error)), title="Backtest failed", severity="error",
                        timeout=10)
        elif msg.state == JobState.CANCELLED.value:
            form.progress(None)
            form.status("Cancelled; nothing was saved.")


def one_line(error: str | None) -> str:
    """The child's ``avwap: error: …`` line without the exit code around it."""
    text = (error or "backtest failed").strip().splitlines()[-1]
    marker = "avwap: error: "
    return text.split(marker, 1)[1] if marker in text else text

