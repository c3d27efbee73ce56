"""Find a symbol: type a prefix or a list's name, ↑/↓ choose, enter returns the symbol.

What is searched: every symbol the cache holds (``Cache.symbols()``) and, per
symbol, the ticker lists that contain it. The cache keeps no company names
(neither its schema nor ``tickers/prices.csv`` has them), so a query matches
the symbol (exact, then prefix, then anywhere in it) and the names of the lists
holding it (``semis`` finds the symbols of a list called ``semis``). Symbols of
the current list are marked ``●``.

Why the index loads off the UI thread: ``SELECT DISTINCT symbol`` over a large
cache and reading every list file take long enough to freeze a keystroke, and
they must not queue on the MLX thread while it steps minutes. The dialog opens
at once ("loading…") and a worker thread builds the index (DuckDB reads use
their own cursor, so the live session's reads are not disturbed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from storage.errors import AvwapError, TickerListError
from storage.tickers import SYMBOL_RE, available_lists, load_list
from tui import fmt

#: Options shown at most (the best matches; the title says how many matched).
SHOWN = 200


@dataclass(frozen=True)
class SymbolIndex:
    """Every symbol to find, and the lists holding each (for matching and display)."""

    symbols: tuple[str, ...]
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)


def build_index(cache_symbols: Callable[[], Sequence[str]],
                user_dir: Path | None = None) -> SymbolIndex:
    """The cache's symbols and, for each, the lists it is in (broken lists skipped).

    Blocking (DuckDB and file reads): call it on a worker thread.
    """
    symbols = tuple(sorted(set(cache_symbols())))
    member: dict[str, list[str]] = {}
    for name in available_lists(user_dir):
        try:
            tl = load_list(name, user_dir)
        except TickerListError:
            continue  # the list picker says why it is broken; find just skips it
        for sym in tl.symbols:
            member.setdefault(sym, []).append(name)
    return SymbolIndex(symbols, {s: tuple(v) for s, v in member.items()})


def matches(index: SymbolIndex, query: str, current: Sequence[str] = ()) -> list[str]:
    """Symbols matching ``query``, best first.

    Order: the exact symbol, then symbols starting with the query, then
    symbols containing it, then symbols of lists whose name contains it;
    within each, the current list's symbols first (what the trader watches is
    the likelier aim: ``nv`` offers NVDA before NVR), then alphabetical. An
    empty query gives the current list's symbols, then the rest.
    """
    q = query.strip().upper()
    cur = set(current)
    if not q:
        return [s for s in index.symbols if s in cur] + [
            s for s in index.symbols if s not in cur]
    ranked: list[tuple[int, bool, str]] = []
    ql = q.lower()
    for s in index.symbols:
        if s == q:
            rank = 0
        elif s.startswith(q):
            rank = 1
        elif q in s:
            rank = 2
        elif any(ql in name.lower() for name in index.lists.get(s, ())):
            rank = 3
        else:
            continue
        ranked.append((rank, s not in cur, s))
    ranked.sort()
    return [s for _, _, s in ranked]


class FindSymbol(ModalScreen[str | None]):
    """The ``/`` dialog; returns the chosen symbol (``None``: escape)."""

    DEFAULT_CSS = """
    FindSymbol { align: center middle; }
    FindSymbol > Vertical {
        width: 100%; max-width: 72; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    FindSymbol Input { margin: 0; }
    FindSymbol OptionList {
        height: auto; max-height: 16; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="find.cancel"),
        Binding("up", "move(-1)", "Up", show=False, id="find.up"),
        Binding("down", "move(1)", "Down", show=False, id="find.down"),
        Binding("pageup", "move(-10)", "Page up", show=False, id="find.page_up"),
        Binding("pagedown", "move(10)", "Page down", show=False, id="find.page_down"),
    ]

    def __init__(self, load: Callable[[], SymbolIndex], current: Sequence[str] = (),
                 list_name: str | None = None, *, any_symbol: bool = False) -> None:
        """``load`` builds the index (blocking: run on a worker thread); ``current``
        are the watchlist's rows; ``any_symbol`` offers a typed symbol the cache
        lacks (a live IB feed backfills it)."""
        super().__init__()
        self.load = load
        self.current = tuple(current)
        self.list_name = list_name
        self.any_symbol = any_symbol
        self.index: SymbolIndex | None = None
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Find a symbol: type a symbol or a list's name; enter shows it",
                        id="find-title")
            yield Input(placeholder="symbol or list name", id="find-query")
            yield OptionList(id="find-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._set_options(["loading the cache's symbols…"], ids=False)
        self.run_worker(self._load(), group="find-index", exclusive=True)

    async def _load(self) -> None:
        try:
            index = await asyncio.to_thread(self.load)
        except AvwapError as e:
            self._set_options([f"cannot read the cache: {e}"], ids=False)
            return
        self.index = index
        self._refresh()

    @on(Input.Changed, "#find-query")
    def _query_changed(self) -> None:
        if self.index is not None:
            self._refresh()

    def _refresh(self) -> None:
        assert self.index is not None
        query = self.query_one(Input).value
        found = matches(self.index, query, self.current)
        typed = query.strip().upper()
        extra = (self.any_symbol and typed not in self.index.symbols
                 and SYMBOL_RE.fullmatch(typed) is not None)
        self.shown = ([typed] if extra else []) + found[:SHOWN]
        if not self.shown:
            self._set_options([f"no symbol in the cache matches {query.strip()!r}"], ids=False)
            return
        lines = []
        cur = set(self.current)
        for sym in self.shown:
            if extra and sym == typed:
                lines.append(f"  {sym:<8} not in the cache: the IB feed backfills it")
                continue
            mark = "●" if sym in cur else " "
            lists = self.index.lists.get(sym, ())
            where = f"in {', '.join(lists)}" if lists else "in no list"
            lines.append(f"{mark} {sym:<8} {where}")
        self._set_options(lines, ids=True)
        n = len(found)
        more = f" (best {SHOWN} shown)" if n > SHOWN else ""
        here = f"● = in {self.list_name}; " if self.list_name else ""
        self.query_one("#find-title", Label).update(fmt.safe(
            f"Find: {fmt.plural(n, 'match', 'matches')}{more}; {here}enter shows it"))

    def _set_options(self, lines: list[str], *, ids: bool) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        ol.add_options([Option(fmt.safe(line), id=self.shown[i] if ids else None,
                               disabled=not ids) for i, line in enumerate(lines)])
        if ids and lines:
            ol.highlighted = 0

    def action_move(self, delta: int) -> None:
        ol = self.query_one(OptionList)
        if not self.shown or ol.option_count == 0 or ol.get_option_at_index(0).disabled:
            return
        cur = ol.highlighted if ol.highlighted is not None else 0
        ol.highlighted = max(0, min(ol.option_count - 1, cur + delta))

    @on(Input.Submitted, "#find-query")
    def _submitted(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.shown:
            return
        option = ol.get_option_at_index(ol.highlighted)
        if option.id is not None:
            self.dismiss(option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
