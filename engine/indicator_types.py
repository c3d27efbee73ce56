"""The indicator types: what an indicator is, what it reads, and the registry's shape.

Why a module of its own: every family module, the AVWAP kernels, the input
builders and the engine's stepping all need these types, while the catalogue
(``engine.indicators.REGISTRY``) needs every family. With the types here,
nothing imports the catalogue to learn a type, so there is no registry <->
families cycle and ``Indicator.seq`` is typed. The contract every indicator
implements is described in ``engine.registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import mlx.core as mx
import numpy as np

from engine.meta import OutputMeta
from storage.types import BarBatch, Panel

if TYPE_CHECKING:
    from engine.kernels import Compact

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
    seq: SeqSpec | None = None  # set by ``engine.indicators.base.seq_indicator``

    @property
    def spec(self) -> SeqSpec:
        """``seq`` of a bar-sequence indicator (``ValueError`` for any other)."""
        if self.seq is None:
            raise ValueError(f"{self.key} is not a bar-sequence indicator")
        return self.seq

    def warmup_of(self, name: str) -> int:
        """Real bars of NaN before ``name`` has a value (``warmup`` unless overridden)."""
        return self.warmups.get(name, self.warmup)


@dataclass(frozen=True)
class Bar:
    """One real bar per symbol (``[S]``) and how many real bars, this one included."""

    open: mx.array
    high: mx.array
    low: mx.array
    close: mx.array
    volume: mx.array
    n: mx.array  # int32 [S]
    open_t: mx.array  # int32 ticks of 1/10,000 (``engine.kernels.to_price``)
    high_t: mx.array
    low_t: mx.array
    close_t: mx.array


InitFn = Callable[[int], State]
StepFn = Callable[[State, Bar], tuple[State, Outputs]]
#: The inner state after each symbol's first ``m`` compacted bars, read off the
#: batch series (``engine.indicators.warm``): ``(bars, m int32 [S]) -> State``.
StateFn = Callable[["Compact", mx.array], State]


@dataclass(frozen=True)
class SeqSpec:
    """The raw maths of a bar-sequence indicator, for an engine that fuses them.

    ``IncrementalEngine`` steps every ``seq_indicator`` with one shared real-bar
    count and masks all their outputs at once (warm-up, missing bars), instead
    of each wrapper doing it per output: far fewer graph nodes per minute.
    """

    init: InitFn
    step: StepFn
    warm: dict[str, int]
    #: The step state from the batch (``StateFn``): how ``IncrementalEngine.warm``
    #: warms this indicator without stepping minutes.
    state: StateFn | None = None


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
