"""The Scanner screen: type scans, see each live minute's matches, open a chart.

The scans are the runtime's (``tui.runtime.scans``): the controller evaluates
them on the MLX thread with every minute's universe snapshot and the frame
carries the results, so this screen only edits the book and renders. Like the
chart screen it looks at the controller's newest frame on a half-second timer
(the console screen keeps receiving frames); a scan typed while the replay is
paused is evaluated at once on the MLX thread (``Controller.scan_now``). Replay
jumps (``t``/``b`` on the console) step the controller, so the scans follow.

Keys: ``enter`` in the input saves the scan (an invalid one is kept and marked
inline with the parser's message and suggestions); in the matches ``enter``
opens the chart, ``+`` adds the symbol to a list; ``delete`` removes the
highlighted scan; ``ctrl+b`` opens the Backtests screen's New form with
``expr``, the scan's expression as the entry and its universe as the tickers.
New matches (entered this minute) carry a ``●``. ``/`` focuses the line (typed
into the empty line it is that key, not text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from storage.errors import AvwapError
from tui import fmt
from tui.runtime.scans import UNIVERSES, ScanResult, check
from tui.screens.scanner.spec import SpecError, parse_spec

if TYPE_CHECKING:
    from tui.app import AvwapApp

POLL_S = 0.5



def cell_format(name: str) -> Callable[[float], str]:
    """How a scan column's number is written: prices to the cent (the console's rule),
    volumes in K/M, the rest by size. ``:.4g`` wrote a $249.04 close and a $248.97 band
    both as 249, which a scan for ``close < band`` cannot be read from."""
    from engine.meta import Kind
    from engine.registry import REGISTRY

    if name == "close":
        return fmt.price
    if name == "volume":
        return fmt.volume
    try:
        kind = REGISTRY.meta(name).kind
    except KeyError:
        return fmt.value
    if kind in (Kind.LEVEL, Kind.BAND, Kind.PRICE_DIFF):
        return fmt.price
    if kind in (Kind.VOLUME, Kind.CUMULATIVE):
        return fmt.volume
    if kind is Kind.ZSCORE:
        return fmt.sigma
    return fmt.value

class ScanInput(Input):
    """The scan line. A ``/`` typed into the *empty* line is not text but the screen's
    "New scan" key (an expression never starts with a division, and a leading ``/``
    became part of the scan's name); anywhere else it is text (``close / open``)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if character == "/" and not self.value:
            return False  # the screen's binding keeps it
        return super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "/" and not self.value:
            event.prevent_default()  # not typed; it bubbles to the binding
            return
        await super()._on_key(event)


class ScannerScreen(Screen[None]):
    """Named scans and the selected scan's matches (see the module docstring)."""

    DEFAULT_CSS = """
    ScannerScreen #scan-list { height: auto; max-height: 8; }
    ScannerScreen #scan-error { color: $error; height: auto; }
    ScannerScreen #scan-matches { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_chart", "Chart", id="scanner.chart"),
        Binding("plus", "add_to_list", "Add to list", key_display="+", id="scanner.add"),
        Binding("delete", "remove_scan", "Remove scan", id="scanner.remove"),
        Binding("slash", "focus_input", "New scan", key_display="/", id="scanner.new"),
        Binding("ctrl+b", "backtest", "Backtest it", id="scanner.backtest"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seen = -1
        self._results: tuple[ScanResult, ...] = ()
        self._selected: str | None = None

    @property
    def avwap_app(self) -> AvwapApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("Scanner — name: expression | sort NAME | universe warm|all|LIST | alert",
                     id="scan-title")
        yield ScanInput(placeholder="up: close > avwap_session_up2 and rvol > 2", id="scan-input")
        yield Static("", id="scan-error")
        yield DataTable(id="scan-list", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="scan-matches", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#scan-list", DataTable).add_columns("scan", "expression", "matches")
        self._render_list()
        self.set_interval(POLL_S, self._poll, name="scanner-follow")
        self.query_one(Input).focus()

    # -- following the minutes -------------------------------------------------------
    def _poll(self) -> None:
        frame = self.avwap_app.controller.frame
        if frame is None or frame.seq == self._seen:
            return
        self._seen = frame.seq
        self.show(frame.scans)

    def show(self, results: tuple[ScanResult, ...]) -> None:
        """Render the scans' results (the tests call this with a frame's ``scans``)."""
        self._results = results
        self._render_list()

    def _render_list(self) -> None:
        table = self.query_one("#scan-list", DataTable)
        by_name = {r.scan.name: r for r in self._results}
        table.clear()
        for scan in self.avwap_app.controller.scans.book.scans:
            r = by_name.get(scan.name)
            chk = r.check if r is not None else check(scan.expression)
            count = "✗ invalid" if not chk.ok else ("…" if r is None else str(len(r.symbols)))
            table.add_row(scan.name, fmt.safe(scan.expression), count, key=scan.name)
        names = [s.name for s in self.avwap_app.controller.scans.book.scans]
        if self._selected not in names:
            self._selected = names[0] if names else None
        if self._selected is not None:  # the cursor follows the selection (a rebuilt table
            table.move_cursor(row=names.index(self._selected))  # highlights its first row)
        self._render_matches()

    def _render_matches(self) -> None:
        table = self.query_one("#scan-matches", DataTable)
        err = self.query_one("#scan-error", Static)
        table.clear(columns=True)
        r = next((x for x in self._results if x.scan.name == self._selected), None)
        if r is None:
            return
        if not r.check.ok:
            hint = f" — did you mean {', '.join(r.check.suggestions)}?" \
                if r.check.suggestions else ""
            err.update(fmt.safe(f"{r.scan.name}: {r.check.message}{hint}"))
            return
        err.update(fmt.safe(f"{r.scan.name}: {r.note}") if r.note else "")
        table.add_columns("", "symbol", *r.columns)
        cells = [cell_format(c) for c in r.columns]
        for i, sym in enumerate(r.symbols):
            vals = [f(float(v)) for f, v in zip(cells, r.values[i], strict=True)]
            table.add_row("●" if r.new[i] else " ", sym, *vals, key=sym)

    @on(DataTable.RowHighlighted, "#scan-list")
    def _scan_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and event.row_key.value != self._selected:
            self._selected = str(event.row_key.value)
            self._render_matches()

    # -- editing -----------------------------------------------------------------------
    @on(Input.Submitted, "#scan-input")
    def _submitted(self, event: Input.Submitted) -> None:
        book = self.avwap_app.controller.scans.book
        from storage.tickers import load_list

        user_dir = self.avwap_app.controller.user_dir
        try:
            scan = parse_spec(event.value, f"scan{len(book.scans) + 1}",
                              lambda n: tuple(load_list(n, user_dir).symbols))
        except (SpecError, AvwapError) as e:
            self.query_one("#scan-error", Static).update(fmt.safe(str(e)))
            return
        chk = book.put(scan)
        self._selected = scan.name
        if not chk.ok:
            self.query_one("#scan-error", Static).update(fmt.safe(
                f"{scan.name}: {chk.message}"
                + (f" — did you mean {', '.join(chk.suggestions)}?" if chk.suggestions else "")))
        else:
            self.query_one(Input).value = ""
        if book.load_error:
            self.notify(fmt.safe(book.load_error), severity="error")
        self.run_worker(self._evaluate_now(), group="scanner-now", exclusive=True)

    async def _evaluate_now(self) -> None:
        """The scans at the current minute now (a paused replay has no next frame)."""
        session = self.avwap_app.console_screen.session
        ctl = self.avwap_app.controller
        if session is None or ctl.frame is None:
            self._render_list()
            return
        self.show(await session.runtime.executor.run(ctl.scan_now))

    def action_focus_input(self) -> None:
        self.query_one(Input).focus()

    def action_remove_scan(self) -> None:
        if self._selected is not None:
            self.avwap_app.controller.scans.book.remove(self._selected)
            self._selected = None
            self._render_list()

    # -- acting on a match ---------------------------------------------------------------
    def _symbol(self) -> str | None:
        table = self.query_one("#scan-matches", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)

    @on(DataTable.RowSelected, "#scan-matches")
    def _match_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_chart()  # the table keeps enter for itself: its selection opens

    def action_open_chart(self) -> None:
        from tui.screens.chart.screen import open_chart

        open_chart(self.avwap_app, self._symbol())

    def action_add_to_list(self) -> None:
        from storage.tickers import TickerListError, add_symbols
        from tui.screens.common.list_edit import NEW_LIST, AddToListPicker

        symbol = self._symbol()
        if symbol is None:
            self.notify("No match to add yet.", severity="warning")
            return
        user_dir = self.avwap_app.controller.user_dir

        def chosen(name: str | None) -> None:
            if not name or name == NEW_LIST:
                return
            try:
                tl = add_symbols(name, [symbol], user_dir)
            except TickerListError as e:
                self.notify(fmt.safe(e), title="List not changed", severity="error")
                return
            self.notify(fmt.safe(f"Added {symbol} to {name!r}: {fmt.plural(len(tl), 'symbol')}"))

        self.app.push_screen(AddToListPicker(symbol, None, user_dir), chosen)

    # -- the same expression as a backtest ----------------------------------------------
    def action_backtest(self) -> None:
        """The Backtests screen's New form: strategy ``expr``, this scan as the entry."""
        scan = next((x for x in self.avwap_app.controller.scans.book.scans
                     if x.name == self._selected), None)
        if scan is None:
            self.notify("No scan to backtest yet.", severity="warning")
            return
        if not check(scan.expression).ok:
            self.notify("Fix the scan's expression first.", severity="warning")
            return
        ctl = self.avwap_app.controller
        if not isinstance(scan.universe, str):
            universe: tuple[str, ...] = scan.universe
        elif scan.universe in UNIVERSES:
            universe = ctl.universe.symbols
        else:  # a list: its symbols now (it is followed as it is edited)
            from storage.tickers import TickerListError, load_list

            try:
                universe = load_list(scan.universe, ctl.user_dir).symbols
            except TickerListError as e:
                self.notify(fmt.safe(e), title="Scan universe", severity="error")
                return
        tickers = ",".join(universe)
        app = self.avwap_app

        def fill() -> None:
            from tui.screens.backtests.form import NewBacktestForm
            from tui.screens.backtests.screen import BacktestsScreen

            screen = app.screen
            if not isinstance(screen, BacktestsScreen):
                return
            screen.action_new()
            form = screen.query_one(NewBacktestForm)
            form.set_value("strategy", "expr")
            form.set_value("entry", scan.expression)
            form.set_value("tickers", tickers)

        app.switch_mode("backtests")
        app.call_after_refresh(fill)
