"""The leave test of an alerting scan: its expression with a dead band around every price
comparison.

Why: a scan alert fires when a symbol *enters* the scan. A price hugging a band
(``close > avwap_session_up2`` with the close a cent either side) enters and
leaves every few minutes, and an alert on each entry trains a trader to ignore
them. The band alerts solve it with a dead band (``tui.alerts``: the side only
changes once the price is beyond the level by 5 bp of it); a scan is an
arbitrary condition, so the dead band goes around each comparison of prices
inside it. ``widen(tree, margin)`` returns the condition a symbol that has
entered must *stop* meeting before it has left: every comparison between
prices (the bar's open/high/low/close, the registry's levels and bands, a
price plus or minus a price move, a price and a number) loosened by
``margin`` of the compared prices, so a symbol leaves only once it is beyond
the level by the dead band. Under ``not`` the comparisons are tightened
instead (``not close > x`` is left once the close is above ``x`` by the band).

A cross is an event of one bar; its leave test is the state it crosses into
(``a crosses above b`` stays in while ``a > b`` loosened by the dead band),
so a symbol flickering around a level cannot cross again until it has been
beyond it the other way. Comparisons of anything else (``rvol > 2``,
``rsi_14 < 30``) have no price scale to put a dead band on and are left as
they are.

The widened tree always holds where the expression does (every loosened
comparison is implied by the exact one), so a symbol in the scan never counts
as having left it. A NaN reads false, as everywhere: a value that becomes
undefined (a new session's young anchor) lets the symbol leave, as the band
alerts forget their side.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.expr.grammar import PRICE_NAMES, Node

PRICE, MOVE, CONST = "price", "move", "const"


def price_kinds() -> Callable[[str], str | None]:
    """The registry's word for each name: ``price`` (the bar's prices, levels and bands),
    ``move`` (a price difference: ATR, MACD, …), else None."""
    from engine.meta import Kind
    from engine.registry import REGISTRY

    def kind(name: str) -> str | None:
        if name in PRICE_NAMES:
            return PRICE if name != "volume" else None
        try:
            k = REGISTRY.meta(name).kind
        except KeyError:
            return None
        return PRICE if k.price_like else MOVE if k is Kind.PRICE_DIFF else None

    return kind


def _unit(node: Node, kind: Callable[[str], str | None]) -> str | None:
    """What a number is in price terms: a price, a price move, a constant, or None."""
    tag = node[0]
    if tag == "num":
        return CONST
    if tag == "name":
        return kind(node[1])
    if tag == "neg":
        u = _unit(node[1], kind)
        return u if u in (MOVE, CONST) else None
    if tag == "call" and node[1] == "prev":
        return _unit(node[2], kind)
    if tag != "arith":
        return None
    a, b = _unit(node[2], kind), _unit(node[3], kind)
    if node[1] in "+-":
        if a == b == CONST:
            return CONST
        if PRICE in (a, b) and {a, b} <= {PRICE, MOVE, CONST}:
            if a == b == PRICE:
                return MOVE if node[1] == "-" else None
            return PRICE if a == PRICE or node[1] == "+" else None
        return MOVE if {a, b} <= {MOVE, CONST} else None
    if CONST in (a, b):  # a price scaled by a number (1.01 * avwap_session) stays a price
        other = b if a == CONST else a
        return other if node[1] == "*" or b == CONST else None
    return None


def _prices(a: Node, b: Node, kind: Callable[[str], str | None]) -> bool:
    ua, ub = _unit(a, kind), _unit(b, kind)
    return PRICE in (ua, ub) and {ua, ub} <= {PRICE, CONST}


def _banded(op: str, a: Node, b: Node, margin: float, polarity: int) -> Node:
    """``a op b`` as ``a - b op ∓tol`` with ``tol = margin · (|a| + |b|) / 2``: loosened
    (``polarity`` +1) or tightened (-1)."""
    tol: Node = ("arith", "*", ("num", margin / 2),
                 ("arith", "+", ("abs", a), ("abs", b)))
    greater = op in (">", ">=")
    bound = ("neg", tol) if greater == (polarity > 0) else tol
    return ("cmp", op, ("arith", "-", a, b), bound)


def widen(tree: Node, margin: float, kind: Callable[[str], str | None] | None = None,
          polarity: int = 1) -> Node:
    """The leave test of ``tree`` (see the module docstring); ``margin`` is a fraction
    (5 bp = 0.0005), ``kind`` the price kind of a name (default: the registry's)."""
    kind = kind or price_kinds()
    tag = tree[0]
    if tag in ("and", "or"):
        return (tag, widen(tree[1], margin, kind, polarity),
                widen(tree[2], margin, kind, polarity))
    if tag == "not":
        return ("not", widen(tree[1], margin, kind, -polarity))
    if tag == "cmp" and tree[1] in ("<", "<=", ">", ">=") and _prices(tree[2], tree[3], kind):
        return _banded(tree[1], tree[2], tree[3], margin, polarity)
    if tag == "call" and tree[1] in ("cross_above", "cross_below") and polarity > 0:
        state: Node = ("cmp", ">" if tree[1] == "cross_above" else "<", tree[2], tree[3])
        return widen(state, margin, kind, polarity)
    if tag == "call" and tree[1] == "prev":
        return ("call", "prev", widen(tree[2], margin, kind, polarity))
    return tree
