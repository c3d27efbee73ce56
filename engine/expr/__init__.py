"""One expression language for scans, alerts and backtests (docs/expressions.md).

``parse`` turns ``close > avwap_session_up2 and rvol > 2`` into a tree (no
``eval``); ``check_names`` refuses unknown names with suggestions; ``Program``
types and evaluates many trees at once over ``[S, T]`` (``prev_bar`` for the
symbol's previous bar); ``LiveScans`` steps them over a live minute's ``[S]``
values; ``batch.scan_values`` gives a panel's values with the band-validity rule
applied, as the backtester reads them.
"""

from __future__ import annotations

from engine.expr.errors import ExpressionError
from engine.expr.grammar import (
    FUNCTIONS,
    PRICE_NAMES,
    Node,
    check_names,
    names_in,
    parse,
    prev_depth,
    suggestions,
    tokenize,
)
from engine.expr.live import LiveScans
from engine.expr.prev import at_prev, prev_bar, shift
from engine.expr.program import Program, condition, evaluate


def known_names() -> list[str]:
    """Every name an expression may read: the bar's prices, then the registry's outputs."""
    from engine.registry import output_names

    return [*PRICE_NAMES, *output_names()]


__all__ = ["FUNCTIONS", "PRICE_NAMES", "ExpressionError", "LiveScans", "Node", "Program",
           "at_prev", "check_names", "condition", "evaluate", "known_names", "names_in",
           "parse", "prev_bar", "prev_depth", "shift", "suggestions", "tokenize"]
