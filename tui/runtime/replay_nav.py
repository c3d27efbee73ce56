"""Replay navigation: where a jump goes, and taking the universe there.

Why a module: "jump to a time" takes what a trader types — ``10:45`` (that
time of the replay's current day, exchange time), ``2025-11-20 10:45`` or just
``2025-11-20`` (that day's open) — and the console, its tests and its help must
read it the same way. Times are New York wall time, as the status bar shows.

``ReplayNav`` is the MLX-thread half of a jump: the session on screen, the
session a jump back restores (refused before anything changes when its
checkpoints do not exist), putting every group back there, and stepping the
replay's minutes without pacing up to a target. The console session
(``tui.runtime.console``) stops and restarts the feed around it; the console
screen only reads the key or the typed time and shows the result.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from storage.errors import AvwapError
from storage.feeds.base import Feed
from storage.types import BarBatch, as_dt64

if TYPE_CHECKING:
    from tui.runtime.frames import Frame
    from tui.runtime.universe import Universe

EXCHANGE_TZ = ZoneInfo("America/New_York")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}))?$")


class JumpError(AvwapError):
    """A jump target the console cannot read or reach (one line for the user)."""


def exchange_date(ts: np.datetime64) -> dt.date:
    """The New York date of a UTC minute."""
    utc = as_dt64(ts).astype("datetime64[s]").astype(object).replace(tzinfo=dt.UTC)
    return utc.astimezone(EXCHANGE_TZ).date()


def parse_jump(text: str, now: np.datetime64, open_time: dt.time = dt.time(9, 30)
               ) -> np.datetime64:
    """``text`` as a UTC minute; ``now`` (UTC) gives the day of a bare ``HH:MM``."""
    text = text.strip()
    if m := _TIME.match(text):
        day, hh, mm = exchange_date(now), int(m[1]), int(m[2])
    elif m := _DATE.match(text):
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as e:
            raise JumpError(f"{text!r} is not a date: {e}") from None
        hh, mm = (int(m[4]), int(m[5])) if m[4] else (open_time.hour, open_time.minute)
    else:
        raise JumpError(f"{text!r} is not a time: type HH:MM, YYYY-MM-DD or "
                        "YYYY-MM-DD HH:MM (exchange time)")
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise JumpError(f"{text!r} is not a time of day")
    local = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=EXCHANGE_TZ)
    utc = local.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(utc, "m")


class ReplayNav:
    """Step, rewind and jump a replay's universe (blocking: the MLX thread).

    ``feed`` and ``frame`` read the controller's current feed and frame;
    ``step`` is the controller's own minute step (so frames, alerts and anchors
    follow the replay as they follow live minutes).
    """

    def __init__(self, universe: Universe, *, feed: Callable[[], Feed | None],
                 frame: Callable[[], Frame | None],
                 step: Callable[[BarBatch], Frame]) -> None:
        self.universe = universe
        self._feed, self._frame, self._step = feed, frame, step

    def session_start(self) -> np.datetime64 | None:
        """The first minute of the session last stepped (None before any step)."""
        u = self.universe
        t = u.now_index()
        if t < 0:
            return None
        g0 = u.groups[0]
        sess = g0.panel.segments["session"]
        first = int(np.searchsorted(sess[: t + 1], sess[t], side="left")) if sess[t] >= 0 else t
        return as_dt64(g0.panel.ts[first])

    def session_to_rewind(self, ts: np.datetime64) -> int:
        """The session ``rewind_to(ts)`` goes back to; ``JumpError`` when its engines'
        checkpoints do not exist (a session before the replay: warmed, not replayed)."""
        groups = self.universe.groups
        g0 = groups[0]
        segs = g0.panel.segments["session"]
        sess = int(segs[min(g0.index_at(ts), len(g0.panel.ts) - 1)])
        if any(sess not in g.starts for g in groups):
            from tui.fmt import exchange_time

            since = "" if not g0.starts else (
                f" ({exchange_time(as_dt64(g0.panel.ts[int(np.argmax(segs == min(g0.starts)))]))})")
            raise JumpError(f"{exchange_time(ts)} is before the replay's first session{since}: "
                            "its minutes were warmed, not replayed")
        return sess

    def rewind_to(self, ts: np.datetime64) -> np.datetime64:
        """Put every group back to just before the session holding ``ts`` began.

        Returns that session's first minute (the replay delivers it next); raises
        as ``session_to_rewind`` does, before changing anything.
        """
        u = self.universe
        sess = self.session_to_rewind(ts)
        for g in u.groups:
            g.rewind(sess)
        u.now, u.last_bar_ts = None, None
        g0 = u.groups[0]
        return as_dt64(g0.panel.ts[int(np.argmax(g0.panel.segments["session"] == sess))])

    def step_until(self, target: np.datetime64, minutes: int = 64) -> tuple[Frame | None, bool]:
        """Step the replay's minutes up to and including ``target``, at most ``minutes``
        of them now; returns the last frame and whether ``target`` is reached."""
        feed = self._feed()
        replay = feed.replay if feed is not None else None
        if replay is None:
            return self._frame(), True
        frame = None
        for _ in range(minutes):
            nxt = replay.next_ts
            if nxt is None or nxt > target:
                return frame or self._frame(), True
            batch = replay.next_batch()
            if batch is None:
                return frame or self._frame(), True
            frame = self._step(batch)
        return frame or self._frame(), False

    def step_next(self) -> Frame | None:
        """Pull the next minute from a replay without pacing and step it (tests, bench)."""
        feed = self._feed()
        replay = feed.replay if feed is not None else None
        batch = replay.next_batch() if replay is not None else None
        return None if batch is None else self._step(batch)
