"""The one registry of indicator outputs, and the interface every indicator implements.

``REGISTRY`` is an explicit object built from declarations: each family module
under ``engine/indicators/`` declares ``INDICATORS`` (its ``Indicator`` values)
and ``META`` (one ``engine.meta.OutputMeta`` per output) as data, with no side
effect at import; ``engine/indicators/__init__.py`` lists the families and
builds the catalogue. The types (``Indicator``, ``BatchInputs``, ``Registry``
…) live in ``engine.indicator_types``, which imports no family: this module
re-exports them with the catalogue for the rooms above the engine. Output
metadata (kind, range, scale, history, direction, prior) is read with
``REGISTRY.meta(name)``; ``reading(name, value, close)`` gives the directional
reading the model and the backtester share.

Names declared here (``avwap_session``, ``rsi_14`` …) are the keys the
selection model, the backtester and the UI use; they never change meaning.

An ``Indicator`` is one computation that may produce several named outputs
(MACD gives line, signal and histogram). It has two forms that must agree bar
for bar (``tests/engine/test_registry_parity.py`` proves it for every entry):

- ``batch(inp: BatchInputs) -> dict[str, mx.array]``: every output as ``[S, T]``
  float32 over a whole panel; no Python loop over symbols.
- ``init(S) -> State`` and ``step(state, inp: StepInputs) -> (State, outputs)``:
  advance the state for all S symbols by one minute; ``outputs`` maps each
  output name to an ``[S]`` array. ``step`` must be a pure function of MLX
  arrays so the engine can ``mx.compile`` all indicators' steps into one call.
  Revising a still-forming minute is handled by the engine (it keeps the state
  from before the minute and re-steps), so ``step`` never needs to know.

Missing bars: at a minute where a symbol has no bar (``valid`` False), its state
is not advanced by a bar (calendar resets still apply) and its outputs are those
of the unchanged state: a rolling indicator repeats its last value, an AVWAP in
a new segment is NaN until that segment's first bar. Batch forms reproduce this
(compute on each symbol's sequence of real bars, then carry values forward).
Warm-up: the first ``warmup`` real bars of a symbol give NaN, as TA-Lib does
(``warmups`` overrides it per output when one computation's outputs differ, e.g.
ADX and +DI). Session-anchored (intraday) outputs are NaN until their segment's
data exists instead, and ``warmup`` is 0 for them.

``host`` (optional) keeps a large history outside the compiled step, in NumPy:
copying a ``[S, days, minutes]`` array through a pure step every minute costs
more than all the maths. Before each step the engine asks the host for the
current minute's small slice (``read`` -> ``StepInputs.extra``); after it, the
host writes that minute's column in place (``write``). Both must be idempotent
for a revised minute (same ``ts``), so re-stepping never double counts.

The TA-Lib and talipp expressions the tests and the benchmark hold outputs to
are not part of the runtime type: they live in ``tests/engine/references.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.indicator_types import (
    FAMILIES,
    BatchInputs,
    Host,
    Indicator,
    Outputs,
    Registry,
    State,
    StepInputs,
)
from engine.indicators import REGISTRY
from engine.meta import (
    Direction,
    History,
    Kind,
    OutputMeta,
    Scale,
    direction_reading,
)

__all__ = [
    "FAMILIES", "REGISTRY", "BatchInputs", "Direction", "History", "Host", "Indicator", "Kind",
    "OutputMeta", "Outputs", "Registry", "Scale", "State", "StepInputs", "indicator_for",
    "indicators", "needed", "output_names", "reading",
]


def reading(name: str, value: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``name``'s directional reading: int8 in {-1, 0, +1} (0 for NaN value or close).

    Raises ``ValueError`` for an output without a direction (a feature only).
    """
    d = REGISTRY.meta(name).direction
    if d is None:
        raise ValueError(f"{name} has no directional reading (a feature only)")
    return direction_reading(d, value, close)


# Module-level helpers kept for existing callers: thin wrappers over ``REGISTRY``.


def indicators() -> list[Indicator]:
    return REGISTRY.indicators()


def output_names() -> list[str]:
    """Every registered output name, in declaration order."""
    return REGISTRY.output_names()


def indicator_for(name: str) -> Indicator:
    return REGISTRY.indicator_for(name)


def needed(names: Iterable[str] | None) -> list[Indicator]:
    """The indicators that produce ``names`` (all when None), declaration order."""
    return REGISTRY.needed(names)
