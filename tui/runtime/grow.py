"""New symbols joining a running universe, one MLX-thread chunk at a time.

Why its own class: a list with new symbols (or a symbol found with ``/``) must
not stop the list on screen. ``Grow.advance()`` does a bounded piece of work
per call — a chunk of the warm-up, then a run of catch-up minutes — and the
console session calls it between live minutes. It talks to the rest of the
runtime through public calls only: the universe's clock, the shared ``WarmUp``
(saved states, cancel flag) and a ``join`` callback the controller hands it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np

from engine.incremental import IncrementalEngine
from engine.snapshot import Snapshot
from tui.runtime.universe import Group, Universe
from tui.runtime.warmup import WarmUp


class Grow:
    """One group warming, catching up, then joining the universe.

    ``advance()`` (call it on the MLX thread, repeatedly) warms the group on its
    history up to the start of the clock's current day, then steps it through
    today's minutes up to the minute the universe last stepped, and — in the
    same call as its last catch-up step, so no live minute can slip between —
    joins it to the universe. It returns the fraction done, or None once joined.
    Live minutes interleave between the calls, so the list on screen stays live.
    """

    def __init__(self, group: Group, *, universe: Universe, warmup: WarmUp,
                 names: Sequence[str] | None, join: Callable[[Group], None],
                 record: Callable[[Snapshot], None] | None = None) -> None:
        self.group = group
        self.universe, self.warmup, self.names, self._join = universe, warmup, names, join
        #: Handed every minute the group steps (its warm-up's last ones, its catch-up):
        #: the rows a model made active primes the group's symbols from.
        self._record = record
        self._warm: Generator[float, None, Snapshot | None] | None = None
        self._start = 0  # panel index of the clock's day: where catching up begins
        self._t: int | None = None  # next panel index to catch up
        self._key: str | None = None

    def advance(self, minutes: int = 64) -> float | None:
        """One chunk of work (see the class docstring); None once joined."""
        self.warmup.check()
        if self._t is None:
            return self._warm_chunk(minutes)
        g = self.group
        clock = self.universe.last_ts
        stop = -1 if clock is None else g.index_at(clock)  # catch up through this index
        if clock is not None and g.last_ts is not None and g.last_ts > clock:
            return self._went_back(stop)
        for _ in range(minutes):
            if self._t > stop or self._t >= len(g.panel.ts):
                break
            snap = g.step(g.panel.batch(self._t))
            if self._record is not None:
                self._record(snap)
            self._t += 1
        if self._t > stop or self._t >= len(g.panel.ts):
            self._join(g)
            return None
        return 0.95

    def _warm_chunk(self, minutes: int) -> float:
        """Warm the group on the sessions before the clock's day, a chunk per call."""
        g = self.group
        if self._warm is None:
            clock = self.universe.last_ts
            panel = g.panel
            now = len(panel.ts) if clock is None else g.index_at(clock)
            now = min(now, len(panel.ts))
            day = panel.segments["day"]
            today = 0 if now == 0 else int(np.searchsorted(
                day, day[min(now, len(day) - 1)], side="left"))
            if clock is None:  # nothing stepped yet: warm on the whole history
                today = now
            self._start = today
            prior = panel.slice_time(0, today)
            if not len(prior.ts):
                self._t = today
                return 0.5
            self._key = self.warmup.key(g.engine, prior)
            if self.warmup.load(self._key, g.engine) is not None:
                self._t = today
                return 0.9
            self._warm = self.warmup.chunks(g.engine, prior, minutes, self._record)
        try:
            return 0.9 * next(self._warm)
        except StopIteration as done:
            self._t = self._start
            self.warmup.save(self._key, g.engine, done.value)
            return 0.9

    def _went_back(self, stop: int) -> float:
        """The replay went back (``b``/``t``) while this group caught up: rewind it to
        that session's checkpoint, or warm it again when it has none."""
        g = self.group
        sess = g.panel.segments["session"]
        here = int(sess[min(stop, len(sess) - 1)])
        if here in g.starts:
            g.rewind(here)
            self._t = int(np.argmax(sess == here))
            return 0.9
        self.group = Group(g.symbols, IncrementalEngine(g.symbols, self.names), g.panel)
        self._warm, self._t = None, None
        return 0.0
