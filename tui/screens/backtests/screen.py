"""The Backtests screen (key 3): where backtests will be run and browsed.

A placeholder until the backtests screen lands, so the navigation (keys,
palette, footer) is final from day one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

_BODY = """[b]{title}[/b]

{what}

This screen arrives with a later issue. Press [b]1[/b] for the console."""


class BacktestsScreen(Screen[None]):
    """Where backtests will be run and browsed."""

    DEFAULT_CSS = "BacktestsScreen > Static { padding: 1 2; }"

    def compose(self) -> ComposeResult:
        yield Static(_BODY.format(
            title="Backtests",
            what="Run strategies on the cached history and browse their results."))
        yield Footer()
