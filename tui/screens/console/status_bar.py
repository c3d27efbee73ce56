"""The status bar: feed state, exchange clock, replay speed, bars/s, lag, list.

Why the clock comes from the feed: the bar time is the market's time (a replay
of last Friday shows last Friday), and it keeps snapshot tests free of the wall
clock. Every field is a plain attribute so the tests can read it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.widgets import Static

from storage.feeds.base import FeedState
from storage.feeds.replay import speed_label

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
    alerts: int = 0
    feed_kind: str = "replay"


class StatusBar(Static):
    """One line at the bottom of the console."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.status = Status()

    def set(self, **changes: object) -> None:
        new = replace(self.status, **changes)  # type: ignore[arg-type]
        if new != self.status:
            self.status = new
            self.update(self.render_status(), layout=False)  # fixed 1-line size

    def render_status(self) -> Text:
        s = self.status
        state = s.state.value.upper()
        if s.state is FeedState.BACKFILLING and s.warm is not None:
            state = f"WARMING {s.warm:.0%}"
        lag = "—" if s.lag_ms is None else f"{s.lag_ms:.0f} ms"
        parts: list[tuple[str, str] | str] = [
            (f"● {state}", STATE_STYLE.get(s.state, "bold")),
            f"  {s.feed_kind}",
            ("  ", ""), (s.clock, "bold"),
            f"  speed {speed_label(s.speed)}",
            f"  {s.bars_per_s:,.0f} bars/s",
            f"  lag {lag}",
            f"  list {s.list_name} ({s.symbols})",
        ]
        if s.alerts:
            parts.append((f"  alerts {s.alerts}", "bold #d29922"))
        return Text.assemble(*parts)
