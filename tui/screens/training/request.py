"""What a training run is asked to do, checked field by field (no widgets here).

The form's text goes through ``parse_form``: every field is checked on its
own, with a one-line reason when it is out of range, so the screen can mark
it inline; only a fully valid form becomes a ``TrainRequest``, whose
``precheck_argv``/``train_argv`` are the same flags as ``avwap precheck`` and
``avwap train`` (the screen runs exactly those commands in a child process).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tui.runtime.jobs import cli_argv

REGULAR_MINUTES = 390


@dataclass(frozen=True)
class Field:
    """One form field: its default text and a hint shown beside it."""

    key: str
    label: str
    default: str
    hint: str


FIELDS: tuple[Field, ...] = (
    Field("days", "Days", "20", "sessions in the window (≥ 3: training, validation, test)"),
    Field("epochs", "Epochs", "10", "passes over the training samples"),
    Field("interval", "Sample interval", "15", "minutes between samples (1-390)"),
    Field("max_tickers", "Max tickers", "", "use at most N symbols of the list (blank: all)"),
    Field("lookback", "Lookback", "120", "minutes the model sees per sample"),
    Field("horizon", "Horizon", "15", "forward-return minutes the labels judge"),
    Field("top_k", "Top-k", "10", "indicators the model picks"),
    Field("seed", "Seed", "0", "same seed, same data order and weights"),
    Field("name", "Name", "", "model name (blank: list and date)"),
)
DEFAULTS: dict[str, str] = {f.key: f.default for f in FIELDS}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class TrainRequest:
    list_name: str
    symbols: tuple[str, ...]
    days: int
    epochs: int
    interval: int
    max_tickers: int | None
    lookback: int
    horizon: int
    top_k: int
    seed: int
    name: str

    @property
    def samples_key(self) -> tuple[object, ...]:
        """What decides the samples (and so the precheck): not the name, epochs, top-k
        or seed, so editing those never re-runs a precheck that already passed."""
        return (self.list_name, self.tickers, self.days, self.interval, self.lookback,
                self.horizon)

    @property
    def tickers(self) -> tuple[str, ...]:
        """The symbols the run uses (the list, cut to ``max_tickers``)."""
        return self.symbols[: self.max_tickers] if self.max_tickers else self.symbols

    def _data_flags(self) -> list[str]:
        return ["--tickers", ",".join(self.tickers), "--days", str(self.days),
                "--sample-interval", str(self.interval), "--lookback", str(self.lookback),
                "--horizon", str(self.horizon)]

    def precheck_argv(self, db: str, min_samples: int | None = None) -> list[str]:
        extra = ["--min-samples", str(min_samples)] if min_samples is not None else []
        return [*cli_argv(), "--db", db, "precheck", *self._data_flags(), *extra, "--json"]

    def train_argv(self, db: str, *, resume: bool = False,
                   min_samples: int | None = None) -> list[str]:
        extra = ["--min-samples", str(min_samples)] if min_samples is not None else []
        run = ["--resume", self.name] if resume else ["--name", self.name]
        return [*cli_argv(), "--db", db, "train", *self._data_flags(), "--epochs",
                str(self.epochs), "--top-k", str(self.top_k), "--seed", str(self.seed),
                *run, *extra, "--progress-json"]


def _int(lo: int, hi: int, what: str) -> Callable[[str], tuple[int | None, str | None]]:
    def check(text: str) -> tuple[int | None, str | None]:
        try:
            value = int(text.strip())
        except ValueError:
            return None, f"{what} must be a whole number"
        if not lo <= value <= hi:
            return None, f"{what} must be from {lo} to {hi}"
        return value, None

    return check


CHECKS: dict[str, Callable[[str], tuple[int | None, str | None]]] = {
    "days": _int(1, 2000, "days"),
    "epochs": _int(1, 1000, "epochs"),
    "interval": _int(1, REGULAR_MINUTES, "the interval"),
    "lookback": _int(10, 5000, "the lookback"),
    "horizon": _int(1, REGULAR_MINUTES - 1, "the horizon"),
    "top_k": _int(1, 100, "top-k"),
    "seed": _int(0, 2**31 - 1, "the seed"),
}


def free_name(base: str, taken: Callable[[str], bool]) -> str:
    """``base``, or ``base-2``, ``base-3`` … : the first name no model has yet."""
    name, n = base, 1
    while taken(name):
        n += 1
        name = f"{base}-{n}"
    return name


def same_samples(a: TrainRequest | None, b: TrainRequest | None) -> bool:
    """Whether two requests build the same samples (one precheck serves both)."""
    return a is not None and b is not None and a.samples_key == b.samples_key


def parse_form(values: dict[str, str], list_name: str | None, symbols: tuple[str, ...] | None,
               list_error: str | None, default_name: str,
               taken: Callable[[str], bool] = lambda name: False,
               ) -> tuple[TrainRequest | None, dict[str, str]]:
    """(request or None, {field: why it is wrong}) for the form's current text.

    A blank name becomes the first free one of ``default_name``, ``-2``, ``-3`` …
    (a second training on the same day used to fail in the child with a CLI
    flag's error); a typed name that ``taken`` says exists is an error on the
    Name field itself.
    """
    errors: dict[str, str] = {}
    parsed: dict[str, int | None] = {}
    for key, check in CHECKS.items():
        parsed[key], err = check(values.get(key, DEFAULTS[key]))
        if err:
            errors[key] = err
    mt = values.get("max_tickers", "").strip()
    max_tickers: int | None = None
    if mt:
        max_tickers, err = _int(1, 100_000, "max tickers")(mt)
        if err:
            errors["max_tickers"] = err
    typed = values.get("name", "").strip()
    name = typed or free_name(default_name, taken)
    if not _NAME.match(name):
        errors["name"] = "letters, digits, '.', '_' or '-' (up to 64)"
    elif typed and taken(typed):
        errors["name"] = f"a model named {typed!r} exists: choose another name (blank: a free one)"
    if list_error or not symbols or not list_name:
        errors["list"] = list_error or "choose a ticker list"
    days, lookback = parsed.get("days"), parsed.get("lookback")
    if days and lookback and lookback >= days * REGULAR_MINUTES:
        errors["lookback"] = f"the lookback must be shorter than {days} days of minutes"
    if errors:
        return None, errors
    assert list_name is not None and symbols is not None
    return TrainRequest(list_name, symbols, int(parsed["days"] or 0), int(parsed["epochs"] or 0),
                        int(parsed["interval"] or 0), max_tickers, int(parsed["lookback"] or 0),
                        int(parsed["horizon"] or 0), int(parsed["top_k"] or 0),
                        int(parsed["seed"] or 0), name), {}
