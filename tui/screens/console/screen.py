"""The console screen: watchlist, AVWAP pane, indicators, status bar.

The screen starts the console session through the app's runtime
(``tui.runtime.console.ConsoleSession``), asks it to switch lists, change the
replay speed or pause, and renders the messages it sends back; it owns no
thread and no task. Frames collapse under bursts (``can_replace``) and the panes
redraw at most every ``render_interval`` seconds: at max speed the screen shows
the newest minute ~10 times a second while the engine runs flat out. The chart
redraws at most every ``chart_interval`` seconds; a frame that falls inside the
interval arms a one-shot timer, so the chart always catches up with the last
minute shown (even when the feed stops right after it). The panes get view
models (``tui.views``) from the presenter, never the runtime's ``Frame``.

Why the screen sizes its panes itself: Textual CSS has no media queries, and a
trader's terminal may be 80×24. ``fit_layout`` gives the watchlist the columns
it can show while leaving the AVWAP pane ``RIGHT_MIN`` cells, and shares the
height between the AVWAP table, the chart and the indicators; the panes drop
whole columns by priority, never cutting a number.

Keys: the screen's own are the session's (speed, pause, step, jump, session
start), the lists' (next, pick) and the alerts book. What acts on the
highlighted symbol is the watchlist's, which posts the request
(``Watchlist.Asked``); the screen hands it to a composed helper (``FindLists``,
``AnchorKeys``, behind ``ConsoleHost``) or does it (the alert dialog, the chart).

Text from data (symbols, list names, errors, feed notices) is shown through
``fmt.safe`` so it never reads as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from storage.errors import AvwapError, TickerListError
from storage.feeds.base import FeedState
from storage.feeds.ib_farms import ALL_OK as ALL_FARMS_OK
from storage.feeds.replay import SPEEDS, speed_label
from storage.tickers import available_lists, cycle_next
from tui import fmt
from tui.alerts import AlertRule
from tui.messages import (
    AlertsFired,
    AnchorsChanged,
    FeedNotice,
    FeedStateChanged,
    PicksReady,
    SessionFailed,
    SessionReady,
    SnapshotReady,
    WarmProgress,
)
from tui.runtime.console import ConsoleSession
from tui.runtime.frames import Frame
from tui.screens.common.alert_dialog import AlertDialog
from tui.screens.common.alerts_list import AlertsScreen
from tui.screens.common.jump import JumpDialog
from tui.screens.common.list_picker import ListPicker
from tui.screens.console import present
from tui.screens.console.anchor_keys import AnchorKeys, custom_choices
from tui.screens.console.avwap_pane import AvwapChart, AvwapPane
from tui.screens.console.find_lists import FindLists
from tui.screens.console.indicators_pane import IndicatorsPane
from tui.screens.console.status_bar import StatusBar
from tui.screens.console.watchlist import COLUMNS, PRIORITY, Watchlist
from tui.views import ChartSeries

if TYPE_CHECKING:
    from tui.app import AvwapApp


def feed_notice(msg: FeedNotice) -> tuple[str, float | None] | None:
    """The status bar's standing notice for a feed notice and the time it counts down
    to (``None``: leave it as is).

    A pacing wait shows its reason and ETA, a dropped gateway the next attempt,
    symbols given up their next attempt, a terminal error stays; their end
    ("pacing_done", "restored", "reconnected", "resumed") clears it. The ETA is
    the status bar's countdown to ``until``, so it stays true for the whole wait.
    """
    if msg.kind in ("pacing", "gave_up"):
        return msg.text, msg.until
    if msg.kind == "retry":
        return "next attempt", msg.until
    if msg.kind == "terminal":
        return msg.text, None
    if msg.kind in ("pacing_done", "restored", "reconnected", "resumed"):
        return "", None
    return None

#: Cells the AVWAP pane keeps before the watchlist may widen (anchor, level, z, ±1σ).
RIGHT_MIN = 50
#: Rows above the indicators: table (8, 9 with a partial-anchor note), legend, chart.
ABOVE_INDICATORS = 17

NO_DATA = """\
The cache {path} holds no bars yet. To get some:

  avwap demo-data              a demo market for the curated list (no account needed)
  avwap sync                   minute bars from PostgreSQL (the config's [pg] section)
  avwap import-csv FILE ...    minute bars from CSV files
  avwap tui --feed ib          live minutes from TWS / IB Gateway

then start the console again (q quits)."""


class ConsoleScreen(Screen[None]):
    """The trader's all-day view."""

    #: The screen's own keys (see the module docstring); the watchlist's are in
    #: ``Watchlist.BINDINGS``.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "speed", "Speed", id="replay.speed"),
        Binding("space", "pause", "Pause", id="replay.pause"),
        Binding("full_stop", "step_minute", "Step", show=False, key_display=".",
                id="replay.step"),
        Binding("t", "replay_jump", "Jump to", show=False, id="replay.jump"),
        Binding("b", "session_start", "Session start", show=False, id="replay.start"),
        Binding("l", "next_list", "Next list", id="list.next"),
        Binding("L", "pick_list", "Lists", id="list.pick"),
        Binding("A", "show_alerts", "Alerts", show=False, id="alert.list"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.frame: Frame | None = None
        self.list_name: str | None = None
        self._pending: Frame | None = None
        self._flush_scheduled = False
        self._last_flush = -1e9
        self._last_chart = -1e9
        self._chart_symbol: str | None = None
        self._chart_timer: Timer | None = None
        self.session: ConsoleSession | None = None
        #: The newest model picks per symbol from ``PicksReady`` (frames carry their own).
        self._picks: dict[str, tuple[tuple[tuple[str, float, int], ...], str]] = {}
        #: The features composed in (``tui.screens.console.host``): find and list
        #: edits (the watchlist's ``/ + - N``), custom anchors (its ``K``).
        self.lists = FindLists(self)
        self.anchor_keys = AnchorKeys(self)

    @property
    def avwap_app(self) -> AvwapApp:
        return self.app  # type: ignore[return-value]

    # -- what the composed features use (``ConsoleHost``) ----------------------------
    def watchlist(self) -> Watchlist:
        return self.query_one(Watchlist)

    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    # -- what the watchlist's keys ask (``Watchlist.Asked``) ----------------------------
    def on_watchlist_find_asked(self, msg: Watchlist.FindAsked) -> None:
        self.lists.find(msg.current)

    def on_watchlist_add_asked(self, msg: Watchlist.AddAsked) -> None:
        self.lists.add_to_list(msg.symbol)

    def on_watchlist_remove_asked(self, msg: Watchlist.RemoveAsked) -> None:
        self.lists.remove_from_list(msg.symbol, msg.neighbour)

    def on_watchlist_new_list_asked(self, msg: Watchlist.NewListAsked) -> None:
        self.lists.new_list(msg.symbol)

    def on_watchlist_anchors_asked(self, msg: Watchlist.AnchorsAsked) -> None:
        self.anchor_keys.open_dialog(msg.symbol)

    def on_watchlist_alert_asked(self, msg: Watchlist.AlertAsked) -> None:
        self.add_alert(msg.symbol)

    def on_watchlist_chart_asked(self, msg: Watchlist.ChartAsked) -> None:
        """The symbol's candles (``tui.screens.chart``)."""
        from tui.screens.chart.screen import open_chart

        open_chart(self.avwap_app, msg.symbol)

    def on_anchors_changed(self, msg: AnchorsChanged) -> None:
        self.anchor_keys.changed(msg)

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Static(id="no-data")
            yield Watchlist(id="watchlist")
            with Vertical(id="right"):
                yield AvwapPane(id="avwap")
                yield IndicatorsPane(id="indicators")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        app = self.avwap_app
        self.query_one(StatusBar).set(feed_kind=app.feed_kind, speed=app.speed)
        self.query_one(Watchlist).focus()
        self.query_one("#no-data").display = False
        if app.controller.alerts.load_error:
            self.notify(fmt.safe(app.controller.alerts.load_error), title="Alerts",
                        severity="warning", timeout=8)
        self.fit_layout()
        self.session = app.runtime.start(
            ConsoleSession(app.controller, app.list_name, live=app.live, speed=app.speed),
            watcher=self)

    # -- session ---------------------------------------------------------------
    def switch_list(self, name: str) -> None:
        """Load list ``name`` (the session keeps the previous one if it fails)."""
        if self.session is not None:
            self.session.switch_list(name)

    def on_warm_progress(self, msg: WarmProgress) -> None:
        if msg.background:  # new symbols warming; the list on screen stays live
            self.query_one(StatusBar).set(background=f"warming {msg.list_name} "
                                                     f"{msg.fraction:.0%}")
            return
        changes: dict[str, object] = {"state": FeedState.BACKFILLING, "warm": msg.fraction}
        if msg.list_name:
            changes.update(list_name=msg.list_name, symbols=msg.symbols)
        self.query_one(StatusBar).set(**changes)

    def on_session_ready(self, msg: SessionReady) -> None:
        self.list_name = msg.list_name
        self.avwap_app.list_name = msg.list_name
        if msg.frame is not None:
            self.show_frame(msg.frame)
        if msg.missing:
            shown = ", ".join(msg.missing[:8]) + (" …" if len(msg.missing) > 8 else "")
            n = len(msg.missing)
            self.notify(fmt.safe(f"{fmt.plural(n, 'symbol')} of {msg.list_name!r} "
                                 f"{'has' if n == 1 else 'have'} no data in the cache: "
                                 f"{shown}"), severity="warning", timeout=8)
        feed = self.avwap_app.controller.feed  # a view change keeps the feed's state
        state = FeedState.LIVE if feed is None or feed.state in (
            FeedState.BACKFILLING, FeedState.CONNECTING) else feed.state
        self.query_one(StatusBar).set(state=state, warm=None, background="",
                                      list_name=msg.list_name, symbols=len(msg.symbols))

    def on_session_failed(self, msg: SessionFailed) -> None:
        self.lists.pending_cursor = None  # the symbol it waited for will not come
        self.query_one(StatusBar).set(background="")
        ctl = self.avwap_app.controller
        if ctl.engine is None and msg.no_data:
            self.show_no_data()
            return
        self.notify(fmt.safe(msg.error), title="Cannot switch list", severity="error",
                    timeout=10)
        if ctl.engine is None:
            self.query_one(StatusBar).set(state=FeedState.DOWN, warm=None)
        elif ctl.feed is not None:
            self.query_one(StatusBar).set(state=ctl.feed.state, warm=None,
                                          list_name=self.list_name or "")

    def show_no_data(self) -> None:
        """The empty-cache page: how to get data, in place of the panes."""
        page = self.query_one("#no-data", Static)
        page.update(fmt.safe(NO_DATA.format(path=self.avwap_app.controller.cache.path)))
        page.display = True
        self.query_one(Watchlist).display = False
        self.query_one("#right").display = False
        self.query_one(StatusBar).set(state=FeedState.DOWN, warm=None)

    def on_feed_state_changed(self, msg: FeedStateChanged) -> None:
        status = self.query_one(StatusBar)
        if msg.state is FeedState.DONE and status.status.state is not FeedState.DONE:
            ctl = self.avwap_app.controller
            if ctl.frame is not None:
                self.show_frame(ctl.frame)  # the last minute, whatever the throttle holds
            self.notify("Replay finished: the last minute of the cache is on screen.")
        if msg.state in (FeedState.DOWN, FeedState.STALLED):
            status.set(state=msg.state, lag_ms=None)  # no bars: no lag to speak of
        else:
            status.set(state=msg.state)

    def on_feed_notice(self, msg: FeedNotice) -> None:
        notice = feed_notice(msg)
        if notice is not None:
            self.query_one(StatusBar).set(notice=notice[0], notice_until=notice[1])
        if msg.kind == "farm":  # one line while a farm is broken (floods collapse in the feed)
            self.query_one(StatusBar).set(farm="" if msg.text == ALL_FARMS_OK else msg.text)
        if msg.level in ("warning", "error"):
            self.notify(fmt.safe(msg.text), title="Feed", timeout=8,
                        severity="error" if msg.level == "error" else "warning")

    # -- rendering -------------------------------------------------------------
    def on_snapshot_ready(self, msg: SnapshotReady) -> None:
        self._pending = msg.frame
        if self._flush_scheduled:
            return
        wait = self._last_flush + self.avwap_app.render_interval - self.avwap_app.clock()
        self._flush_scheduled = True
        if wait <= 0:
            self.call_later(self._flush)
        else:
            self.set_timer(wait, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        frame, self._pending = self._pending, None
        if frame is not None and (self.frame is None or frame.seq > self.frame.seq
                                  or frame.snapshot.symbols != self.frame.snapshot.symbols):
            self.show_frame(frame)

    def show_frame(self, frame: Frame) -> None:
        """Render one frame on every pane now (the tests call this directly)."""
        app = self.avwap_app
        now = app.clock()
        self._last_flush = now
        self.frame = frame
        wl = self.query_one(Watchlist)
        wl.update_rows(present.watch_rows(frame))
        self.lists.apply_pending_cursor(wl)  # a found or just-added symbol, once here
        self.fit_layout()
        self._show_symbol(wl.cursor_symbol)
        # The last minute with a real bar: a replay past the cache's last bar steps
        # empty minutes to the session's end, which must not move the clock.
        shown_ts = frame.last_bar_ts if frame.last_bar_ts is not None else frame.snapshot.ts
        self.query_one(StatusBar).set(
            # The feed's state is the event loop's own (the feed runs there).
            state=feed.state if (feed := app.controller.feed) is not None
            else FeedState.CONNECTING,
            clock=fmt.exchange_time(shown_ts),
            bars_per_s=frame.bars_per_s,
            lag_ms=max(0.0, (now - frame.received_at) * 1000.0),
            list_name=self.list_name or app.list_name,
            symbols=len(frame.snapshot.symbols),
            alerts=len(app.controller.alerts.rules),  # the UI thread's own (locked) book
            speed=app.speed,
        )

    # -- layout ----------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self.fit_layout()

    def fit_layout(self) -> None:
        """Size the watchlist and the indicators for the terminal (see the module docstring)."""
        width, height = self.size
        if not width or not height:
            return
        wl = self.query_one(Watchlist)
        fixed = wl.width_of(tuple(c for c in COLUMNS if c.key in PRIORITY[:3]))
        # + the border and the 1-cell scrollbar, so the columns' cells are all content.
        wl_width = max(fixed, min(wl.natural_width(), width - RIGHT_MIN - 2)) + 2
        if wl.styles.width is None or wl.styles.width.value != wl_width:
            wl.styles.width = wl_width
        body = height - 2  # status bar and footer
        ind = max(5, min(14, body - ABOVE_INDICATORS))
        pane = self.query_one(IndicatorsPane)
        if pane.styles.height is None or pane.styles.height.value != ind:
            pane.styles.height = ind

    def _show_symbol(self, symbol: str | None) -> None:
        if symbol is None or self.frame is None:
            return
        app = self.avwap_app
        now = app.clock()
        chart = (symbol != self._chart_symbol or app.chart_interval <= 0
                 or now - self._last_chart >= app.chart_interval)
        if chart:
            self._last_chart, self._chart_symbol = now, symbol
        elif self._chart_timer is None:
            wait = max(0.0, self._last_chart + app.chart_interval - now)
            self._chart_timer = self.set_timer(wait, self._chart_due)
        series = ChartSeries(symbol, app.controller.chart_series(symbol)) if chart else None
        self.query_one(AvwapPane).show(symbol, present.quote(self.frame, symbol), series)
        self.query_one(IndicatorsPane).show(
            symbol, present.indicator_values(self.frame, symbol, self._picks.get(symbol)))

    def _chart_due(self) -> None:
        """The throttled chart redraw: today's series of the highlighted symbol."""
        self._chart_timer = None
        symbol = self.query_one(Watchlist).cursor_symbol
        if symbol is None or self.frame is None or symbol not in self.frame.snapshot.symbols:
            return
        app = self.avwap_app
        self._last_chart, self._chart_symbol = app.clock(), symbol
        self.query_one(AvwapChart).show(ChartSeries(symbol, app.controller.chart_series(symbol)))

    @on(Watchlist.Highlighted)
    def _highlighted(self, msg: Watchlist.Highlighted) -> None:
        self._show_symbol(msg.symbol)
        if self.session is not None:
            self.session.request_picks(msg.symbol)  # the model's picks for it: PicksReady
            wl = self.query_one(Watchlist)
            top = int(wl.scroll_offset.y)
            rows = range(top, min(len(wl.symbols), top + max(1, wl.size.height - 1)))
            self.session.prioritize([wl.row_symbol(r) for r in rows])  # IB: on-screen first

    def on_picks_ready(self, msg: PicksReady) -> None:
        """The model's picks arrived (highlight change or a model made active)."""
        if not msg.symbol:  # no symbol: a model change with nothing highlighted yet
            self._picks.clear()
            return
        self._picks = {msg.symbol: (msg.picks, msg.source)}
        if msg.symbol == self.query_one(Watchlist).cursor_symbol and self.frame is not None:
            view = present.indicator_values(self.frame, msg.symbol, self._picks[msg.symbol])
            self.query_one(IndicatorsPane).show(msg.symbol, view)

    def on_alerts_fired(self, msg: AlertsFired) -> None:
        from tui.notify import desktop_notify

        for hit in msg.hits:
            self.notify(fmt.safe(hit.message), title="Alert", severity="warning", timeout=10)
            desktop_notify(self.app, self.avwap_app.desktop_alerts, "AVWAP alert", hit.message)
        self.app.bell()
        self.query_one(StatusBar).set(alerts=len(self.avwap_app.controller.alerts.rules))

    # -- actions ---------------------------------------------------------------
    def set_speed(self, speed: float | None) -> None:
        app = self.avwap_app
        if app.feed_kind == "ib":
            self.notify("Live bars arrive in real time: no replay speed.", timeout=3)
            return
        if self.session is not None:
            self.session.set_speed(speed)
        app.speed = speed
        self.query_one(StatusBar).set(speed=speed)
        self.notify(f"Replay speed {speed_label(speed)}", timeout=2)

    def action_speed(self) -> None:
        speeds = list(SPEEDS)
        cur = self.avwap_app.speed
        i = speeds.index(cur) if cur in speeds else -1
        self.set_speed(speeds[(i + 1) % len(speeds)])

    def action_pause(self) -> None:
        state = self.session.toggle_pause() if self.session is not None else None
        if state is not None:
            self.query_one(StatusBar).set(state=state)

    # -- replay navigation -------------------------------------------------------
    def _replay_only(self) -> bool:
        if self.session is None or self.avwap_app.feed_kind == "ib" or self.frame is None:
            self.notify("Live bars arrive in real time: nothing to step or rewind."
                        if self.avwap_app.feed_kind == "ib" else "The replay has not started.",
                        timeout=3)
            return False
        return True

    def action_step_minute(self) -> None:
        """One replayed minute (pauses the replay first)."""
        if self._replay_only():
            self.run_worker(self._step_minute(), group="replay-nav", exclusive=True)

    async def _step_minute(self) -> None:
        assert self.session is not None
        if await self.session.step_one() is None:
            self.notify("The replay is over.", timeout=3)
        self.query_one(StatusBar).set(state=FeedState.PAUSED)

    def action_session_start(self) -> None:
        """Back to the first minute of the session on screen (engines restored, no warm-up)."""
        if self._replay_only():
            self.run_worker(self._navigate(None), group="replay-nav", exclusive=True)

    def action_replay_jump(self) -> None:
        if not self._replay_only():
            return
        assert self.frame is not None

        def chosen(text: str | None) -> None:
            if text:
                self.run_worker(self._navigate(text), group="replay-nav", exclusive=True)

        self.app.push_screen(JumpDialog(fmt.exchange_time(self.frame.snapshot.ts)), chosen)

    async def _navigate(self, text: str | None) -> None:
        from tui.runtime.replay_nav import parse_jump

        session, frame = self.session, self.frame
        assert session is not None and frame is not None
        try:
            if text is None:
                shown = await session.back_to_session_start()
            else:
                shown = await session.jump(parse_jump(text, frame.snapshot.ts))
        except AvwapError as e:
            self.notify(fmt.safe(e), title="Replay", severity="error", timeout=8)
            return
        if shown is not None:
            self.show_frame(shown)
            self.notify(f"Replay at {fmt.exchange_time(shown.snapshot.ts)}", timeout=3)

    def action_next_list(self) -> None:
        app = self.avwap_app
        try:
            name = cycle_next(self.list_name, list(available_lists(app.controller.user_dir)))
        except TickerListError as e:
            self.notify(fmt.safe(e), severity="error")
            return
        self.notify(fmt.safe(f"Switching to list {name!r}…"), timeout=2)
        self.switch_list(name)

    def action_pick_list(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.switch_list(name)

        self.app.push_screen(ListPicker(self.list_name, self.avwap_app.controller.user_dir),
                             chosen)

    def add_alert(self, symbol: str | None) -> None:
        """The alert dialog for ``symbol`` (the watchlist's ``a``)."""
        if symbol is None or self.frame is None:
            self.notify("No symbol to set an alert on yet.", severity="warning")
            return
        levels = self.frame.snapshot.row(symbol)

        def chosen(rule: AlertRule | None) -> None:
            if rule is not None:
                self.avwap_app.controller.alerts.add(rule)
                self.query_one(StatusBar).set(alerts=len(self.avwap_app.controller.alerts.rules))
                self.notify(fmt.safe(f"Alert set: {rule.label}"), timeout=3)

        self.app.push_screen(AlertDialog(symbol, levels, custom_choices(self.frame, symbol)),
                             chosen)

    def action_show_alerts(self) -> None:
        def closed(_: None) -> None:
            self.query_one(StatusBar).set(alerts=len(self.avwap_app.controller.alerts.rules))

        self.app.push_screen(AlertsScreen(self.avwap_app.controller.alerts), closed)
