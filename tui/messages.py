"""Typed messages from the session worker to the screen.

Why dataclasses with docstrings: each message is a small contract between the
worker (which may post hundreds a second at max replay speed) and the panes.
``SnapshotReady`` collapses under bursts (``can_replace``): only the newest
minute matters to the screen. Alerts and errors never collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.alerts import AlertHit
from tui.controller import Frame


@dataclass
class SnapshotReady(Message):
    """The engine stepped a minute; ``frame`` is what the panes show."""

    frame: Frame

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


@dataclass
class AlertsFired(Message):
    """One or more alert rules crossed their band this minute (never collapsed)."""

    hits: tuple[AlertHit, ...]


@dataclass
class WarmProgress(Message):
    """Warm-up progress in [0, 1] while the engine replays the history."""

    fraction: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WarmProgress)


@dataclass
class SessionReady(Message):
    """A ticker list is loaded and the engine warmed; the feed starts next."""

    list_name: str
    symbols: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass
class SessionFailed(Message):
    """Loading a list or warming failed; ``error`` is a user-facing sentence."""

    error: str


@dataclass
class FeedNotice(Message):
    """A notice from the feed (``level`` info | warning | error)."""

    level: str
    text: str
