"""Batch computation of registry outputs over a whole Panel: ``compute``.

One call evaluates every requested indicator's batch form on the same MLX
inputs (so the per-symbol compaction of real bars is shared) and stacks the
outputs into one ``[S, T, F]`` array the models and the backtester consume.

The time axis is padded to one of a few lengths (``padded_length``): each
``mx.compile``d batch kernel keeps a compiled graph, with buffers, for every
input shape it has seen, for the life of the process (MLX never evicts them). A
console computes batches over "the bars until now" (priming a model, drawing
candles), one minute longer each time: unpadded, each minute was a new graph
per kernel (~6 MB and a retrace each; ``bench/tui.py``: 1 GB after priming the
``all`` list). Padded, the shape changes once every few hundred minutes, and
the values are the same bit for bit (``engine.inputs.pad_time``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from engine.inputs import batch_inputs, pad_time
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


#: A batch of T minutes is padded to a multiple of the largest power of two at
#: most T / PAD_PARTS: at most 1/PAD_PARTS more minutes, and a growing T meets a
#: new length only every T / (2 PAD_PARTS) minutes or more.
PAD_PARTS = 16


def padded_length(t: int) -> int:
    """The length a batch of ``t`` minutes is computed at (see the module docstring)."""
    if t <= PAD_PARTS:
        return t
    step = 1 << ((t // PAD_PARTS).bit_length() - 1)  # the power of two <= t / PAD_PARTS
    return -(-t // step) * step


def compute_outputs(inp: BatchInputs, names: Iterable[str] | None = None) -> dict[str, mx.array]:
    """Each requested output as ``[S, T]`` (all registered outputs when None)."""
    wanted = list(names) if names is not None else output_names()
    t = inp.valid.shape[1]
    run = pad_time(inp, padded_length(t))
    out: dict[str, mx.array] = {}
    for ind in needed(wanted):
        res = ind.batch(run)
        for name in ind.outputs:
            out[name] = res[name]
    if run is inp:
        return {n: out[n] for n in wanted}
    return {n: out[n][:, :t] for n in wanted}


def compute(panel: Panel, names: Iterable[str] | None = None) -> Features:
    """``engine.compute(panel, names=None) -> Features`` (whole registry when None)."""
    wanted = tuple(names) if names is not None else tuple(output_names())
    cols = compute_outputs(batch_inputs(panel), wanted)
    values = mx.stack([cols[n] for n in wanted], axis=2)
    mx.eval(values)
    return Features(values=values, names=wanted, symbols=panel.symbols, ts=panel.ts)
