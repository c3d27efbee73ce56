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
        parsed = tuple(p.parse(str(v)) if p.choices else p.check(v) for v in parsed)
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


#: Bytes a kept trade costs at the peak: 11 fields x 8 bytes, held as the
#: simulator's records, their concatenation, the sorted ``Trades`` and the Arrow
#: copy the caller saves.
TRADE_BYTES = 11 * 8 * 4


def estimate_bytes(variants: int, combos: int, symbols: int, minutes: int, outputs: int,
                   history_minutes: int = 0) -> int:
    """Peak memory of a run, from the array sizes it allocates.

    Over the loaded minutes (history before the start included): prices float64
    x 6 (OHLC, filled close, value block), indicator outputs float32, the
    previous-bar index int64 and the band counts. Over the traded minutes, per
    variant 4 signal + 5 order bools and the int32 next-entry index; per row
    the state and one window ``[R, 32]`` of float64 x ~12; per combination its
    statistics and sampled curves; and a first guess at the trades (one per
    row and session), which ``trade_bytes`` checks again once the orders are known.
    """
    loaded = symbols * (minutes + history_minutes)
    st = symbols * minutes
    rows = combos * symbols
    sessions = max(minutes // 390, 1)
    return int(loaded * (6 * 8 + outputs * 4 + 8 + 4) + variants * st * (9 + 4 + 4)
               + rows * 32 * 8 * 12 + rows * 8 * 64 + combos * (3 * 24 + 2000) * 8
               + trade_bytes(rows * sessions))


def trade_bytes(trades: int) -> int:
    """Memory of ``trades`` kept trade records (``TRADE_BYTES`` each)."""
    return int(trades) * TRADE_BYTES
