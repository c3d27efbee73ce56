"""The BarFeed interface: where live (IB) and replayed bars come from.

A feed yields ``BarBatch`` objects (all subscribed symbols, one minute) in time
order. A batch with ``final=False`` is a still-forming minute that a later batch
with the same ``ts`` revises. The feed's ``state`` is observable so the screen
can show it; ``events`` carries human-readable notices (a symbol rejected, a
pacing wait, a reconnect).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from storage.types import BarBatch


class FeedState(enum.Enum):
    CONNECTING = "connecting"
    BACKFILLING = "backfilling"
    LIVE = "live"
    STALLED = "stalled"
    DOWN = "down"
    PAUSED = "paused"
    DONE = "done"


@dataclass(frozen=True)
class FeedEvent:
    """A notice from the feed: ``level`` is info | warning | error."""

    level: str
    message: str
    symbol: str | None = None


class BarFeed(Protocol):
    state: FeedState

    @property
    def symbols(self) -> tuple[str, ...]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def set_symbols(self, symbols: list[str]) -> None:
        """Unsubscribe symbols no longer wanted and subscribe the new ones."""
        ...

    def batches(self) -> AsyncIterator[BarBatch]: ...

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None: ...
