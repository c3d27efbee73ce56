"""The progress events children print and screens read: one typed class per kind.

``avwap train --progress-json`` and ``avwap backtest --progress-json`` print
one JSON object per line; the Training and Backtests screens run them as
child processes and read those lines. Both sides use this module, so a field
renamed on one side is a type error on the other instead of a silent ``None``
from ``dict.get``. ``encode`` writes one line; ``decode`` reads one line back
into its class, or raises ``EventError`` naming the line and what is wrong
with it. The wire format (docs/model.md, docs/backtest.md) is unchanged:
``{"event": KIND, field: value, …}``.

It lives in ``storage`` (the lowest room) because both children (``tui``
commands that drive ``models`` and the engine's backtester) and the screens
must import it, and ``models`` may not import ``tui``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from storage.errors import AvwapError


class EventError(AvwapError):
    """A progress line that is not one of the known events (the message names the line)."""


@dataclass(frozen=True)
class Event:
    """Base of every event; ``kind`` is the wire name (the ``"event"`` key)."""

    kind: ClassVar[str] = ""
    #: Events whose newer copy replaces an older one still queued (plain progress).
    collapses: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


# -- training (``avwap train --progress-json``; docs/model.md) ----------------------------

@dataclass(frozen=True)
class Build(Event):
    kind: ClassVar[str] = "build"
    tickers: int
    days: int


@dataclass(frozen=True)
class BuildProgress(Event):
    kind: ClassVar[str] = "build_progress"
    done: int
    total: int


@dataclass(frozen=True)
class Skipped(Event):
    kind: ClassVar[str] = "skipped"
    symbols: list[str]


@dataclass(frozen=True)
class Start(Event):
    kind: ClassVar[str] = "start"
    name: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    train_samples: int
    val_samples: int
    features: int
    outputs: int
    resumed_at: int | None = None
    processes: int = 1
    test_samples: int = 0
    fold: int = 1
    folds: int = 1


@dataclass(frozen=True)
class Step(Event):
    kind: ClassVar[str] = "step"
    collapses: ClassVar[bool] = True
    epoch: int
    step: int
    steps: int
    global_step: int
    loss: float


@dataclass(frozen=True)
class Epoch(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    global_step: int
    loss: float
    val_loss: float
    selection_accuracy: float
    sparsity: float
    mean_weight: float
    best: bool
    weight_entropy: float = math.nan
    eta_s: float | None = None


@dataclass(frozen=True)
class Checkpoint(Event):
    kind: ClassVar[str] = "checkpoint"
    roles: list[str]
    path: str
    global_step: int


@dataclass(frozen=True)
class Fold(Event):
    kind: ClassVar[str] = "fold"
    fold: int
    folds: int
    test: str
    train_samples: int
    val_samples: int
    test_samples: int


@dataclass(frozen=True)
class FoldEpoch(Event):
    kind: ClassVar[str] = "fold_epoch"
    fold: int
    folds: int
    epoch: int
    epochs: int
    loss: float
    val_loss: float
    selection_accuracy: float
    best: bool


@dataclass(frozen=True)
class Null(Event):
    kind: ClassVar[str] = "null"
    test_days: int


@dataclass(frozen=True)
class Eval(Event):
    """The evaluation table (docs/model.md): spread flat on the wire, kept whole here."""

    kind: ClassVar[str] = "eval"
    table: dict[str, Any]


@dataclass(frozen=True)
class Interrupted(Event):
    kind: ClassVar[str] = "interrupted"
    message: str
    name: str


@dataclass(frozen=True)
class Done(Event):
    """A training ended (``interrupted``: stopped and saved, resumable)."""

    kind: ClassVar[str] = "done"
    name: str
    path: str
    interrupted: bool
    global_step: int | None = None
    fold: int | None = None


@dataclass(frozen=True)
class Error(Event):
    kind: ClassVar[str] = "error"
    message: str


# -- backtests (``avwap backtest --progress-json``; docs/backtest.md) ---------------------

@dataclass(frozen=True)
class BacktestStep(Event):
    """The backtester's stage and how far it is (0..1)."""

    kind: ClassVar[str] = "backtest_step"
    collapses: ClassVar[bool] = True
    stage: str
    fraction: float


@dataclass(frozen=True)
class BacktestDone(Event):
    """The child saved its run as ``run_id`` in the cache it was given."""

    kind: ClassVar[str] = "backtest_done"
    run_id: int
    trades: int
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Saved(Event):
    """The run is in the console's cache as ``run_id`` (posted by the screen's job)."""

    kind: ClassVar[str] = "saved"
    run_id: int


# -- made by the reader of a child's lines, never printed (not in ``KINDS``) ----------------

@dataclass(frozen=True)
class BadLine(Event):
    """A child's line that is no known event: ``message`` is ``EventError``'s one line."""

    kind: ClassVar[str] = "bad_line"
    message: str


@dataclass(frozen=True)
class Report(Event):
    """A child's one JSON object that reports rather than progresses
    (``avwap precheck --json``); ``report`` is that object as printed."""

    kind: ClassVar[str] = "report"
    report: dict[str, Any]


KINDS: dict[str, type[Event]] = {c.kind: c for c in (
    Build, BuildProgress, Skipped, Start, Step, Epoch, Checkpoint, Fold, FoldEpoch, Null,
    Eval, Interrupted, Done, Error, BacktestStep, BacktestDone, Saved)}


def to_dict(ev: Event) -> dict[str, Any]:
    """The wire object: ``{"event": kind, **fields}`` (``Eval``'s table spread flat)."""
    if isinstance(ev, Eval):
        return {"event": ev.kind, **ev.table}
    return {"event": ev.kind, **{f.name: getattr(ev, f.name) for f in dataclasses.fields(ev)}}


def encode(ev: Event) -> str:
    """One JSON line (no newline); NaN stays NaN as Python's json reads it back."""
    return json.dumps(to_dict(ev), default=str)


def decode(line: str | bytes) -> Event:
    """The event on one line, or ``EventError`` naming the line and the problem."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(text, f"not JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise _bad(text, "not a JSON object")
    return from_dict(obj, line=text)


def from_dict(obj: Mapping[str, Any], *, line: str | None = None) -> Event:
    """The event a parsed wire object holds (``decode`` after ``json.loads``)."""
    shown = line if line is not None else json.dumps(obj, default=str)
    kind = obj.get("event")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _bad(shown, f"unknown event {kind!r}" if kind is not None
                   else 'no "event" key')
    rest = {k: v for k, v in obj.items() if k != "event"}
    if cls is Eval:
        return Eval(table=rest)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(rest) - set(fields))
    if extra:
        raise _bad(shown, f"{kind!r} has no field {', '.join(map(repr, extra))}")
    missing = [n for n, f in fields.items() if n not in rest
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _bad(shown, f"{kind!r} lacks {', '.join(map(repr, missing))}")
    for name, value in rest.items():
        if not _fits(value, hints[name]):
            raise _bad(shown, f"{kind!r} field {name!r} is {value!r}, not {_name(hints[name])}")
    return cls(**rest)


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def _bad(line: str, why: str) -> EventError:
    shown = line if len(line) <= 200 else line[:200] + "…"
    return EventError(f"bad progress line: {why}: {shown}")
