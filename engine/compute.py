"""Batch computation of registry outputs over a whole Panel: ``compute``.

One call evaluates every requested indicator's batch form on the same MLX
inputs (so the per-symbol compaction of real bars is shared) and stacks the
outputs into one ``[S, T, F]`` array the models and the backtester consume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from engine.inputs import batch_inputs
from engine.registry import BatchInputs, needed, output_names
from storage.types import Panel


@dataclass(frozen=True)
class Features:
    """Indicator outputs for a panel: ``values[S, T, F]`` float32, named by ``names``."""

    values: mx.array
    names: tuple[str, ...]
    symbols: tuple[str, ...]
    ts: np.ndarray

    def index(self, name: str) -> int:
        return self.names.index(name)

    def column(self, name: str) -> mx.array:
        """One output as ``[S, T]``."""
        return self.values[:, :, self.index(name)]

    def numpy(self) -> np.ndarray:
        return np.array(self.values)


def compute_outputs(inp: BatchInputs, names: Iterable[str] | None = None) -> dict[str, mx.array]:
    """Each requested output as ``[S, T]`` (all registered outputs when None)."""
    wanted = list(names) if names is not None else output_names()
    out: dict[str, mx.array] = {}
    for ind in needed(wanted):
        res = ind.batch(inp)
        for name in ind.outputs:
            out[name] = res[name]
    return {n: out[n] for n in wanted}


def compute(panel: Panel, names: Iterable[str] | None = None) -> Features:
    """``engine.compute(panel, names=None) -> Features`` (whole registry when None)."""
    wanted = tuple(names) if names is not None else tuple(output_names())
    cols = compute_outputs(batch_inputs(panel), wanted)
    values = mx.stack([cols[n] for n in wanted], axis=2)
    mx.eval(values)
    return Features(values=values, names=wanted, symbols=panel.symbols, ts=panel.ts)
