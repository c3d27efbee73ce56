"""Parameter grids: combinations, their signal variants, memory estimate, neighbours.

A grid maps each parameter to its values; the run evaluates the cartesian
product in one pass. Parameters that change the signals define *variants*
(one set of ``[S, T]`` signal arrays each); stops only change row settings, so
a 3 x 3 x 3 grid with one stop parameter has 9 variants and 27 x S rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.backtest.errors import BacktestError
from engine.backtest.strategies import STOP_PARAMS, Strategy

STOP_NAMES = frozenset(p.name for p in STOP_PARAMS)


@dataclass(frozen=True)
class Grid:
    names: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # per name, in the order given
    combos: tuple[dict[str, Any], ...]  # every combination (defaults filled in)
    variant_of: tuple[int, ...]  # combo -> signal variant
    variants: tuple[dict[str, Any], ...]  # the signal parameters of each variant

    def neighbours(self, i: int) -> list[int]:
        """Combinations one step away from combo ``i`` in exactly one swept parameter."""
        pos = self._position(i)
        out = []
        for j in range(len(self.combos)):
            pj = self._position(j)
            diff = [abs(a - b) for a, b in zip(pos, pj, strict=True)]
            if sum(diff) == 1:
                out.append(j)
        return out

    def _position(self, i: int) -> tuple[int, ...]:
        c = self.combos[i]
        return tuple(vals.index(c[n]) for n, vals in zip(self.names, self.values, strict=True))


def build(strategy: Strategy, given: Mapping[str, Sequence[Any] | Any]) -> Grid:
    """The grid of ``given`` (name -> value or list of values) over the strategy's defaults."""
    names: list[str] = []
    values: list[tuple[Any, ...]] = []
    for name, raw in given.items():
        p = strategy.param(name)
        vals = raw if isinstance(raw, list | tuple) else [raw]
        parsed = tuple(p.parse(v) if isinstance(v, str) and p.kind is not str else v
                       for v in vals)
        parsed = tuple(p.parse(str(v)) if p.choices else v for v in parsed)
        if not parsed:
            raise BacktestError(f"parameter {name}: no values")
        if len(set(parsed)) != len(parsed):
            raise BacktestError(f"parameter {name}: a value is repeated")
        names.append(name)
        values.append(parsed)
    defaults = {p.name: p.default for p in strategy.all_params}
    combos = tuple({**defaults, **dict(zip(names, pick, strict=True))}
                   for pick in itertools.product(*values))
    keys: dict[tuple[Any, ...], int] = {}
    variant_of = []
    variants: list[dict[str, Any]] = []
    for c in combos:
        sig = {k: v for k, v in c.items() if k not in STOP_NAMES}
        key = tuple(sorted(sig.items()))
        if key not in keys:
            keys[key] = len(variants)
            variants.append(sig)
        variant_of.append(keys[key])
    return Grid(tuple(names), tuple(values), combos, tuple(variant_of), tuple(variants))


def estimate_bytes(variants: int, combos: int, symbols: int, minutes: int, outputs: int) -> int:
    """Peak memory of a run, from the array sizes it allocates.

    Prices float64 x 6 (OHLC, filled close, value block), indicator outputs
    float32, per variant 4 signal + 5 order bools and the int32 next-entry
    index, per row the state and one window ``[R, 32]`` of float64 x ~12.
    """
    st = symbols * minutes
    return int(st * (6 * 8 + outputs * 4) + variants * st * (9 + 4 + 4)
               + combos * symbols * 32 * 8 * 12 + combos * symbols * 8 * 64)
