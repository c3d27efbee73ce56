"""The Training screen (key 2): where the selector model will be trained.

A placeholder until the training screen lands, so the navigation (keys,
palette, footer) is final from day one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

_BODY = """[b]{title}[/b]

{what}

This screen arrives with a later issue. Press [b]1[/b] for the console."""


class TrainingScreen(Screen[None]):
    """Where the selector model will be trained (dataset, loss curve, checkpoints)."""

    DEFAULT_CSS = "TrainingScreen > Static { padding: 1 2; }"

    def compose(self) -> ComposeResult:
        yield Static(_BODY.format(
            title="Training",
            what="Build samples from the cache, train the MLX selector, watch the loss."))
        yield Footer()
