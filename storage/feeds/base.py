"""The one feed contract: where live (IB) and replayed bars come from.

A feed is built for one tuple of symbols by a ``FeedSource`` (the console asks
for a new feed on every list switch). Its life has three steps:

1. ``load()`` (blocking; the console calls it on its MLX thread): whatever the
   feed must do before it can stream (read the cache, connect and backfill),
   then the history the engine warms on, which ends just before the first
   minute ``batches()`` will yield. ``panel`` is the whole panel the feed read
   (for a replay, history and replayed minutes; for live bars, the history):
   the console takes "today" from its first minute after the history.
2. ``start()`` then ``batches()`` (async, on the app's event loop): ``BarBatch``
   objects (all the feed's symbols, one minute) in time order. A batch with
   ``final=False`` is a still-forming minute that a later batch with the same
   ``ts`` revises.
3. ``stop()``: ends ``batches()`` promptly, in every state.

``state`` is observable so the status bar can show it, ``on_state`` and
``on_event`` report changes and notices (a symbol rejected, a pacing wait, a
reconnect) on the event loop; the console turns them into messages.

Replay controls (speed, pause, stepping one minute without pacing) are an
optional capability: ``feed.replay`` is a ``ReplayControls`` for a replay and
``None`` for live bars, which cannot be sped up or paused. Callers check that
one typed attribute, never ``hasattr``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from storage.types import BarBatch, Panel


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
    """A notice from the feed: ``level`` is info | warning | error.

    The optional fields let the status bar show a notice without parsing its
    text: ``kind`` tags it (IB: ``pacing`` a request waits on IB's pacing,
    ``pacing_done``, ``retry`` the next reconnect attempt, ``restored``,
    ``not_live`` symbols beyond the market-data lines, ``late`` a symbol whose
    history landed after its minutes were emitted (re-warm it from the cache),
    ``gave_up``, ``terminal``); ``until`` is when the wait ends or the next
    attempt starts (wall clock, ``time.time()`` seconds); ``symbols`` lists
    the symbols concerned when there are several.
    """

    level: str
    message: str
    symbol: str | None = None
    kind: str = ""
    until: float | None = None
    symbols: tuple[str, ...] = ()


class ReplayControls(Protocol):
    """What only a replay can do: pace, pause, and step without pacing."""

    speed: float | None  # minutes per minute of wall time / 60; ``None`` = max

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def next_batch(self) -> BarBatch | None:
        """The next minute now, without pacing (``None`` when the replay is over)."""
        ...

    def seek(self, ts: np.datetime64) -> None:
        """Deliver ``ts`` (the first minute at or after it) next."""
        ...

    @property
    def replay_ts(self) -> np.ndarray:
        """The replayed minutes (the history before them is not replayed)."""
        ...

    @property
    def next_ts(self) -> np.datetime64 | None:
        """The minute ``next_batch`` delivers (None when the replay is over)."""
        ...


class Feed(Protocol):
    """A source of minute bars for one tuple of symbols (see the module docstring)."""

    @property
    def symbols(self) -> tuple[str, ...]: ...

    @property
    def state(self) -> FeedState: ...

    @property
    def panel(self) -> Panel: ...

    @property
    def replay(self) -> ReplayControls | None: ...

    def load(self) -> Panel: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def batches(self) -> AsyncIterator[BarBatch]: ...

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None: ...


class FeedSource(Protocol):
    """Builds the feed for a ticker list (the console calls it on every switch).

    ``resume_at`` is where a replay continues after a switch (``None``: from its
    start); live sources ignore it. ``fills_cache`` says the feed backfills the
    cache itself (IB), so symbols need no cached bars beforehand.
    """

    fills_cache: bool

    def __call__(self, symbols: tuple[str, ...], resume_at: np.datetime64 | None) -> Feed: ...

    def on_state(self, callback: Callable[[FeedState], None]) -> None:
        """``callback(state)`` on the event loop whenever a feed of this source changes state."""
        ...

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        """``callback(event)`` on the event loop for every notice of this source's feeds."""
        ...

    async def aclose(self) -> None:
        """Stop every feed of this source and release its connections (prompt, idempotent)."""
        ...

    def companion(self, symbols: tuple[str, ...]) -> Feed | None:
        """A feed of more symbols over the same minutes as the running one, never
        started: its panel lets new symbols join a running console (a replay). None
        when the source cannot (a live feed subscribes per list)."""
        ...

    def prioritize(self, symbols: Sequence[str]) -> None:
        """Serve ``symbols`` first where the source queues work (IB's backfill under
        pacing puts the rows on screen first); a replay has nothing to queue."""
        ...
