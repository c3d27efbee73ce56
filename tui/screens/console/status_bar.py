"""The status bar: feed state, exchange clock, replay speed, bars/s, lag, list.

Why the clock comes from the feed: the bar time is the market's time (a replay
of last Friday shows last Friday), and it keeps snapshot tests free of the wall
clock. Every field is a plain attribute so the tests can read it directly.

Why fields drop by priority: on an 80-column terminal the whole line does not
fit; the state, the clock and the list stay, then the speed and alerts, and the
feed kind, bars/s and lag go first. A field is shown whole or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from rich.text import Text
from textual.widgets import Static

from storage.feeds.base import FeedState
from storage.feeds.replay import speed_label
from tui import fmt

STATE_STYLE = {
    FeedState.LIVE: "bold #3fb950", FeedState.PAUSED: "bold #d29922",
    FeedState.BACKFILLING: "bold #58a6ff", FeedState.CONNECTING: "bold #58a6ff",
    FeedState.STALLED: "bold #d29922", FeedState.DOWN: "bold #f85149",
    FeedState.DONE: "bold #8b949e",
}


@dataclass(frozen=True)
class Status:
    state: FeedState = FeedState.CONNECTING
    clock: str = "--:--"
    speed: float | None = 1.0
    bars_per_s: float = 0.0
    lag_ms: float | None = None
    list_name: str = ""
    symbols: int = 0
    warm: float | None = None  # warm-up progress while backfilling
    #: New symbols warming behind a live list ("warming mini 40%"; "" when none).
    background: str = ""
    alerts: int = 0
    feed_kind: str = "replay"
    #: The feed's standing condition, said once: a pacing wait and its ETA, the
    #: next reconnect attempt, a terminal error ("" when there is none).
    notice: str = ""
    #: When the notice's wait ends (wall clock): the bar counts down to it.
    notice_until: float | None = None
    #: IB's broken data farms and since when ("" when all are OK).
    farm: str = ""


def eta_text(seconds: float) -> str:
    """A countdown: "42 s", "9 min 05 s" (never negative)."""
    left = max(0, round(seconds))
    if left < 90:
        return f"{left} s"
    return f"{left // 60} min {left % 60:02d} s"


class StatusBar(Static):
    """One line at the bottom of the console."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__("", id=id)
        self.status = Status()
        self.now = now

    def on_mount(self) -> None:
        self.set_interval(1.0, self._count_down)

    def _count_down(self) -> None:
        """A wait's ETA is recomputed every second, not frozen at the notice's time."""
        if self.status.notice and self.status.notice_until is not None:
            self.update(self.render_status(), layout=False)

    def set(self, **changes: object) -> None:
        new = replace(self.status, **changes)  # type: ignore[arg-type]
        if new != self.status:
            self.status = new
            self.update(self.render_status(), layout=False)  # fixed 1-line size

    def on_resize(self) -> None:
        self.update(self.render_status(), layout=False)

    def render_status(self, width: int | None = None) -> Text:
        """The line at ``width`` cells (default: the bar's): whole fields by priority."""
        s = self.status
        state = s.state.value.upper()
        if s.state is FeedState.BACKFILLING and s.warm is not None:
            state = f"WARMING {s.warm:.0%}"
        lag = "—" if s.lag_ms is None else f"{s.lag_ms:.0f} ms"
        # (priority, text, style) in display order; lower priority numbers stay longest.
        fields: list[tuple[int, str, str]] = [
            (0, f"● {state}", STATE_STYLE.get(s.state, "bold")),
            (6, f"  {s.feed_kind}", ""),
            (1, f"  {s.clock}", "bold"),
            (3, "" if s.feed_kind == "ib" else f"  speed {speed_label(s.speed)}", ""),
            (5, f"  {s.bars_per_s:,.0f} bars/s", ""),
            (7, f"  lag {lag}", ""),
            (2, f"  list {s.list_name} ({fmt.plural(s.symbols, 'symbol')})", ""),
        ]
        if s.background:
            fields.append((3, f"  {s.background}", "italic #58a6ff"))
        if s.alerts:
            fields.append((4, f"  {fmt.plural(s.alerts, 'alert')}", "bold #d29922"))
        notices: list[tuple[int, str, str]] = []
        if s.notice:
            eta = "" if s.notice_until is None else f" (~{eta_text(s.notice_until - self.now())})"
            notices.append((1, f"  {s.notice}{eta}", "bold #d29922"))
        if s.farm:
            notices.append((1, f"  {s.farm}", "bold #f85149"))
        fields[1:1] = notices
        gives_way = set(range(1, 1 + len(notices)))
        width = (self.content_size.width if width is None else width) or 10_000
        kept: set[int] = set()
        used = 0
        for k in sorted(range(len(fields)), key=lambda k: fields[k][0]):
            n = len(fields[k][1])
            if used + n > width and kept:
                if k in gives_way:
                    continue  # a long notice gives way; the toast said it too
                break  # strictly by priority: a later field never takes an earlier's place
            kept.add(k)
            used += n
        return Text.assemble(*((text, style) for k, (_, text, style) in enumerate(fields)
                               if k in kept))
