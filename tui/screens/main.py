"""The console screen: watchlist, AVWAP pane, indicators, status bar, and the feed loop.

Why the loop lives here: the screen owns what it shows. Every blocking call
(loading a list, warming, each engine step) runs on one dedicated thread (the
session executor), so they never overlap and the UI thread never waits; the
async feed worker just paces, hands batches to that thread and posts
``SnapshotReady``. Frames collapse under bursts (``can_replace``) and the
panes redraw at most every ``render_interval`` seconds: at max speed the screen
shows the newest minute ~10 times a second while the engine runs flat out.
Garbage collection: a warmed session holds ~110k long-lived Python objects
(Textual's DOM and caches, the registry, calendars), and a full (gen-2)
collection over them took 70–120 ms on a busy 2-core machine, every ~13 frames
at max speed — the worst frames the console had. Once a list is warmed the
screen collects once and freezes those objects (``gc.freeze``) so later
collections only scan what the replay allocates; a list switch unfreezes first
so the previous session's objects can be freed.

The chart redraws at most every ``chart_interval`` seconds; a frame that falls
inside the interval arms a one-shot timer, so the chart always catches up with
the last minute shown (even when the feed stops right after it).
"""

from __future__ import annotations

import asyncio
import gc
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from storage.errors import AvwapError, TickerListError
from storage.feeds.base import FeedState
from storage.feeds.replay import SPEEDS, speed_label
from storage.tickers import available_lists, cycle_next
from tui import fmt
from tui.alerts import AlertRule
from tui.controller import Frame
from tui.messages import AlertsFired, SessionFailed, SessionReady, SnapshotReady, WarmProgress
from tui.screens.alert_dialog import AlertDialog
from tui.screens.alerts_list import AlertsScreen
from tui.screens.list_picker import ListPicker
from tui.widgets.avwap_pane import AvwapChart, AvwapPane
from tui.widgets.indicators_pane import IndicatorsPane
from tui.widgets.status_bar import StatusBar
from tui.widgets.watchlist import Watchlist

if TYPE_CHECKING:
    from tui.app import AvwapApp


class MainScreen(Screen[None]):
    """The trader's all-day view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "sort_next", "Sort", id="sort.next"),
        Binding("O", "sort_reverse", "Reverse", show=False, id="sort.reverse"),
        Binding("s", "speed", "Speed", id="replay.speed"),
        Binding("space", "pause", "Pause", id="replay.pause"),
        Binding("l", "next_list", "Next list", id="list.next"),
        Binding("L", "pick_list", "Lists", id="list.pick"),
        Binding("a", "add_alert", "Alert", id="alert.add"),
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
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avwap-session")

    @property
    def avwap_app(self) -> AvwapApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
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
        self.switch_list(app.list_name, first=True)

    def on_unmount(self) -> None:
        # Stop a warm-up, then wait for the session thread, so the cache is not
        # closed under a DuckDB call it is making. (The thread's native teardown
        # can still outlive this join; ``tui.cli.entry`` keeps it from racing
        # interpreter shutdown.)
        self.avwap_app.controller.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()  # let interpreter shutdown free the session like any other heap

    # -- session ---------------------------------------------------------------
    async def run_blocking(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` on the session thread (MLX state lives on one thread only)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args))

    @work(exclusive=True, group="session", exit_on_error=False)
    async def switch_list(self, name: str, first: bool = False) -> None:
        """Load list ``name``, stop the feed, warm the engine, restart the feed."""
        ctl = self.avwap_app.controller
        try:
            tl, present, missing = await self.run_blocking(ctl.resolve_list, name)
        except AvwapError as e:
            self.post_message(SessionFailed(str(e)))
            return
        resume_at = None
        if self.frame is not None:
            resume_at = self.frame.snapshot.ts + np.timedelta64(1, "m")
        self.workers.cancel_group(self, "feed")
        gc.unfreeze()  # the previous session's objects become collectable again
        status = self.query_one(StatusBar)
        status.set(state=FeedState.BACKFILLING, warm=0.0, list_name=tl.name, symbols=len(present))

        def progress(f: float) -> None:
            self.post_message(WarmProgress(f))

        try:
            frame = await self.run_blocking(
                lambda: ctl.prepare(tl, present, missing, resume_at=resume_at, progress=progress)
            )
        except AvwapError as e:
            self.post_message(SessionFailed(str(e)))
            return
        # One full collection now (the screen shows warm-up), then keep the
        # session's long-lived objects out of every later collection.
        gc.collect()
        gc.freeze()
        self.list_name = tl.name
        self.avwap_app.list_name = tl.name
        if frame is not None:
            self.show_frame(frame)
        self.post_message(SessionReady(tl.name, present, missing))

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def run_feed(self) -> None:
        ctl = self.avwap_app.controller
        feed = ctl.feed
        feed.speed = self.avwap_app.speed
        await feed.start()
        async for batch in feed.batches():
            frame = await self.run_blocking(ctl.step, batch)
            self.post_message(SnapshotReady(frame))
            if frame.hits:
                self.post_message(AlertsFired(frame.hits))
        if ctl.frame is not None:
            self.show_frame(ctl.frame)  # the last minute, whatever the throttle holds
        self.query_one(StatusBar).set(state=feed.state)
        if feed.state is FeedState.DONE:
            self.notify("Replay finished: the last minute of the cache is on screen.")

    def on_session_ready(self, msg: SessionReady) -> None:
        if msg.missing:
            shown = ", ".join(msg.missing[:8]) + (" …" if len(msg.missing) > 8 else "")
            self.notify(f"{len(msg.missing)} symbols of {msg.list_name!r} have no data in "
                        f"the cache: {shown}", severity="warning", timeout=8)
        self.query_one(StatusBar).set(state=FeedState.LIVE, warm=None)
        if self.avwap_app.live:
            self.run_feed()

    def on_session_failed(self, msg: SessionFailed) -> None:
        self.notify(msg.error, title="Cannot switch list", severity="error", timeout=10)
        ctl = self.avwap_app.controller
        if ctl.engine is None:
            self.query_one(StatusBar).set(state=FeedState.DOWN, warm=None)
        elif ctl.feed is not None and self.avwap_app.live:
            self.query_one(StatusBar).set(state=ctl.feed.state, warm=None,
                                          list_name=self.list_name or "")
            self.run_feed()  # exclusive: restarts the previous list's feed if it stopped

    def on_warm_progress(self, msg: WarmProgress) -> None:
        self.query_one(StatusBar).set(state=FeedState.BACKFILLING, warm=msg.fraction)

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
        wl.update_frame(frame)
        self._show_symbol(wl.cursor_symbol)
        ctl = app.controller
        self.query_one(StatusBar).set(
            state=ctl.feed.state if ctl.feed is not None else FeedState.CONNECTING,
            clock=fmt.exchange_time(frame.snapshot.ts),
            bars_per_s=ctl.bars_per_second(),
            lag_ms=max(0.0, (now - frame.received_at) * 1000.0),
            list_name=self.list_name or app.list_name,
            symbols=len(frame.snapshot.symbols),
            alerts=len(ctl.alerts.rules),
            speed=app.speed,
        )

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
        series = app.controller.chart_series(symbol) if chart else {}
        self.query_one(AvwapPane).show(symbol, self.frame, series, chart=chart)
        self.query_one(IndicatorsPane).show(symbol, self.frame)

    def _chart_due(self) -> None:
        """The throttled chart redraw: today's series of the highlighted symbol."""
        self._chart_timer = None
        symbol = self.query_one(Watchlist).cursor_symbol
        if symbol is None or self.frame is None or symbol not in self.frame.snapshot.symbols:
            return
        app = self.avwap_app
        self._last_chart, self._chart_symbol = app.clock(), symbol
        self.query_one(AvwapChart).show(symbol, app.controller.chart_series(symbol))

    @on(Watchlist.Highlighted)
    def _highlighted(self, msg: Watchlist.Highlighted) -> None:
        self._show_symbol(msg.symbol)

    def on_alerts_fired(self, msg: AlertsFired) -> None:
        for hit in msg.hits:
            self.notify(hit.message, title="Alert", severity="warning", timeout=10)
        self.app.bell()
        self.query_one(StatusBar).set(alerts=len(self.avwap_app.controller.alerts.rules))

    # -- actions ---------------------------------------------------------------
    def action_sort_next(self) -> None:
        self.query_one(Watchlist).cycle_sort()

    def action_sort_reverse(self) -> None:
        self.query_one(Watchlist).toggle_reverse()

    def set_speed(self, speed: float | None) -> None:
        app = self.avwap_app
        app.speed = speed
        if app.controller.feed is not None:
            app.controller.feed.speed = speed
        self.query_one(StatusBar).set(speed=speed)
        self.notify(f"Replay speed {speed_label(speed)}", timeout=2)

    def action_speed(self) -> None:
        speeds = list(SPEEDS)
        cur = self.avwap_app.speed
        i = speeds.index(cur) if cur in speeds else -1
        self.set_speed(speeds[(i + 1) % len(speeds)])

    def action_pause(self) -> None:
        feed = self.avwap_app.controller.feed
        if feed is None or not hasattr(feed, "pause"):
            return
        if feed.state is FeedState.PAUSED:
            feed.resume()
        else:
            feed.pause()
        self.query_one(StatusBar).set(state=feed.state)

    def action_next_list(self) -> None:
        app = self.avwap_app
        try:
            name = cycle_next(self.list_name, list(available_lists(app.controller.user_dir)))
        except TickerListError as e:
            self.notify(str(e), severity="error")
            return
        self.notify(f"Switching to list {name!r}…", timeout=2)
        self.switch_list(name)

    def action_pick_list(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.switch_list(name)

        self.app.push_screen(ListPicker(self.list_name, self.avwap_app.controller.user_dir),
                             chosen)

    def action_add_alert(self) -> None:
        symbol = self.query_one(Watchlist).cursor_symbol
        if symbol is None or self.frame is None:
            self.notify("No symbol to set an alert on yet.", severity="warning")
            return
        levels = self.frame.snapshot.row(symbol)

        def chosen(rule: AlertRule | None) -> None:
            if rule is not None:
                self.avwap_app.controller.alerts.add(rule)
                self.query_one(StatusBar).set(alerts=len(self.avwap_app.controller.alerts.rules))
                self.notify(f"Alert set: {rule.label}", timeout=3)

        self.app.push_screen(AlertDialog(symbol, levels), chosen)

    def action_show_alerts(self) -> None:
        def closed(_: None) -> None:
            self.query_one(StatusBar).set(alerts=len(self.avwap_app.controller.alerts.rules))

        self.app.push_screen(AlertsScreen(self.avwap_app.controller.alerts), closed)
