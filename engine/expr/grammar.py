"""The expression language's grammar: a tokenizer and a recursive-descent parser.

``close > avwap_session_up2 and rvol > 2`` becomes a tree of tuples; nothing is
ever passed to ``eval``. Grammar (lowest precedence first)::

    expr   := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | cmp
    cmp    := sum ((("<" | "<=" | ">" | ">=" | "==" | "!=")
                    | "crosses" ("above" | "below")) sum)?
    sum    := prod (("+" | "-") prod)*
    prod   := unary (("*" | "/") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER | NAME | NAME "(" args ")" | "(" expr ")"

``a crosses above b`` is the same tree as ``cross_above(a, b)``. Trees are
plain tuples: ``("num", x)``, ``("name", n, column)``, ``("and"|"or", a, b)``,
``("not", a)``, ``("cmp", op, a, b)``, ``("arith", op, a, b)``, ``("neg", a)``,
``("call", fn, *args)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.expr.errors import ExpressionError

#: Bar fields every expression may read beside the registry's outputs.
PRICE_NAMES: tuple[str, ...] = ("open", "high", "low", "close", "volume")
#: Functions and their argument counts.
FUNCTIONS: dict[str, int] = {"prev": 1, "cross_above": 2, "cross_below": 2}
COMPARISONS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "!=")
KEYWORDS: frozenset[str] = frozenset({"and", "or", "not", "crosses"})
_TOKEN = re.compile(
    r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z_][A-Za-z_0-9]*)|(<=|>=|==|!=|[<>+\-*/(),]))"
)

Node = tuple[Any, ...]


@dataclass(frozen=True)
class Token:
    kind: str  # "num" | "name" | "op" | "end"
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; ``ExpressionError`` at the first character no token starts."""
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

    def at_word(self, word: str) -> bool:
        return self.peek().kind == "name" and self.peek().text == word

    def at_cmp(self) -> bool:
        return (self.peek().kind == "op" and self.peek().text in COMPARISONS) \
            or self.at_word("crosses")

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
        while self.at_word("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at_word("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at_word("not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum_()
        if self.at_word("crosses"):
            self.take()
            way = self.peek()
            if way.kind != "name" or way.text not in ("above", "below"):
                raise self.error("expected 'above' or 'below' after 'crosses'")
            self.take()
            node = ("call", f"cross_{way.text}", node, self.sum_())
        elif self.at_cmp():
            op = self.take().text
            node = ("cmp", op, node, self.sum_())
        else:
            return node
        if self.at_cmp():
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
        if tok.kind == "name" and tok.text not in KEYWORDS:
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
            close = difflib.get_close_matches(tok.text, list(FUNCTIONS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ExpressionError(
                f"expression: unknown function {tok.text!r} (known: {', '.join(FUNCTIONS)}"
                f"){hint}")
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


def suggestions(name: str, known: Iterable[str]) -> list[str]:
    """Up to three known names close to ``name`` (what the error and the console offer)."""
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)


def check_names(node: Node, known: Iterable[str]) -> list[str]:
    """The names used (all known), or ``ExpressionError`` naming unknown ones with suggestions."""
    known_l = list(known)
    used = names_in(node)
    bad = [n for n in used if n not in known_l]
    if bad:
        parts = []
        for n in bad:
            close = suggestions(n, known_l)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            parts.append(f"{n!r}{hint}")
        raise ExpressionError(f"expression: unknown name {'; '.join(parts)}")
    return used


def prev_depth(node: Node) -> int:
    """How many bars before the current one the tree reads (``prev`` and a cross each
    look one bar back): a live window needs ``prev_depth + 1`` bars per symbol."""
    if not isinstance(node, tuple) or node[0] in ("num", "name"):
        return 0
    inner = max((prev_depth(c) for c in node[1:] if isinstance(c, tuple)), default=0)
    return inner + 1 if node[0] == "call" else inner
