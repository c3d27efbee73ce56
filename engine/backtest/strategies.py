"""The strategies: registry outputs -> four signal arrays at each bar's close.

A strategy names the registry outputs it reads (only those are computed) and
turns them, for one combination of its parameters, into ``[S, T]`` bool arrays
(long entry, long exit, short entry, short exit) decided at the bar's close.
Every rule reads the bar and earlier bars only, which the look-ahead test
checks by altering the future. A cross compares with the symbol's previous
*bar* (``Bars.prev``: its last minute with a bar), not the previous grid
minute, so a missing minute or ten-minute bars do not cancel a cross. An
anchor's level and bands read NaN until ``engine.bands``' validity rule holds
(the runner masks them), and a cross needs a value on both bars.

``selected`` (the selector model's top-k vote) lives with the models room: it
is listed here as unavailable until a provider registers it
(``register_provider``), so the engine never imports ``models``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backtest import expr
from engine.backtest.bars import Bars, at_prev
from engine.backtest.errors import BacktestError

Signals = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Values = Mapping[str, np.ndarray]


ANCHORS: tuple[str, ...] = ("session", "day", "week", "month", "quarter", "year")
DIRECTIONS: tuple[str, ...] = ("both", "long", "short")


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default and (for choices) the allowed values."""

    name: str
    kind: type  # float, int or str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    #: Numbers: the smallest allowed value (NaN and infinity are never allowed).
    minimum: float | None = None

    def parse(self, text: str) -> Any:
        try:
            value = self.kind(text) if self.kind is not str else text.strip()
        except ValueError as e:
            what = "an integer" if self.kind is int else "a number"
            raise BacktestError(f"parameter {self.name}: {text!r} is not {what}") from e
        if self.choices and value not in self.choices:
            raise BacktestError(
                f"parameter {self.name}: {text!r} is not one of {', '.join(map(str, self.choices))}"
            )
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` if it is allowed, else ``BacktestError`` (a NaN stop is not "off")."""
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise BacktestError(f"parameter {self.name}: {value!r} is not a number")
            if not np.isfinite(value):
                raise BacktestError(f"parameter {self.name}: {value} is not a finite number")
            if self.minimum is not None and value < self.minimum:
                raise BacktestError(f"parameter {self.name}: {value} is below {self.minimum:g}"
                                    f" ({self.help})")
        elif self.choices and value not in self.choices:
            raise BacktestError(f"parameter {self.name}: {value!r} is not one of "
                                f"{', '.join(map(str, self.choices))}")
        return value


#: Row parameters every strategy has (stops; they do not change the signals).
STOP_PARAMS: tuple[Param, ...] = (
    Param("stop_pct", float, 0.0, "stop-loss, % from the entry fill (0 = off)", minimum=0),
    Param("target_pct", float, 0.0, "take-profit, % from the entry fill (0 = off)", minimum=0),
    Param("trail_pct", float, 0.0, "trailing stop, % from the best price since entry (0 = off)",
          minimum=0),
    Param("time_stop", int, 0, "exit after this many minutes in the trade (0 = off)",
          minimum=0),
)
DIRECTION = Param("direction", str, "both", "which sides to trade", DIRECTIONS)


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    params: tuple[Param, ...]
    outputs: Callable[[Mapping[str, Any]], list[str]]
    signals: Callable[[Values, Mapping[str, Any], Bars], Signals]
    unavailable: str = ""  # the reason, when it cannot run
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def all_params(self) -> tuple[Param, ...]:
        return (*self.params, *STOP_PARAMS)

    def param(self, name: str) -> Param:
        for p in self.all_params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.all_params)
        raise BacktestError(f"strategy {self.name} has no parameter {name!r} (known: {known})")


def cross_above(a: np.ndarray, b: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """``a`` above ``b`` at this bar and at or below it at the symbol's previous bar."""
    with np.errstate(invalid="ignore"):
        return (a > b) & (at_prev(a, prev) <= at_prev(b, prev))


def cross_below(a: np.ndarray, b: np.ndarray, prev: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a < b) & (at_prev(a, prev) >= at_prev(b, prev))


def _sides(p: Mapping[str, Any], le: np.ndarray, lx: np.ndarray, se: np.ndarray,
           sx: np.ndarray) -> Signals:
    d = p.get("direction", "both")
    none = np.zeros_like(le)
    if d == "long":
        return le, lx, none, none
    if d == "short":
        return none, none, se, sx
    return le, lx, se, sx


def _reversion(v: Values, p: Mapping[str, Any], bars: Bars) -> Signals:
    a, k = p["anchor"], p["k"]
    c, lvl = v["close"], v[f"avwap_{a}"]
    up, dn = v[f"avwap_{a}_up{k}"], v[f"avwap_{a}_dn{k}"]
    with np.errstate(invalid="ignore"):
        return _sides(p, cross_below(c, dn, bars.prev), c >= lvl,
                      cross_above(c, up, bars.prev), c <= lvl)


def _reclaim(v: Values, p: Mapping[str, Any], bars: Bars) -> Signals:
    c, lvl = v["close"], v[f"avwap_{p['anchor']}"]
    up, down = cross_above(c, lvl, bars.prev), cross_below(c, lvl, bars.prev)
    if p["rvol_min"] > 0:
        with np.errstate(invalid="ignore"):
            busy = v["rvol"] >= p["rvol_min"]
        return _sides(p, up & busy, down, down & busy, up)
    return _sides(p, up, down, down, up)


def _orb(v: Values, p: Mapping[str, Any], bars: Bars) -> Signals:
    m = p["minutes"]
    c, hi, lo = v["close"], v[f"or_high_{m}"], v[f"or_low_{m}"]
    # Formed at this bar and at the previous one of the same session: a cross never
    # compares with the previous session's range or a range still forming.
    mos = bars.minute_of_session.astype(np.float64)
    before = at_prev(np.broadcast_to(mos[None, :], bars.prev.shape), bars.prev)
    with np.errstate(invalid="ignore"):
        formed = (mos[None, :] >= m) & (before >= m) & (before < mos[None, :])
    with np.errstate(invalid="ignore"):
        return _sides(p, cross_above(c, hi, bars.prev) & formed, c < lo,
                      cross_below(c, lo, bars.prev) & formed, c > hi)


def _expr_outputs(p: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("entry", "exit"):
        if p.get(key):
            names += [n for n in expr.names_in(expr.parse(p[key])) if n not in names]
    return names


def _expr(v: Values, p: Mapping[str, Any], bars: Bars) -> Signals:
    shape = v["close"].shape
    entry = expr.condition(expr.parse(p["entry"]), v, shape, bars.prev)
    exit_ = (expr.condition(expr.parse(p["exit"]), v, shape, bars.prev) if p.get("exit")
             else np.zeros(shape, bool))
    none = np.zeros(shape, bool)
    if p["side"] == "short":
        return none, none, entry.copy(), exit_.copy()
    return entry.copy(), exit_.copy(), none, none


def _unavailable(v: Values, p: Mapping[str, Any], bars: Bars) -> Signals:
    raise BacktestError("strategy selected is unavailable")


ANCHOR = Param("anchor", str, "session", "the AVWAP anchor", ANCHORS)
STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (
        Strategy(
            "avwap-reversion",
            "fade a close beyond ±k sigma of the anchor's AVWAP; exit back at the level",
            (ANCHOR, Param("k", int, 2, "band in sigmas", (1, 2, 3)), DIRECTION),
            lambda p: [f"avwap_{p['anchor']}", f"avwap_{p['anchor']}_up{p['k']}",
                       f"avwap_{p['anchor']}_dn{p['k']}"],
            _reversion,
        ),
        Strategy(
            "avwap-reclaim",
            "the close crosses the anchor's AVWAP (long above, short below), "
            "optionally only with relative volume >= rvol_min",
            (ANCHOR, Param("rvol_min", float, 0.0, "relative volume filter (0 = off)",
                                    minimum=0), DIRECTION),
            lambda p: [f"avwap_{p['anchor']}"] + (["rvol"] if p["rvol_min"] > 0 else []),
            _reclaim,
        ),
        Strategy(
            "orb",
            "opening-range breakout: the close leaves the first N minutes' range",
            (Param("minutes", int, 15, "opening range length", (5, 15, 30)), DIRECTION),
            lambda p: [f"or_high_{p['minutes']}", f"or_low_{p['minutes']}"],
            _orb,
        ),
        Strategy(
            "expr",
            "signals from expressions over registry outputs, e.g. "
            "entry='close > avwap_session and rsi_14 < 30'",
            (Param("entry", str, "", "entry condition"),
             Param("exit", str, "", "exit condition (optional)"),
             Param("side", str, "long", "long or short", ("long", "short"))),
            _expr_outputs,
            _expr,
        ),
        Strategy(
            "selected",
            "the vote of the active selector model's top-k outputs",
            (DIRECTION,),
            lambda p: [],
            _unavailable,
            unavailable="no active selector model: models/ has not registered one",
        ),
    )
}


def register_provider(name: str, strategy: Strategy) -> None:
    """Let a higher room (models) provide a strategy, e.g. ``selected`` once a model exists."""
    STRATEGIES[name] = strategy


def get(name: str) -> Strategy:
    if name not in STRATEGIES:
        import difflib

        ready = [n for n, s in STRATEGIES.items() if not s.unavailable]
        close = difflib.get_close_matches(name, ready, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BacktestError(
            f"unknown strategy {name!r}{hint}; available: {', '.join(ready)}")
    s = STRATEGIES[name]
    if s.unavailable:
        raise BacktestError(f"strategy {name} is unavailable: {s.unavailable}")
    return s
