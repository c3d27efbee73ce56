"""A Footer that rebuilds only when the keys it shows change.

Textual's ``Footer`` recomposes (unmounts and mounts every key) on every
bindings update, which each focus change triggers; moving focus from the
runs table to the trades table (same keys) then cost more than drawing the
run itself. Here an update whose shown keys are the same is ignored.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class StableFooter(Footer):
    """``Footer`` without the rebuild when nothing it shows changed."""

    _shown: Any = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        shown = tuple((key, b.binding.id, b.binding.description, b.enabled)
                      for key, b in screen.active_bindings.items() if b.binding.show)
        if shown == self._shown and self._bindings_ready:
            return
        self._shown = shown
        super().bindings_changed(screen)
