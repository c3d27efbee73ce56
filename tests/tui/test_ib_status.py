"""Issue 31, items 3-5 on the status bar: a wait's ETA counts down, IB's farms in one
line, and no replay speed for the live IB feed (the bar's clock is injected)."""

from __future__ import annotations

from storage.feeds.base import FeedState
from tui.messages import FeedNotice
from tui.screens.console.screen import feed_notice
from tui.screens.console.status_bar import Status, StatusBar


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_a_waits_eta_counts_down() -> None:
    clock = Clock()
    bar = StatusBar(now=clock)
    text = "IB pacing: 2 symbol(s) wait until 10:41:05 for IB's limit (60 requests per 600 s)"
    notice = feed_notice(FeedNotice("warning", text, "pacing", clock.t + 600))
    assert notice == (text, clock.t + 600)
    bar.status = Status(state=FeedState.LIVE, notice=notice[0], notice_until=notice[1])
    assert f"{text} (~10 min 00 s)" in bar.render_status(300).plain
    clock.t += 288
    assert "(~5 min 12 s)" in bar.render_status(300).plain
    clock.t += 400
    assert "(~0 s)" in bar.render_status(300).plain
    assert feed_notice(FeedNotice("info", "done", "pacing_done")) == ("", None)
    gave_up = FeedNotice("warning", "gave up on TSLA …; next attempt at 10:31:05", "gave_up",
                         clock.t + 60)
    assert feed_notice(gave_up) == (gave_up.text, gave_up.until)
    assert feed_notice(FeedNotice("info", "TSLA streams again", "resumed")) == ("", None)


def test_ib_feed_shows_no_replay_speed_and_one_farm_line() -> None:
    bar = StatusBar()
    bar.status = Status(state=FeedState.LIVE, feed_kind="replay", speed=None)
    assert "speed max" in bar.render_status(300).plain
    farm = "IB farm broken: usfarm (market data, IB 2103) since 10:31:05"
    bar.status = Status(state=FeedState.LIVE, feed_kind="ib", speed=None, farm=farm)
    text = bar.render_status(300).plain
    assert "speed" not in text and text.count(farm) == 1
    assert bar.render_status(40).plain.startswith("● LIVE")  # the farm line gives way
