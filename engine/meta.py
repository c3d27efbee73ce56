"""What each registry output *is*: its kind, range, scale, history and directional reading.

Why a module of its own: the engine, the selection model and the backtester all
act on these facts (``IncrementalEngine.warm`` steps as many sessions as the
outputs in use declare; the model makes each output scale-free by its ``scale``;
the model and the backtester read a direction with the one vectorized
``reading``), so they are declared once, as data, beside each indicator family
(``META`` tuples in ``engine/indicators/*.py``) and collected by
``engine.registry.REGISTRY``. Nothing here is a function of a particular
indicator's maths, and nothing here imports MLX.

The contract (``docs/registry.md``; the per-output table is ``docs/indicators.md``):

- ``Kind``: LEVEL (a price level), BAND (a level offset from another), OSCILLATOR
  (bounded, ``value_range`` set), ZSCORE, PRICE_DIFF (price units), RATIO
  (scale-free, unbounded), CUMULATIVE (running sums), COUNT, CATEGORICAL, VOLUME
  (volume units, e.g. ADOSC).
- ``Scale``: how a model makes the value scale-free (see the enum).
- ``History``: what ``warm()`` must see or step for the value to equal the batch
  value: a number of real bars, of sessions, or unbounded (a running sum; the
  indicator then provides an exact warm state).
- ``Direction``: declarative data, never a lambda, so it can be printed,
  compared and tested; ``reading`` evaluates it for whole arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

#: Regular-session minutes of a full US equity day, to turn bars into sessions.
SESSION_BARS = 390
#: An exponential memory is "forgotten" once its weight is below this (1e-4 of the
#: difference between two starting states: a few 1e-6 of the price at minute scale).
MEMORY_EPS = 1e-4


class Kind(Enum):
    """What sort of number an output is (decides tolerances and normalization)."""

    LEVEL = "level"
    BAND = "band"
    OSCILLATOR = "oscillator"
    ZSCORE = "zscore"
    PRICE_DIFF = "price_diff"
    RATIO = "ratio"
    CUMULATIVE = "cumulative"
    COUNT = "count"
    CATEGORICAL = "categorical"
    VOLUME = "volume"

    @property
    def price_like(self) -> bool:
        """Values in the symbol's price units around its price (levels and bands)."""
        return self in (Kind.LEVEL, Kind.BAND)


class Scale(Enum):
    """How a model makes an output scale-free.

    PRICE_DISTANCE: ``(close - value) / atr`` (levels, bands).
    PRICE_UNITS: ``value / atr`` (MACD, ATR, stddev, momentum).
    RANGE: ``(value - lo) / (hi - lo)`` with ``value_range``.
    NONE: the value as is (z-scores, ratios, counts, categories).
    DIFF: the change over the model's lookback divided by its RMS (running sums).
    RMS: the value divided by its RMS over the model's lookback (volume-unit
    oscillators centred on 0, e.g. ADOSC).
    """

    PRICE_DISTANCE = "price_distance"
    PRICE_UNITS = "price_units"
    RANGE = "range"
    NONE = "none"
    DIFF = "diff"
    RMS = "rms"


@dataclass(frozen=True)
class History:
    """What ``IncrementalEngine.warm`` must step for an output to equal its batch value.

    ``bars``: real bars (a window, or an exponential memory's length to
    ``MEMORY_EPS``); ``sessions``: whole trading sessions before the current one
    plus the current one; ``unbounded``: depends on every bar since the start (a
    running sum), so the indicator must provide an exact warm state;
    ``replayed``: the sessions before the current one are kept outside the
    compiled step (``Indicator.host``) and replayed over the whole warm panel, so
    only the current session is stepped.
    """

    bars: int | None = None
    sessions: int | None = None
    unbounded: bool = False
    replayed: bool = False

    @staticmethod
    def window(bars: int) -> History:
        """A finite window: exactly ``bars`` real bars determine the value."""
        return History(bars=bars)

    @staticmethod
    def memory(alpha: float, lead: int = 0) -> History:
        """An exponential memory with smallest weight ``alpha`` seeded after ``lead`` bars."""
        return History(bars=lead + math.ceil(math.log(1.0 / MEMORY_EPS) / alpha))

    @staticmethod
    def days(sessions: int) -> History:
        return History(sessions=sessions)

    @staticmethod
    def cumulative() -> History:
        return History(unbounded=True)

    def step_sessions(self, bars_per_session: int = SESSION_BARS) -> int:
        """Sessions to step (0 when the value needs only an exact warm state)."""
        if self.unbounded:
            return 0
        if self.replayed:
            return 1
        need = self.sessions or 0
        if self.bars:
            need = max(need, math.ceil(self.bars / bars_per_session) + 1)
        return need


class Rule(Enum):
    LEVEL = "level"
    FADE = "fade"
    BREAKOUT = "breakout"
    THRESHOLD = "threshold"
    SIGN = "sign"
    ZSCORE = "zscore"


@dataclass(frozen=True)
class Direction:
    """A directional reading as data: +1 long, -1 short, 0 none (see ``reading``)."""

    rule: Rule
    low: float = 0.0
    high: float = 0.0
    upper: bool = True

    @staticmethod
    def level() -> Direction:
        """Close above the level -> +1, below -> -1."""
        return Direction(Rule.LEVEL)

    @staticmethod
    def fade(side: str) -> Direction:
        """``side="upper"``: close above the band -> -1; ``"lower"``: below it -> +1."""
        return Direction(Rule.FADE, upper=_side(side))

    @staticmethod
    def breakout(side: str) -> Direction:
        """``side="upper"``: close above the level -> +1; ``"lower"``: below it -> -1."""
        return Direction(Rule.BREAKOUT, upper=_side(side))

    @staticmethod
    def threshold(low: float, high: float) -> Direction:
        """Value below ``low`` -> +1 (oversold), above ``high`` -> -1, else 0."""
        if not low < high:
            raise ValueError(f"threshold low {low} must be below high {high}")
        return Direction(Rule.THRESHOLD, low=low, high=high)

    @staticmethod
    def sign() -> Direction:
        """Value above 0 -> +1, below -> -1."""
        return Direction(Rule.SIGN)

    @staticmethod
    def zscore(k: float = 2.0) -> Direction:
        """z above ``k`` -> -1 (fade), below ``-k`` -> +1."""
        return Direction(Rule.ZSCORE, low=-k, high=k)

    def describe(self) -> str:
        """A short human form for tables (``threshold 30/70``, ``fade upper``)."""
        if self.rule in (Rule.FADE, Rule.BREAKOUT):
            return f"{self.rule.value} {'upper' if self.upper else 'lower'}"
        if self.rule in (Rule.THRESHOLD, Rule.ZSCORE):
            return f"{self.rule.value} {self.low:g}/{self.high:g}"
        return self.rule.value


def _side(side: str) -> bool:
    if side not in ("upper", "lower"):
        raise ValueError(f"side must be 'upper' or 'lower', not {side!r}")
    return side == "upper"


@dataclass(frozen=True)
class OutputMeta:
    """Everything the engine, the model and the backtester need to know about one output."""

    name: str
    kind: Kind
    scale: Scale
    history: History
    value_range: tuple[float, float] | None = None
    direction: Direction | None = None
    prior: float | None = None  # a model's initial usefulness bias (not a label)
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind is Kind.OSCILLATOR and self.value_range is None:
            raise ValueError(f"{self.name}: an OSCILLATOR needs a value_range")
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"{self.name}: empty value_range {self.value_range}")
        if self.scale is Scale.RANGE and self.value_range is None:
            raise ValueError(f"{self.name}: Scale.RANGE needs a value_range")


def direction_reading(d: Direction, value: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``d`` evaluated elementwise: int8 in {-1, 0, +1}; NaN value or close -> 0."""
    v = np.asarray(value, dtype=np.float64)
    c = np.broadcast_to(np.asarray(close, dtype=np.float64), v.shape)
    with np.errstate(invalid="ignore"):
        if d.rule is Rule.LEVEL:
            out = np.sign(c - v)
        elif d.rule is Rule.FADE:
            out = -(c > v).astype(np.float64) if d.upper else (c < v).astype(np.float64)
        elif d.rule is Rule.BREAKOUT:
            out = (c > v).astype(np.float64) if d.upper else -(c < v).astype(np.float64)
        elif d.rule in (Rule.THRESHOLD, Rule.ZSCORE):
            out = (v < d.low).astype(np.float64) - (v > d.high).astype(np.float64)
        else:  # Rule.SIGN
            out = np.sign(v)
    bad = np.isnan(v) | np.isnan(c)
    return np.where(bad, 0, out).astype(np.int8)


# ----------------------------------------------------------------------------
# short constructors for the family declarations (one line per output)


def level(name: str, history: History, direction: Direction | None = None,
          prior: float | None = None) -> OutputMeta:
    """A price level; reads long above it unless told otherwise."""
    return OutputMeta(name, Kind.LEVEL, Scale.PRICE_DISTANCE, history,
                      direction=Direction.level() if direction is None else direction,
                      prior=prior)


def plain_level(name: str, history: History) -> OutputMeta:
    """A price level with no directional reading (a session high, a channel edge)."""
    return OutputMeta(name, Kind.LEVEL, Scale.PRICE_DISTANCE, history)


def band(name: str, history: History, side: str) -> OutputMeta:
    """A band around a level; read as a fade of the side it sits on."""
    return OutputMeta(name, Kind.BAND, Scale.PRICE_DISTANCE, history,
                      direction=Direction.fade(side))


def oscillator(name: str, history: History, lo: float, hi: float,
               direction: Direction | None = None) -> OutputMeta:
    return OutputMeta(name, Kind.OSCILLATOR, Scale.RANGE, history, value_range=(lo, hi),
                      direction=direction)


def price_diff(name: str, history: History, direction: Direction | None = None) -> OutputMeta:
    return OutputMeta(name, Kind.PRICE_DIFF, Scale.PRICE_UNITS, history, direction=direction)


def ratio(name: str, history: History, direction: Direction | None = None) -> OutputMeta:
    return OutputMeta(name, Kind.RATIO, Scale.NONE, history, direction=direction)


def zscore(name: str, history: History, k: float = 2.0) -> OutputMeta:
    return OutputMeta(name, Kind.ZSCORE, Scale.NONE, history, direction=Direction.zscore(k))
