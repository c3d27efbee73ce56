"""Training and Backtests screens: reachable now, filled by later issues.

They exist so the navigation (keys, palette, footer) is final from day one and
later issues only replace the body.
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


class BacktestsScreen(Screen[None]):
    """Where backtests will be run and browsed."""

    DEFAULT_CSS = "BacktestsScreen > Static { padding: 1 2; }"

    def compose(self) -> ComposeResult:
        yield Static(_BODY.format(
            title="Backtests",
            what="Run strategies on the cached history and browse their results."))
        yield Footer()
