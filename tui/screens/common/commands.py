"""The command palette's providers share one shape: "category: action" entries from a list.

Each screen's provider only says which entries it has now (``_commands``);
finding and matching them is here, once.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui import fmt

Entry = tuple[str, Callable[[], object], str]  # (name, action, help)


class NamedCommands(Provider):
    """A palette provider over ``_commands()``: listed when empty, fuzzy-matched when typed."""

    def _commands(self) -> list[Entry]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for name, cb, help_text in self._commands():
            # Names can come from files (list names): shown as written, never as markup.
            yield DiscoveryHit(fmt.safe(name), cb, text=name, help=fmt.safe(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, cb, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(fmt.safe(name)), cb, text=name,
                          help=fmt.safe(help_text))
