"""Warming an engine on its history: from the saved states when they exist.

Why a class: the first list's warm-up (``Controller.prepare``) and a group
growing into the universe (``tui.runtime.grow``) warm the same way — the saved
state beside the cache when its key matches (``tui.runtime.warm_store``), else
the engine's own warm-up, saved for the next launch — and both stop when the
console closes. One object holds the store, the number of sessions stepped and
the cancel flag, so neither reaches into the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from pathlib import Path

from engine.incremental import IncrementalEngine
from engine.snapshot import Snapshot
from storage.types import Panel
from tui.runtime.warm_store import WarmStore, warm_key

#: Sessions of bars every indicator's warm state is read from at least (its
#: declared history may need more; ``IncrementalEngine._from_batch``): one is
#: exact (tests/engine/test_incremental_warm.py).
WARM_STEP_SESSIONS = 1


class WarmUpCancelled(Exception):
    """The console is closing: the warm-up stopped where it was."""


class WarmUp:
    """How this console warms engines (see the module docstring)."""

    def __init__(self, cache_path: Path, *, engine_warm: int | None = None,
                 keep_warm: bool = True, tail: int = 1) -> None:
        #: Sessions of bars the engine reads every indicator's state from at least
        #: (None: ``WARM_STEP_SESSIONS``). The AVWAP anchors and the relative-volume
        #: history are warmed exactly from the whole history whatever this is.
        self.engine_warm = engine_warm
        #: Warmed states saved beside the cache: a second launch loads instead of
        #: warming; None disables it.
        self.store: WarmStore | None = (
            WarmStore.beside(cache_path) if keep_warm and cache_path.suffix else None)
        #: Minutes at the end of a warm-up that are stepped, not read off the batch
        #: (at least the last one; the console steps a model's default lookback so
        #: their rows can prime a model made active later: ~8 ms a minute for 650
        #: symbols). A saved state has no such rows: those symbols prime from history.
        self.tail = max(tail, 1)
        self._cancel = threading.Event()

    @property
    def steps(self) -> int:
        """Sessions stepped minute by minute at the end of a warm-up."""
        return max(self.engine_warm if self.engine_warm is not None else WARM_STEP_SESSIONS, 1)

    def cancel(self) -> None:
        """Stop every warm-up in progress at its next tick; idempotent."""
        self._cancel.set()

    def check(self) -> None:
        """Raise ``WarmUpCancelled`` once the console is closing."""
        if self._cancel.is_set():
            raise WarmUpCancelled

    def key(self, engine: IncrementalEngine, prior: Panel) -> str | None:
        """The saved-state key of warming ``engine`` on ``prior`` (None: no store)."""
        if self.store is None:
            return None
        return warm_key(prior, engine.names, self.steps, self.tail)

    def load(self, key: str | None, engine: IncrementalEngine) -> Snapshot | None:
        """``engine`` put in the saved state ``key`` (None: none saved, or no store)."""
        return self.store.load(key, engine) if key and self.store is not None else None

    def save(self, key: str | None, engine: IncrementalEngine, snap: Snapshot | None) -> None:
        """Keep ``engine``'s warmed state for the next launch (no-op without a store)."""
        if key and self.store is not None and snap is not None:
            self.store.save(key, engine, snap)

    def warm(self, engine: IncrementalEngine, prior: Panel,
             progress: Callable[[float], None] | None = None, *,
             record: Callable[[Snapshot], None] | None = None) -> Snapshot | None:
        """``engine`` warmed on ``prior`` in one blocking call (loaded when saved);
        ``record`` is handed the last ``tail`` minutes' Snapshots (``chunks``)."""
        key = self.key(engine, prior)
        snap = self.load(key, engine)
        if snap is None:
            work = self.chunks(engine, prior, 64, record)
            while True:
                try:
                    fraction = next(work)
                except StopIteration as done:
                    snap = done.value
                    break
                self.check()
                if progress:
                    progress(fraction)
            self.save(key, engine, snap)
        return snap

    def chunks(self, engine: IncrementalEngine, prior: Panel, minutes: int,
               record: Callable[[Snapshot], None] | None = None
               ) -> Generator[float, None, Snapshot | None]:
        """This console's warm-up as a generator (``Grow`` runs it between minutes):
        ``engine.warm_chunks`` up to the last ``tail`` minutes of ``prior``, then
        those minutes stepped, ``minutes`` per yield, each Snapshot handed to
        ``record`` (the rows a model made active later is primed from:
        ``ModelPicks.tape``). Every warm-up of the console follows this one
        recipe, so a group grown later equals one warmed at the start, bit for bit."""
        t = len(prior.ts)
        stepped = min(self.tail, max(t, 1))
        share = 0.8 if stepped > 1 else 1.0  # of the progress: the batch part
        work = engine.warm_chunks(prior.slice_time(0, t - stepped + 1),
                                  step_sessions=self.steps, minutes=minutes)
        while True:
            try:
                yield share * next(work)
            except StopIteration as done:
                snap: Snapshot | None = done.value
                break
        for j, i in enumerate(range(t - stepped + 1, t)):
            if record is not None and snap is not None:
                record(snap)
            if j % minutes == minutes - 1:
                yield share + (1 - share) * j / stepped
            snap = engine.step(prior.batch(i))
        if record is not None and snap is not None:
            record(snap)
        return snap
