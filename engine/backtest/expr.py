"""The backtester's view of the engine's one expression language (``engine.expr``).

The grammar, the names' checks and the evaluation live in ``engine.expr``
(shared with the scanner and the alerts; docs/expressions.md). Here its errors
become the backtester's: ``ExpressionError`` is both a ``BacktestError`` (the
CLI and the Backtests screen catch that) and the engine's ``ExpressionError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any, TypeVar

import numpy as np

from engine import expr as _expr
from engine.backtest.errors import BacktestError
from engine.expr import FUNCTIONS, PRICE_NAMES, Node, names_in, tokenize

__all__ = ["FUNCTIONS", "PRICE_NAMES", "ExpressionError", "Node", "check_names", "condition",
           "evaluate", "names_in", "parse", "tokenize"]

F = TypeVar("F", bound=Callable[..., Any])


class ExpressionError(BacktestError, _expr.ExpressionError):
    """The expression cannot be parsed or refers to unknown names."""


def _as_backtest(fn: F) -> F:
    @wraps(fn)
    def call(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except ExpressionError:
            raise
        except _expr.ExpressionError as e:
            raise ExpressionError(str(e)) from e

    return call  # type: ignore[return-value]


@_as_backtest
def parse(text: str) -> Node:
    """The expression's tree; ``ExpressionError`` for bad syntax."""
    return _expr.parse(text)


@_as_backtest
def check_names(node: Node, known: Iterable[str]) -> list[str]:
    """The names used (all known), or ``ExpressionError`` naming unknown ones with suggestions."""
    return _expr.check_names(node, known)


@_as_backtest
def evaluate(node: Node, values: Mapping[str, np.ndarray],
             prev_index: np.ndarray | None = None) -> np.ndarray:
    """A bool array (a condition) or float array (a number); ``prev_index[S, T]``
    (``strategies.prev_bar``) makes ``prev`` and the crosses read each symbol's
    previous bar instead of the previous grid minute."""
    return _expr.evaluate(node, values, prev_index)


@_as_backtest
def condition(node: Node, values: Mapping[str, np.ndarray], shape: tuple[int, ...],
              prev_index: np.ndarray | None = None) -> np.ndarray:
    """Evaluate a whole expression that must be a condition, broadcast to ``shape``."""
    return _expr.condition(node, values, shape, prev_index)
