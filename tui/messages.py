"""Typed messages from the runtime's jobs to the screens that watch them.

Why dataclasses with docstrings: each message is a small contract between a
job (the live session may post hundreds a second at max replay speed) and the
screen. ``SnapshotReady``, ``WarmProgress`` and ``JobProgress`` collapse under
bursts (``can_replace``): only the newest matters. Alerts, errors and job ends
never collapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from storage.events import Event
from storage.feeds.base import FeedState

if TYPE_CHECKING:
    from tui.alerts import AlertHit
    from tui.runtime.frames import Frame
    from tui.runtime.scans import ScanHit


@dataclass
class SnapshotReady(Message):
    """The engine stepped a minute; ``frame`` is what the panes show."""

    frame: Frame

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


@dataclass
class AlertsFired(Message):
    """One or more alert rules crossed their band, or symbols entered alerting scans,
    this minute (never collapsed); each hit's ``message`` is what the console shows."""

    hits: tuple[AlertHit | ScanHit, ...]


@dataclass
class WarmProgress(Message):
    """Warm-up progress in [0, 1] of list ``list_name`` (``symbols`` with data)."""

    fraction: float
    list_name: str = ""
    symbols: int = 0
    #: New symbols warming while the current list stays live (not a list reload).
    background: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WarmProgress)


@dataclass
class SessionReady(Message):
    """A ticker list is loaded and the engine warmed; the feed starts next."""

    list_name: str
    symbols: tuple[str, ...]
    missing: tuple[str, ...]
    frame: Frame | None = None  # the last warmed minute, if the history has one


@dataclass
class SessionFailed(Message):
    """Loading a list or warming failed; ``error`` is a user-facing sentence.

    ``no_data``: nothing is loaded and the cache holds no bar at all (the
    screen shows how to get data instead of the panes). The session asks the
    cache off the UI thread, so the screen runs no query.
    """

    error: str
    no_data: bool = False


@dataclass
class FeedNotice(Message):
    """A notice from the feed (``level`` info | warning | error).

    ``kind`` and ``until`` are the feed's tags (``storage.feeds.base.FeedEvent``):
    a pacing wait and when it ends, the next reconnect attempt, a symbol whose
    history arrived late …
    """

    level: str
    text: str
    kind: str = ""
    until: float | None = None


@dataclass
class FeedStateChanged(Message):
    """The feed's state changed (IB: connecting, backfilling, live, stalled, down)."""

    state: FeedState

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FeedStateChanged)


@dataclass
class JobStarted(Message):
    """The runtime started job ``name`` (``kind``: console, chunked, process)."""

    name: str
    kind: str


@dataclass
class JobProgress(Message):
    """A job's progress event, typed (``storage.events``): a child's line decoded by the
    runtime's job (``ProcessJob``), or what a job reports itself."""

    name: str
    event: Event

    def can_replace(self, message: Message) -> bool:
        # Only plain progress collapses; epoch ends, evaluations and errors never do.
        return (isinstance(message, JobProgress) and message.name == self.name
                and self.event.collapses and type(message.event) is type(self.event))


@dataclass
class JobFinished(Message):
    """Job ``name`` ended: ``state`` is done | failed | cancelled; ``error`` one line."""

    name: str
    kind: str
    state: str
    error: str | None = None


@dataclass
class PicksReady(Message):
    """The active model's picks for ``symbol`` now (the highlighted symbol changed,
    or a model was made active); ``source`` says which model, or why none."""

    symbol: str
    picks: tuple[tuple[str, float, int], ...]
    source: str


@dataclass
class AnchorsChanged(Message):
    """A custom anchor of ``symbol`` was added or deleted (``ConsoleSession.add_anchor``,
    ``delete_anchor``); ``frame`` is the current minute with the anchors' values now,
    so the panes show the change without waiting for the next minute (never collapsed)."""

    symbol: str
    frame: Frame | None = None
