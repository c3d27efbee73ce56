"""The one registry of indicator outputs, and the interface every indicator implements.

Names registered here (``avwap_session``, ``rsi_14`` …) are the keys the
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

``talib`` maps an output to the TA-Lib expression it must match (evaluated by the
parity tests and the benchmark with ``talib``, ``o h l c v`` float64 in scope);
``talipp`` likewise names the talipp indicator the benchmark steps against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import mlx.core as mx
import numpy as np

from storage.types import BarBatch, Panel

State = dict[str, mx.array]
Outputs = dict[str, mx.array]

FAMILIES: tuple[str, ...] = ("avwap", "trend", "momentum", "volatility", "volume", "intraday")


@dataclass(frozen=True)
class BatchInputs:
    """A Panel as MLX arrays (float32 ``[S, T]``; segments int32 ``[T]``)."""

    open: mx.array
    high: mx.array
    low: mx.array
    close: mx.array
    volume: mx.array
    valid: mx.array  # bool [S, T]
    segments: dict[str, mx.array]  # kind -> [T]
    minute_of_session: mx.array  # int32 [T]
    session_minutes: mx.array  # int32 [T]
    ts_minutes: mx.array  # int32 [T], UTC minutes since 1970 (bar start) // fits until 6053
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepInputs:
    """One minute for all symbols (float32 ``[S]``; segments int32 scalars as ``[1]``)."""

    open: mx.array
    high: mx.array
    low: mx.array
    close: mx.array
    volume: mx.array
    valid: mx.array  # bool [S]
    segments: dict[str, mx.array]  # kind -> int32 [1]
    minute_of_session: mx.array  # int32 [1]
    session_minutes: mx.array  # int32 [1]
    ts_minutes: mx.array  # int32 [1]
    extra: dict[str, mx.array] = field(default_factory=dict)  # host slices (see ``Host``)


class Host(Protocol):
    """History an indicator keeps in NumPy, outside the compiled step."""

    def init(self, s: int) -> Any: ...

    def read(self, hs: Any, batch: BarBatch) -> dict[str, np.ndarray]: ...

    def write(self, hs: Any, batch: BarBatch) -> None: ...


@dataclass(frozen=True)
class Indicator:
    """One registered computation and the outputs it names."""

    key: str
    family: str
    outputs: tuple[str, ...]
    params: dict[str, Any]
    warmup: int
    batch: Callable[[BatchInputs], Outputs]
    init: Callable[[int], State]
    step: Callable[[State, StepInputs], tuple[State, Outputs]]
    description: str = ""
    talib: dict[str, str] = field(default_factory=dict)  # output -> TA-Lib expression, if any
    warmups: dict[str, int] = field(default_factory=dict)  # per-output override of ``warmup``
    talipp: dict[str, str] = field(default_factory=dict)  # output -> talipp expression, if any
    host: Host | None = None  # NumPy-side history, read/written around each step
    #: The state after a whole panel in closed form, when one exists (the calendar
    #: AVWAP: sums over each anchor's current segment). ``IncrementalEngine.warm``
    #: uses it to warm exactly without stepping every minute of a long history.
    warm_state: Callable[[Panel], State] | None = None
    seq: Any = None  # ``engine.indicators.base.SeqSpec`` when built by ``seq_indicator``

    def warmup_of(self, name: str) -> int:
        """Real bars of NaN before ``name`` has a value (``warmup`` unless overridden)."""
        return self.warmups.get(name, self.warmup)


_REGISTRY: dict[str, Indicator] = {}
_OUTPUT_TO_KEY: dict[str, str] = {}


def register(ind: Indicator) -> Indicator:
    """Add an indicator; output names must be unique across the registry."""
    if ind.family not in FAMILIES:
        raise ValueError(f"{ind.key}: unknown family {ind.family!r}")
    if ind.key in _REGISTRY:
        raise ValueError(f"indicator {ind.key!r} registered twice")
    for name in ind.outputs:
        if name in _OUTPUT_TO_KEY:
            raise ValueError(f"output {name!r} of {ind.key} already registered")
    _REGISTRY[ind.key] = ind
    for name in ind.outputs:
        _OUTPUT_TO_KEY[name] = ind.key
    return ind


def indicators() -> list[Indicator]:
    _load_all()
    return list(_REGISTRY.values())


def output_names() -> list[str]:
    """Every registered output name, in registration order."""
    _load_all()
    return [n for ind in _REGISTRY.values() for n in ind.outputs]


def indicator_for(name: str) -> Indicator:
    _load_all()
    try:
        return _REGISTRY[_OUTPUT_TO_KEY[name]]
    except KeyError:
        raise KeyError(f"no indicator output named {name!r}") from None


def needed(names: Iterable[str] | None) -> list[Indicator]:
    """The indicators that produce ``names`` (all when None), registry order."""
    _load_all()
    if names is None:
        return list(_REGISTRY.values())
    keys = {indicator_for(n).key for n in names}
    return [ind for ind in _REGISTRY.values() if ind.key in keys]


def _load_all() -> None:
    """Import the indicator families so they register themselves."""
    import engine.indicators  # noqa: F401  (its __init__ imports every family)
