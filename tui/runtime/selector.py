"""The active selector model of the console: loaded, primed and asked for picks.

Why its own class: the model is optional (none active, a corrupt file, still
warming its window) and each case is a line the Indicators pane shows. This
class keeps the live selector, that line (``note``) and the focused symbols
whose picks each minute computes; the controller asks it on the MLX thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.snapshot import Snapshot
from storage.errors import AvwapError
from storage.types import Panel

if TYPE_CHECKING:
    from models.live import LiveSelector

Picks = tuple[tuple[str, float, int], ...]
NO_MODEL = "no model active: default ranking"


class ModelPicks:
    """The active model's live selector for the universe (see the module docstring)."""

    def __init__(self) -> None:
        #: The active model's live selector (``models.live.LiveSelector``) for the
        #: current symbols (None: no model, or it failed to load).
        self.live: LiveSelector | None = None
        #: What the Indicators pane says about the model.
        self.note = NO_MODEL
        #: Symbols whose picks each step computes (the highlighted one).
        self.focus: tuple[str, ...] = ()

    def attach(self, symbols: Sequence[str], names: Sequence[str], history: Panel | None,
               until_now: Callable[[Sequence[str]], Panel | None]) -> str:
        """Load the active model for ``symbols`` and prime it (blocking).

        ``history`` fills its window from batch values; without it (a model made
        active mid-session) the window up to the current minute comes from
        ``until_now``. Returns what the Indicators pane says about the model.
        """
        from models.live import LiveSelector

        self.live = None
        try:
            live = LiveSelector.from_active(tuple(symbols), tuple(names))
            if live is not None:
                if history is None:
                    history = until_now(symbols)
                if history is not None and len(history.ts):
                    live.prime(history)
        except AvwapError as e:  # a corrupt or mismatched model: say so, keep the ranking
            self.note = f"model not used: {e}"
            return self.note
        if live is None:
            self.note = NO_MODEL
        else:
            self.live = live
            self.note = f"model {live.selector.name}"
        return self.note

    def picks(self, snap: Snapshot | None) -> dict[str, Picks]:
        """Feed ``snap`` (a new minute; None: none) and pick for the focused symbols."""
        live = self.live
        if live is None:
            return {}
        if snap is not None:
            live.update(snap)
        name = live.selector.name
        if live.minutes < live.needed:
            self.note = f"model {name} warming {live.minutes}/{live.needed} min"
            return {}
        self.note = f"model {name}"
        focus = [s for s in self.focus if s in live.symbols]
        return {s: p.triples() for s, p in live.select(focus).items()} if focus else {}
