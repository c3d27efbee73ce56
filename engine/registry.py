"""The one registry of indicator outputs, and the interface every indicator implements.

``REGISTRY`` is an explicit object built from declarations: each family module
under ``engine/indicators/`` declares ``INDICATORS`` (its ``Indicator`` values)
and ``META`` (one ``engine.meta.OutputMeta`` per output) as data, with no side
effect at import; ``engine.indicators.DECLARED`` lists the families. Output
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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import mlx.core as mx
import numpy as np

from engine.meta import (
    Direction,
    History,
    Kind,
    OutputMeta,
    Scale,
    direction_reading,
)
from storage.types import BarBatch, Panel

__all__ = [
    "FAMILIES", "REGISTRY", "BatchInputs", "Direction", "History", "Host", "Indicator", "Kind",
    "OutputMeta", "Outputs", "Registry", "Scale", "State", "StepInputs", "indicator_for",
    "indicators", "needed", "output_names", "reading",
]

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
    # The same prices as int32 ticks of 1/10,000 (0 where invalid): price differences,
    # ranges and ties are taken from these, exactly (``engine.inputs``, ``engine.kernels``).
    open_t: mx.array
    high_t: mx.array
    low_t: mx.array
    close_t: mx.array
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
    open_t: mx.array  # int32 ticks of 1/10,000 [S], as in ``BatchInputs``
    high_t: mx.array
    low_t: mx.array
    close_t: mx.array
    extra: dict[str, mx.array] = field(default_factory=dict)  # host slices (see ``Host``)


class Host(Protocol):
    """History an indicator keeps in NumPy, outside the compiled step."""

    def init(self, s: int) -> Any: ...

    def read(self, hs: Any, batch: BarBatch) -> dict[str, np.ndarray]: ...

    def write(self, hs: Any, batch: BarBatch) -> None: ...

    def from_panel(self, panel: Panel) -> Any:
        """The history after writing every minute of ``panel``, without stepping."""
        ...


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
    warmups: dict[str, int] = field(default_factory=dict)  # per-output override of ``warmup``
    host: Host | None = None  # NumPy-side history, read/written around each step
    #: The state after a whole panel, exactly, when one exists: in closed form (the
    #: calendar AVWAP: sums over each anchor's current segment) or derived from the
    #: batch form (running sums: OBV, A/D). ``IncrementalEngine.warm`` uses it for
    #: outputs whose declared history is unbounded, instead of stepping it all.
    #: For a bar-sequence indicator it is the inner state ``seq.init`` makes.
    warm_state: Callable[[Panel], State] | None = None
    seq: Any = None  # ``engine.indicators.base.SeqSpec`` when built by ``seq_indicator``

    def warmup_of(self, name: str) -> int:
        """Real bars of NaN before ``name`` has a value (``warmup`` unless overridden)."""
        return self.warmups.get(name, self.warmup)


class Registry:
    """Every indicator and every output's metadata, built once from the families' declarations.

    Why an explicit object: importing a family module has no side effect (each
    declares ``INDICATORS`` and ``META`` as data); ``engine.indicators.DECLARED``
    lists the families in one place and this object checks them together (unique
    keys and output names, a known family, exactly one ``OutputMeta`` per output)
    the first time it is asked anything, so import order cannot matter.
    """

    def __init__(self, load: Callable[[], tuple[Iterable[Indicator], Iterable[OutputMeta]]]):
        self._load = load
        self._inds: dict[str, Indicator] | None = None
        self._out_key: dict[str, str] = {}
        self._meta: dict[str, OutputMeta] = {}

    def _built(self) -> dict[str, Indicator]:
        if self._inds is None:
            inds, metas = self._load()
            self._build(list(inds), list(metas))
        assert self._inds is not None
        return self._inds

    def _build(self, inds: list[Indicator], metas: list[OutputMeta]) -> None:
        table: dict[str, Indicator] = {}
        out_key: dict[str, str] = {}
        for ind in inds:
            if ind.family not in FAMILIES:
                raise ValueError(f"{ind.key}: unknown family {ind.family!r}")
            if ind.key in table:
                raise ValueError(f"indicator {ind.key!r} declared twice")
            for name in ind.outputs:
                if name in out_key:
                    raise ValueError(f"output {name!r} of {ind.key} already declared "
                                     f"by {out_key[name]}")
                out_key[name] = ind.key
            table[ind.key] = ind
        meta: dict[str, OutputMeta] = {}
        for m in metas:
            if m.name not in out_key:
                raise ValueError(f"metadata for {m.name!r}, which no indicator outputs")
            if m.name in meta:
                raise ValueError(f"metadata for {m.name!r} declared twice")
            meta[m.name] = m
        missing = [n for n in out_key if n not in meta]
        if missing:
            raise ValueError(f"outputs without metadata: {', '.join(missing)}")
        for name, m in meta.items():
            ind = table[out_key[name]]
            if m.history.unbounded and ind.warm_state is None:
                raise ValueError(f"{name}: unbounded history needs {ind.key}.warm_state")
        self._out_key, self._meta, self._inds = out_key, meta, table

    # -- lookups ---------------------------------------------------------------

    def indicators(self) -> list[Indicator]:
        return list(self._built().values())

    def output_names(self) -> list[str]:
        """Every output name, in declaration order."""
        return [n for ind in self._built().values() for n in ind.outputs]

    def indicator_for(self, name: str) -> Indicator:
        inds = self._built()
        try:
            return inds[self._out_key[name]]
        except KeyError:
            raise KeyError(f"no indicator output named {name!r}") from None

    def needed(self, names: Iterable[str] | None) -> list[Indicator]:
        """The indicators that produce ``names`` (all when None), declaration order."""
        inds = self._built()
        if names is None:
            return list(inds.values())
        keys = {self.indicator_for(n).key for n in names}
        return [ind for ind in inds.values() if ind.key in keys]

    def meta(self, name: str) -> OutputMeta:
        self._built()
        try:
            return self._meta[name]
        except KeyError:
            raise KeyError(f"no indicator output named {name!r} (see `avwap indicators`)") \
                from None

    def selectable(self) -> list[str]:
        """Outputs with a directional reading (the selection model's candidates)."""
        return [n for n in self.output_names() if self._meta[n].direction is not None]

    def history_need(self, names: Iterable[str] | None = None) -> tuple[int, int]:
        """(real bars, sessions) ``warm`` must step for ``names``: the declared maxima.

        Unbounded outputs need neither (their indicator's exact ``warm_state``);
        replayed ones need the current session only.
        """
        wanted = self.output_names() if names is None else list(names)
        bars, sessions = 0, 0
        for n in wanted:
            h = self.meta(n).history
            if h.unbounded:
                continue
            if h.replayed:
                sessions = max(sessions, 1)
                continue
            bars, sessions = max(bars, h.bars or 0), max(sessions, h.sessions or 0)
        return bars, sessions

    def step_sessions(self, names: Iterable[str] | None = None) -> int:
        """Sessions ``IncrementalEngine.warm`` must step for ``names`` to equal the batch.

        The maximum of the outputs' declared ``History`` (an unbounded output needs
        none: its indicator's ``warm_state`` gives the exact state).
        """
        wanted = self.output_names() if names is None else list(names)
        return max((self.meta(n).history.step_sessions() for n in wanted), default=0)


def _declarations() -> tuple[list[Indicator], list[OutputMeta]]:
    from engine.indicators import DECLARED  # the families import this module's types

    inds = [ind for fam in DECLARED for ind in fam.INDICATORS]
    metas = [m for fam in DECLARED for m in fam.META]
    return inds, metas


#: The registry of the app: every name the model, the backtester and the UI use.
REGISTRY = Registry(_declarations)


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
