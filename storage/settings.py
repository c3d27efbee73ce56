"""The config file's schema: every key, its type, default and bounds, declared once.

Why one schema: the top level, ``[pg]`` and ``[ib]`` used to check their keys
three times in three styles, and ``storage.config`` imported the IB feed's
config (which imported it back) only to know the ``[ib]`` keys. Now each key
is a ``Setting`` row in a ``Section`` table here; ``storage.config`` checks
every section at load time from these tables, and ``storage.pg_config`` and
``storage.feeds.ib_config`` read their typed dataclasses through
``Section.read``. Nothing imports a section's reader to learn its keys.

A value is checked for its type (a bool is never a number; an integer is a
float where a float is declared), its bounds and its choices, and an unknown
key is named with the known ones: a typo is never ignored silently.
Cross-key rules (``[pg] ts_zone`` only with ``ts_type = "timestamp"``) stay
with the section's reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.errors import ConfigError

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "a table"}


@dataclass(frozen=True)
class Setting:
    """One key: its type, default, bounds and choices (``what`` words the rule)."""

    key: str
    kind: type
    default: Any = None
    low: float | None = None  # inclusive
    above: float | None = None  # exclusive
    high: float | None = None  # inclusive
    choices: tuple[Any, ...] = ()
    what: str = ""  # the rule in words, when the type, bounds and choices say too little

    def rule(self) -> str:
        if self.what:
            return self.what
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        bounds = [f"{op} {v:g}" for op, v in ((">", self.above), (">=", self.low),
                                              ("<=", self.high)) if v is not None]
        kind = _TYPE_WORDS[self.kind]
        return f"{' and '.join(bounds)} ({kind})" if bounds else kind

    def check(self, value: Any, where: str, label: str = "") -> Any:
        """``value`` as this setting's type, or a ``ConfigError`` saying the rule."""
        ok = isinstance(value, self.kind) and not (
            isinstance(value, bool) and self.kind is not bool)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        ok = ok and (not self.choices or value in self.choices)
        if ok and isinstance(value, int | float) and not isinstance(value, bool):
            ok = ((self.low is None or value >= self.low)
                  and (self.above is None or value > self.above)
                  and (self.high is None or value <= self.high))
        if not ok:
            raise ConfigError(f"{where}: {label or self.key} must be {self.rule()}, not {value!r}")
        return value


@dataclass(frozen=True)
class Section:
    """A table of the config file: its settings and the keys allowed with one value."""

    name: str  # "" for the top level
    settings: tuple[Setting, ...]
    #: Keys accepted with one value only (``[ib] readonly = true``: never turned off).
    fixed: Mapping[str, Any] | None = None

    def known(self) -> list[str]:
        return sorted([s.key for s in self.settings] + list(self.fixed or {}))

    def unknown(self, raw: Mapping[str, Any], where: str) -> None:
        """``ConfigError`` naming every key of ``raw`` this section does not declare."""
        extra = sorted(set(raw) - set(self.known()))
        if extra:
            raise ConfigError(f"{where}: unknown key(s): {', '.join(extra)} "
                              f"(known: {', '.join(self.known())})")

    def read(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Every setting's value (the default where ``raw`` has none), checked."""
        self.unknown(raw, where)
        for key, value in (self.fixed or {}).items():
            if key in raw and raw[key] != value:
                raise ConfigError(f"{where}: {key} must be {value!r}")
        quote = not self.name  # top-level keys are quoted: "'db' must be …"
        return {s.key: s.check(raw[s.key], where, f"'{s.key}'" if quote else "")
                if s.key in raw else s.default for s in self.settings}


TOP = Section("", (
    Setting("db", str, None, what="a string path"),
    Setting("tickers", str, "curated", what="the name of a ticker list"),
))

ROLES = ("symbol", "ts", "open", "high", "low", "close", "volume")
TS_TYPES = ("timestamptz", "timestamp")

PG = Section("pg", (
    Setting("table", str, "public.bars", what="a string like 'public.minute_bars'"),
    Setting("columns", dict, {}, what="a table: [pg.columns] symbol = '...'"),
    Setting("ts_type", str, "timestamptz", choices=TS_TYPES),
    Setting("ts_zone", str, None),
    Setting("dsn", str, ""),
    Setting("overlap_minutes", int, 60, low=0),
    Setting("chunk_rows", int, 250_000, low=1),
    Setting("max_connections", int, 2, low=1),
    Setting("future_minutes", int, 15, low=0),
))

IB = Section("ib", (
    Setting("host", str, "127.0.0.1"),
    Setting("port", int, 4001, low=1, high=65535),
    Setting("client_id", int, 17),
    Setting("backfill_days", int, 2, low=0),
    Setting("market_data_lines", int, 100, low=1),
    Setting("use_rth", bool, True),
    Setting("stall_after_s", float, 90.0, above=0),
    Setting("connect_timeout_s", float, 5.0, above=0),
    Setting("request_timeout_s", float, 10.0, above=0),
    Setting("history_timeout_s", float, 60.0, above=0),
    Setting("reconnect_initial_s", float, 0.5, above=0),
    Setting("reconnect_max_s", float, 30.0, above=0),
    Setting("close_grace_s", float, 3.0),
    Setting("api", str, "", choices=("", "ib_async", "ib_insync")),
), fixed={"readonly": True})

ALERTS = Section("alerts", (
    Setting("desktop", str, "osc9", choices=("osc9", "osc777", "off"),
            what="'osc9', 'osc777' or 'off': the desktop notification the console's "
                 "alerts also send through the terminal"),
))

#: The tables the file may hold: their schema here, or None for a table its room
#: checks itself (``[keys]``: binding ids, checked by ``tui.keys``).
SECTIONS: dict[str, Section | None] = {"alerts": ALERTS, "ib": IB, "keys": None, "pg": PG}
