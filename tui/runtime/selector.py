"""The active selector model of the console: loaded, primed and asked for picks.

Why its own class: the model is optional (none active, a corrupt file, still
loading, still warming its window) and each case is a line the Indicators pane
shows. This class keeps the live selector, that line (``note``) and the focused
symbols whose picks each minute computes; the controller asks it on the MLX thread.

Making a model active never stops the live minutes: ``load`` only reads the
model (the pane says "loading model X…"), then each symbol's window is primed,
the focused symbol first and the rest in chunks, one ``prime_more`` call each.
The session submits those calls to the MLX thread one at a time, so the feed's
minutes run between them.

Where a window comes from: ``tape`` (``models.tape.FeatureTape``) keeps the
last minutes of every registry output for every symbol, from the warm-up's last
minutes of history (``WarmUp.warm(record=...)``) and every minute stepped since,
whether or not a model is active. A symbol the tape covers is primed from it
(``LiveSelector.prime_kept``: the model's scaling, no registry recompute),
``KEPT_CHUNK`` symbols per call. Only a symbol the tape lacks (it joined the
universe a moment ago, or the model's lookback is longer than the tape) is
primed from its batch values over its history (``LiveSelector.prime``), which
costs a registry computation: ``CHUNK`` symbols per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.snapshot import Snapshot
from models.tape import FeatureTape
from storage.errors import AvwapError
from storage.types import Panel

if TYPE_CHECKING:
    from models.live import LiveSelector

Picks = tuple[tuple[str, float, int], ...]
NO_MODEL = "no model active: default ranking"


class ModelPicks:
    """The active model's live selector for the universe (see the module docstring)."""

    #: Symbols primed from their history per ``prime_more`` call: each call costs
    #: one batch computation of the registry (about a second for a few symbols on 2 cores).
    CHUNK = 4
    #: Symbols primed from the tape per call: scaling their kept rows, plus the batch
    #: of the few lookback-scaled outputs (tens of ms for 64 symbols).
    KEPT_CHUNK = 64

    def __init__(self) -> None:
        #: The active model's live selector (``models.live.LiveSelector``) for the
        #: current symbols (None: no model, or it failed to load).
        self.live: LiveSelector | None = None
        #: What the Indicators pane says about the model.
        self.note = NO_MODEL
        #: Symbols whose picks each step computes (the highlighted one).
        self.focus: tuple[str, ...] = ()
        #: Symbols whose windows are still to be primed (the focus goes first).
        self.pending: list[str] = []
        self._until_now: Callable[[Sequence[str]], Panel | None] | None = None
        self._history: Panel | None = None
        #: The last minutes of every output, for a model made active later.
        self.tape = FeatureTape()

    def record(self, snap: Snapshot) -> None:
        """Keep a minute on the tape (the warm-up's last minutes; ``picks`` does live ones)."""
        self.tape.push(snap)

    def load(self, symbols: Sequence[str], names: Sequence[str],
             until_now: Callable[[Sequence[str]], Panel | None],
             history: Panel | None = None) -> str:
        """Load the active model for ``symbols``, nothing primed yet (fast); every
        symbol is pending. ``history`` (a warm-up's panel, ending where the live
        window will start) is primed from instead of ``until_now`` while it is
        current. Returns what the Indicators pane says about the model."""
        from models.live import LiveSelector

        self.live, self.pending = None, []
        try:
            live = LiveSelector.from_active(tuple(symbols), tuple(names))
        except AvwapError as e:  # a corrupt or mismatched model: say so, keep the ranking
            self.note = f"model not used: {e}"
            return self.note
        if live is None:
            self.note = NO_MODEL
            return self.note
        self.live, self.pending = live, list(symbols)
        self._until_now, self._history = until_now, history
        self.note = f"loading model {live.selector.name}…"
        return self.note

    def attach(self, symbols: Sequence[str], names: Sequence[str], history: Panel | None,
               until_now: Callable[[Sequence[str]], Panel | None]) -> str:
        """``load``, then prime the focused symbol (blocking; the rest stay pending)."""
        self.load(symbols, names, until_now, history)
        self.prime_more(1)
        return self.note

    def prime_more(self, n: int | None = None) -> int:
        """Prime the next ``n`` (``CHUNK``) pending symbols, the focused ones first;
        returns how many remain (blocking: MLX thread)."""
        live = self.live
        if live is None or not self.pending:
            return 0
        first = [s for s in self.focus if s in self.pending]
        order = first + [s for s in self.pending if s not in first]
        if n is None:  # a chunk of kept symbols, or of the others when the next is not kept
            kept = self.tape.cover(order) >= live.lookback
            same = [s for s, k in zip(order, kept, strict=True) if k == kept[0]]
            chunk = same[: self.KEPT_CHUNK if kept[0] else self.CHUNK]
        else:
            chunk = order[:n]
        self.pending = [s for s in order if s not in set(chunk)]
        panel = self._panel(live, chunk)
        rest = live.prime_kept(self.tape, chunk, panel)
        if rest and panel is not None and len(panel.ts):
            # bars ending before the live window (a late group): those warm by stepping
            with contextlib.suppress(ValueError):
                live.prime(panel.select(rest), rest)
        if not self.pending:
            self._history = None
        self._refresh()
        return len(self.pending)

    def _panel(self, live: LiveSelector, chunk: Sequence[str]) -> Panel | None:
        """The chunk's bars ending at the live window's newest minute."""
        h = self._history
        if h is not None and (live.last_ts is None or (len(h.ts) and h.ts[-1] == live.last_ts)):
            return h.select(list(chunk))
        self._history = None
        return self._until_now(chunk) if self._until_now is not None else None

    def _refresh(self) -> list[str]:
        """The note for the focus; returns the focused symbols whose window is ready."""
        live = self.live
        if live is None:
            return []
        name = live.selector.label  # with "— no edge over …" when it has none
        focus = [s for s in self.focus if s in live.symbols] or list(live.symbols[:1])
        ready = [s for s in focus if live.seen(s) >= live.needed]
        if ready:
            self.note = f"model {name}"
        elif any(s in self.pending for s in focus):
            self.note = f"loading model {live.selector.name}…"
        else:
            seen = max(live.seen(s) for s in focus) if focus else live.minutes
            self.note = f"model {name} warming {seen}/{live.needed} min"
        return [s for s in ready if s in self.focus]

    def picks(self, snap: Snapshot | None) -> dict[str, Picks]:
        """Feed ``snap`` (a new minute; None: none) and pick for the focused symbols."""
        if snap is not None:
            self.tape.push(snap)
        live = self.live
        if live is None:
            return {}
        if snap is not None:
            live.update(snap)
        ready = self._refresh()
        return {s: p.triples() for s, p in live.select(ready).items()} if ready else {}
