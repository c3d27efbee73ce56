"""Snapshot: everything the UI shows for one minute, as plain NumPy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Regime codes (``Snapshot.regime`` and the ``regime`` feature).
REGIMES: tuple[str, ...] = ("range", "trend-up", "trend-down", "volatile")


@dataclass(frozen=True)
class Snapshot:
    """The engine's state after one minute, for all symbols.

    ``values[S, F]`` holds every requested output (``names``) for every symbol;
    ``last``/``volume`` are the symbol's latest real bar (carried across missing
    minutes); ``regime[S]`` indexes ``REGIMES`` (-1 while unknown).
    """

    ts: np.datetime64
    symbols: tuple[str, ...]
    names: tuple[str, ...]
    values: np.ndarray
    last: np.ndarray
    volume: np.ndarray
    valid: np.ndarray
    regime: np.ndarray
    final: bool = True
    extra: dict[str, object] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def value(self, symbol: str, name: str) -> float:
        return float(self.values[self.symbols.index(symbol), self.names.index(name)])

    def row(self, symbol: str) -> dict[str, float]:
        i = self.symbols.index(symbol)
        return {n: float(v) for n, v in zip(self.names, self.values[i], strict=True)}
