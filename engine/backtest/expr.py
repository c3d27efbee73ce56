"""A small, safe expression language for signals over registry outputs.

``close > avwap_session and rsi_14 < 30`` is tokenized and parsed by recursive
descent into a tree of tuples, then evaluated on ``[S, T]`` arrays; nothing is
ever passed to ``eval``. Grammar (lowest precedence first)::

    expr   := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | cmp
    cmp    := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum    := prod (("+" | "-") prod)*
    prod   := unary (("*" | "/") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER | NAME | NAME "(" args ")" | "(" expr ")"

Names are registry outputs and ``open high low close volume``; functions are
``prev(x)`` (the value at the symbol's previous bar: its last minute with a
bar, given as ``prev_index``; without it, the previous grid minute),
``cross_above(a, b)`` and ``cross_below(a, b)`` (now above, at the previous
bar at or below). An unknown name is an error naming the closest known
ones; a comparison of two conditions or ``and`` over numbers is a type error.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.backtest.bars import at_prev
from engine.backtest.errors import BacktestError

PRICE_NAMES: tuple[str, ...] = ("open", "high", "low", "close", "volume")
FUNCTIONS: dict[str, int] = {"prev": 1, "cross_above": 2, "cross_below": 2}
_TOKEN = re.compile(
    r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z_][A-Za-z_0-9]*)|(<=|>=|==|!=|[<>+\-*/(),]))"
)
_KEYWORDS = {"and", "or", "not"}
_CMP = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}

Node = tuple[Any, ...]


class ExpressionError(BacktestError):
    """The expression cannot be parsed or refers to unknown names."""


@dataclass(frozen=True)
class Token:
    kind: str  # "num" | "name" | "op" | "end"
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            bad = text[pos:].lstrip()[:1]
            where = len(text) - len(text[pos:].lstrip())
            raise ExpressionError(f"expression: unexpected {bad!r} at column {where + 1}")
        num, name, op = m.groups()
        start = m.start(m.lastindex or 1)
        if num is not None:
            out.append(Token("num", num, start))
        elif name is not None:
            out.append(Token("name", name, start))
        else:
            out.append(Token("op", op, start))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, msg: str, tok: Token | None = None) -> ExpressionError:
        t = tok or self.peek()
        what = "the end" if t.kind == "end" else repr(t.text)
        return ExpressionError(f"expression: {msg} at {what} (column {t.pos + 1})")

    def expect(self, text: str) -> None:
        if self.peek().text != text or self.peek().kind == "name":
            raise self.error(f"expected {text!r}")
        self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionError("expression: empty")
        node = self.or_()
        if self.peek().kind != "end":
            raise self.error("unexpected")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().kind == "name" and self.peek().text == "or":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek().kind == "name" and self.peek().text == "and":
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek().kind == "name" and self.peek().text == "not":
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum_()
        if self.peek().kind == "op" and self.peek().text in _CMP:
            op = self.take().text
            node = ("cmp", op, node, self.sum_())
            if self.peek().kind == "op" and self.peek().text in _CMP:
                raise self.error("chained comparison (use 'and')")
        return node

    def sum_(self) -> Node:
        node = self.prod()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            node = ("arith", op, node, self.prod())
        return node

    def prod(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.take().text
            node = ("arith", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek().kind == "op" and self.peek().text == "-":
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("num", float(tok.text))
        if tok.kind == "name" and tok.text not in _KEYWORDS:
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(tok)
            return ("name", tok.text, tok.pos)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_()
            self.expect(")")
            return node
        raise self.error("expected a number, a name or '('", tok)

    def call(self, tok: Token) -> Node:
        if tok.text not in FUNCTIONS:
            raise ExpressionError(
                f"expression: unknown function {tok.text!r} (known: {', '.join(FUNCTIONS)})")
        self.take()
        args = [self.or_()]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            args.append(self.or_())
        self.expect(")")
        if len(args) != FUNCTIONS[tok.text]:
            raise ExpressionError(
                f"expression: {tok.text}() takes {FUNCTIONS[tok.text]} argument(s), "
                f"got {len(args)}")
        return ("call", tok.text, *args)


def parse(text: str) -> Node:
    """The expression's tree; ``ExpressionError`` for bad syntax."""
    return _Parser(text).parse()


def names_in(node: Node) -> list[str]:
    """Every name the tree reads, in order of first use."""
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, tuple):
            if n[0] == "name":
                if n[1] not in out:
                    out.append(n[1])
                return
            for child in n[1:]:
                walk(child)

    walk(node)
    return out


def check_names(node: Node, known: Iterable[str]) -> list[str]:
    """The names used (all known), or ``ExpressionError`` naming unknown ones with suggestions."""
    known_l = list(known)
    used = names_in(node)
    bad = [n for n in used if n not in known_l]
    if bad:
        parts = []
        for n in bad:
            close = difflib.get_close_matches(n, known_l, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            parts.append(f"{n!r}{hint}")
        raise ExpressionError(f"expression: unknown name {'; '.join(parts)}")
    return used


def _prev(x: np.ndarray, prev_index: np.ndarray | None = None) -> np.ndarray:
    if prev_index is not None and x.ndim > 0:
        return at_prev(x, prev_index)
    out = np.empty_like(x)
    out[..., 1:] = x[..., :-1]
    out[..., :1] = np.nan if x.dtype.kind == "f" else False
    return out


def evaluate(node: Node, values: Mapping[str, np.ndarray],
             prev_index: np.ndarray | None = None) -> np.ndarray:
    """Evaluate to a bool array (a condition) or float array (a number).

    ``prev_index[S, T]`` (``strategies.prev_bar``) makes ``prev`` and the crosses
    read each symbol's previous bar instead of the previous grid minute.
    """
    pi = prev_index
    kind = node[0]
    if kind == "num":
        return np.asarray(node[1], dtype=np.float64)
    if kind == "name":
        return values[node[1]]
    if kind in ("and", "or"):
        a, b = _cond(node[1], values, pi), _cond(node[2], values, pi)
        return (a & b) if kind == "and" else (a | b)
    if kind == "not":
        return ~_cond(node[1], values, pi)
    if kind == "cmp":
        a, b = _num(node[2], values, pi), _num(node[3], values, pi)
        with np.errstate(invalid="ignore"):
            return np.asarray(_CMP[node[1]](a, b))
    if kind == "arith":
        a, b = _num(node[2], values, pi), _num(node[3], values, pi)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(_ARITH[node[1]](a, b))
    if kind == "neg":
        return -_num(node[1], values, pi)
    if kind == "call":
        if node[1] == "prev":
            return _prev(np.asarray(evaluate(node[2], values, pi)), pi)
        a, b = _num(node[2], values, pi), _num(node[3], values, pi)
        a, b = np.broadcast_arrays(a, b)
        with np.errstate(invalid="ignore"):
            if node[1] == "cross_above":
                return (a > b) & (_prev(a, pi) <= _prev(b, pi))
            return (a < b) & (_prev(a, pi) >= _prev(b, pi))
    raise ExpressionError(f"expression: cannot evaluate {kind!r}")


def _cond(node: Node, values: Mapping[str, np.ndarray],
          pi: np.ndarray | None = None) -> np.ndarray:
    out = evaluate(node, values, pi)
    if out.dtype != np.bool_:
        raise ExpressionError("expression: 'and', 'or' and 'not' need conditions, got a number")
    return out


def _num(node: Node, values: Mapping[str, np.ndarray],
         pi: np.ndarray | None = None) -> np.ndarray:
    out = evaluate(node, values, pi)
    if out.dtype == np.bool_:
        raise ExpressionError(
            "expression: arithmetic and comparisons need numbers, got a condition")
    return out


def condition(node: Node, values: Mapping[str, np.ndarray], shape: tuple[int, ...],
              prev_index: np.ndarray | None = None) -> np.ndarray:
    """Evaluate a whole expression that must be a condition, broadcast to ``shape``."""
    out = evaluate(node, values, prev_index)
    if out.dtype != np.bool_:
        raise ExpressionError("expression: the signal must be a condition (e.g. close > sma_20)")
    return np.broadcast_to(out, shape)
