"""Expressions compiled into one program: typed once, shared parts computed once.

``Program(trees)`` checks every tree's types when it is built (``and`` over a
number, arithmetic on a condition: one ``ExpressionError`` before any data is
read) and turns the trees into a flat list of NumPy operations in which a part
written in several expressions (``close > avwap_session`` in five scans, a
name read by all ten) is one slot, computed once per call. ``run(values)``
evaluates every expression at once for all symbols:

- over ``[S, T]`` (a backtest, a scan of the loaded history), ``prev`` and the
  crosses read each symbol's previous bar through ``prev_index`` (``prev_bar``);
  without it, the previous grid minute;
- over a live window ``[S, K]`` (each symbol's last K bars, the newest last,
  ``LiveScans``), the previous column is the symbol's previous bar.

Semantics are the backtester's, operation for operation: numbers are
compared and combined in NumPy with NaN comparing false, constants are
float64, ``a crosses above b`` is ``a > b`` now and ``a <= b`` at the previous
bar (both bars need values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.expr.errors import ExpressionError
from engine.expr.grammar import Node
from engine.expr.prev import at_prev, shift

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_LOGIC: dict[str, Callable[[Any, Any], Any]] = {"and": np.logical_and, "or": np.logical_or}

NUM, COND = "number", "condition"


def _key(node: Node) -> Node:
    """The node without source columns, so equal parts share a slot."""
    if node[0] == "name":
        return ("name", node[1])
    return tuple(_key(c) if isinstance(c, tuple) else c for c in node)


class Program:
    """Many expression trees as one list of operations (see the module docstring).

    ``conditions=True`` requires every tree to be a condition (a scan, a signal).
    """

    def __init__(self, trees: Sequence[Node], *, conditions: bool = False) -> None:
        self.names: list[str] = []
        self._consts: list[tuple[int, np.ndarray]] = []
        self._loads: list[tuple[int, str]] = []
        self._ops: list[tuple[str, Any, tuple[int, ...], int]] = []
        self._slots: dict[Node, tuple[int, str]] = {}
        self.types: list[str] = []
        self.outputs: list[int] = []
        for tree in trees:
            slot, kind = self._emit(tree)
            if conditions and kind != COND:
                raise ExpressionError(
                    "expression: the signal must be a condition (e.g. close > sma_20)")
            self.outputs.append(slot)
            self.types.append(kind)
        self.size = len(self._slots)

    # -- compiling ------------------------------------------------------------------------

    def _new(self, key: Node, kind: str) -> int:
        slot = len(self._slots)
        self._slots[key] = (slot, kind)
        return slot

    def _emit(self, node: Node) -> tuple[int, str]:
        key = _key(node)
        if key in self._slots:
            return self._slots[key]
        kind = node[0]
        if kind == "num":
            slot = self._new(key, NUM)
            self._consts.append((slot, np.asarray(node[1], dtype=np.float64)))
            return slot, NUM
        if kind == "name":
            slot = self._new(key, NUM)
            self._loads.append((slot, node[1]))
            if node[1] not in self.names:
                self.names.append(node[1])
            return slot, NUM
        if kind in ("and", "or"):
            a, b = self._cond(node[1]), self._cond(node[2])
            return self._op(key, COND, "bin", _LOGIC[kind], a, b)
        if kind == "not":
            return self._op(key, COND, "un", np.logical_not, self._cond(node[1]))
        if kind == "cmp":
            a, b = self._num(node[2]), self._num(node[3])
            return self._op(key, COND, "bin", _CMP[node[1]], a, b)
        if kind == "arith":
            a, b = self._num(node[2]), self._num(node[3])
            return self._op(key, NUM, "bin", _ARITH[node[1]], a, b)
        if kind == "neg":
            return self._op(key, NUM, "un", np.negative, self._num(node[1]))
        if kind == "abs":  # not in the grammar: the dead band's tolerance (``deadband``)
            return self._op(key, NUM, "un", np.abs, self._num(node[1]))
        if kind == "call" and node[1] == "prev":
            inner, itype = self._emit(node[2])
            return self._op(key, itype, "prev", None, inner)
        if kind == "call" and node[1] in ("cross_above", "cross_below"):
            a, b = self._num(node[2]), self._num(node[3])
            now, before = (">", "<=") if node[1] == "cross_above" else ("<", ">=")
            ka, kb = ("call", "prev", key[2]), ("call", "prev", key[3])  # = prev(a), prev(b)
            pa = self._op(ka, NUM, "prev", None, a)[0]
            pb = self._op(kb, NUM, "prev", None, b)[0]
            x = self._op(("cmp", now, *key[2:]), COND, "bin", _CMP[now], a, b)[0]
            y = self._op(("cmp", before, ka, kb), COND, "bin", _CMP[before], pa, pb)[0]
            return self._op(key, COND, "bin", np.logical_and, x, y)
        raise ExpressionError(f"expression: cannot evaluate {kind!r}")

    def _op(self, key: Node, kind: str, how: str, fn: Any, *args: int) -> tuple[int, str]:
        if key in self._slots:
            return self._slots[key]
        slot = self._new(key, kind)
        self._ops.append((how, fn, args, slot))
        return slot, kind

    def _cond(self, node: Node) -> int:
        slot, kind = self._emit(node)
        if kind != COND:
            raise ExpressionError("expression: 'and', 'or' and 'not' need conditions, got a number")
        return slot

    def _num(self, node: Node) -> int:
        slot, kind = self._emit(node)
        if kind != NUM:
            raise ExpressionError(
                "expression: arithmetic and comparisons need numbers, got a condition")
        return slot

    # -- running --------------------------------------------------------------------------

    def run(self, values: Mapping[str, np.ndarray], prev_index: np.ndarray | None = None,
            time_axis: int = -1) -> list[np.ndarray]:
        """Every expression's array (bool for a condition, float for a number).

        ``values`` maps each name read (``names``) to an array with a time axis
        (``time_axis``: the last for ``[S, T]``, the first for a live ``[K, S]``
        window, whose rows are then contiguous); ``prev_index`` (``prev_bar``) makes
        the previous value the symbol's previous bar on a grid, else it is the
        previous step of the time axis.
        """
        prev: Callable[[np.ndarray], np.ndarray]
        if prev_index is not None:
            pi = prev_index
            prev = lambda x: at_prev(x, pi)  # noqa: E731
        elif time_axis == 0:
            prev = _shift0
        else:
            prev = _shift_last
        r: list[Any] = [None] * self.size
        for slot, c in self._consts:
            r[slot] = c
        for slot, name in self._loads:
            r[slot] = values[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            for how, fn, args, out in self._ops:
                if how == "bin":
                    r[out] = fn(r[args[0]], r[args[1]])
                elif how == "un":
                    r[out] = fn(r[args[0]])
                else:
                    r[out] = prev(np.asarray(r[args[0]]))
        return [np.asarray(r[s]) for s in self.outputs]


def _shift_last(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 0 else shift(x)


def _shift0(x: np.ndarray) -> np.ndarray:
    """One step back along the first axis (a live ``[K, S]`` window)."""
    if x.ndim == 0:
        return x
    out = np.empty_like(x)
    out[1:] = x[:-1]
    out[:1] = np.nan if x.dtype.kind == "f" else False
    return out


def evaluate(node: Node, values: Mapping[str, np.ndarray],
             prev_index: np.ndarray | None = None) -> np.ndarray:
    """One expression: a bool array (a condition) or a float array (a number)."""
    return Program([node]).run(values, prev_index)[0]


def condition(node: Node, values: Mapping[str, np.ndarray], shape: tuple[int, ...],
              prev_index: np.ndarray | None = None) -> np.ndarray:
    """One expression that must be a condition, broadcast to ``shape``."""
    out = Program([node], conditions=True).run(values, prev_index)[0]
    return np.broadcast_to(out, shape)


class LivePlan:
    """A ``Program`` unrolled over the bars of a live window: every part evaluated only at
    the bars it is needed (a cross needs its operands now and one bar back, the rest
    now only), each on a contiguous ``[S]`` row; ``prev`` costs nothing (it reads the
    same part one bar back). ``run(window[K, F', S])`` -> each expression now ``[S]``.
    """

    def __init__(self, program: Program, k: int) -> None:
        self.k = k
        need: dict[int, set[int]] = {s: {0} for s in program.outputs}
        for how, _fn, args, out in reversed(program._ops):
            for lag in need.get(out, ()):
                for a in args:
                    need.setdefault(a, set()).add(lag + 1 if how == "prev" else lag)
        reg: dict[tuple[int, int], int] = {}
        self._init: list[Any] = []
        self._loads: list[tuple[int, int, int]] = []
        self._ops: list[tuple[Any, int, int, int]] = []

        def new(value: Any = None) -> int:
            self._init.append(value)
            return len(self._init) - 1

        consts = dict(program._consts)
        for slot, c in consts.items():
            r = new(c)
            for lag in need.get(slot, ()):
                reg[slot, lag] = r
        # The window's columns: the names read at an earlier bar first, so a new minute
        # shifts only those (``lagged`` columns), the rest are read now only.
        back = {name for slot, name in program._loads if max(need.get(slot, {0})) > 0}
        self.order = [n for n in program.names if n in back] + \
            [n for n in program.names if n not in back]
        self.lagged = len(back)
        names = {n: i for i, n in enumerate(self.order)}
        for slot, name in program._loads:
            for lag in sorted(need.get(slot, ())):
                if lag >= k:
                    raise ValueError(f"a live window of {k} bars cannot read {lag} bars back")
                reg[slot, lag] = new()
                self._loads.append((reg[slot, lag], names[name], k - 1 - lag))
        for how, fn, args, out in program._ops:
            for lag in sorted(need.get(out, ())):
                if how == "prev":
                    reg[out, lag] = reg[args[0], lag + 1]
                    continue
                a = reg[args[0], lag]
                b = reg[args[1], lag] if how == "bin" else -1
                reg[out, lag] = new()
                self._ops.append((fn, a, b, reg[out, lag]))
        self.outputs = [reg[s, 0] for s in program.outputs]
        # Constants only compared (never in arithmetic, whose float64 result type they
        # decide) may take the window's dtype when that holds them exactly: the comparison
        # is then the same, without promoting the row to float64 (twice as fast).
        in_arith = {x for fn, a, b, _o in self._ops if fn not in _CMP.values()
                    for x in (a, b)}
        self._cmp_consts = [i for i, v in enumerate(self._init)
                            if v is not None and i not in in_arith]
        self._inits: dict[np.dtype[Any], list[Any]] = {}
        # Each expression's last operation writes into its row of the result.
        dest: dict[int, int] = {}
        for i, o in enumerate(self.outputs):
            dest.setdefault(o, i)
        made = {o for _fn, _a, _b, o in self._ops}
        self._copied = [i for i, o in enumerate(self.outputs) if o not in made or dest[o] != i]
        self._ops5 = [(fn, a, b, o, dest.get(o, -1) if o in made else -1)
                      for fn, a, b, o in self._ops]
        self._win: np.ndarray | None = None
        self._bound: list[Any] = []
        # Only arithmetic can warn (x / 0, inf - inf); NaN comparisons never do.
        self._quiet = any(fn in _ARITH.values() or fn in (np.negative, np.abs)
                          for fn, _a, _b, _o in self._ops)

    def _init_for(self, dtype: np.dtype[Any]) -> list[Any]:
        init = self._inits.get(dtype)
        if init is None:
            init = list(self._init)
            for i in self._cmp_consts:
                narrow = np.asarray(init[i], dtype=dtype) if dtype.kind == "f" else init[i]
                if narrow.astype(np.float64) == init[i]:
                    init[i] = narrow
            self._inits[dtype] = init
        return init

    def run(self, window: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``[N, S]``: each expression now, where ``mask`` (the symbols with a bar) holds.

        The rows of ``window`` the expressions read are bound once per window buffer
        (the caller updates it in place); each expression's last operation writes
        straight into its row of the result.
        """
        if window is not self._win:
            self._win = window
            self._bound = list(self._init_for(window.dtype))
            for o, j, row in self._loads:
                self._bound[o] = window[row, j]
        r = list(self._bound)
        hits = np.empty((len(self.outputs), window.shape[2]), dtype=bool)
        if self._quiet:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                self._run(r, hits)
        else:
            self._run(r, hits)
        for i in self._copied:  # a name, a constant or a repeated expression
            hits[i] = r[self.outputs[i]]
        hits &= mask
        return hits

    def _run(self, r: list[Any], hits: np.ndarray) -> None:
        for fn, a, b, o, d in self._ops5:
            if d < 0:
                r[o] = fn(r[a], r[b]) if b >= 0 else fn(r[a])
            else:
                r[o] = fn(r[a], r[b], out=hits[d]) if b >= 0 else fn(r[a], out=hits[d])
