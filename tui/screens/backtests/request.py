"""The new-backtest form's values, checked: one error per field, or a request to run.

Checks use the backtester's own definitions (strategies, parameters, their
choices), so the form refuses exactly what ``avwap backtest`` refuses, before
anything is started. A request is JSON (the child process reads it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storage.errors import AvwapError
from storage.tickers import load_list

#: Form fields: (key, label, default, hint).
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("strategy", "strategy", "avwap-reversion", "avwap-reversion, avwap-reclaim, orb, expr"),
    ("params", "parameters / grid", "", "NAME=V or NAME=V1,V2 (a grid), space separated"),
    ("entry", "entry expression", "", "strategy expr only, e.g. close > avwap_session"),
    ("exit", "exit expression", "", "strategy expr only (optional)"),
    ("tickers", "tickers", "", "a ticker list name, or A,B,C"),
    ("start", "start", "", "YYYY-MM-DD (empty: the cache's first session)"),
    ("end", "end", "", "YYYY-MM-DD (empty: the cache's last session)"),
    ("commission", "commission $/share", "0.005", "minimum $1 per order"),
    ("slippage_bps", "slippage bps", "1", "against each fill"),
    ("stop_pct", "stop-loss %", "0", "0 = off; a comma list sweeps"),
    ("target_pct", "target %", "0", "0 = off; a comma list sweeps"),
    ("trail_pct", "trailing stop %", "0", "0 = off"),
    ("time_stop", "time stop min", "0", "0 = off"),
)
STOPS = ("stop_pct", "target_pct", "trail_pct", "time_stop")


@dataclass(frozen=True)
class BacktestRequest:
    strategy: str
    params: dict[str, list[Any]]
    symbols: tuple[str, ...]
    start: str | None
    end: str | None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> BacktestRequest:
        d = json.loads(text)
        return BacktestRequest(d["strategy"], d["params"], tuple(d["symbols"]), d["start"],
                               d["end"], d.get("settings", {}))


def _date(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    dt.date.fromisoformat(text)
    return text


def parse_form(values: dict[str, str], user_dir: Path | None = None,
               ) -> tuple[BacktestRequest | None, dict[str, str]]:
    """The request, or None and a one-line error per bad field."""
    from engine.backtest import strategies

    errors: dict[str, str] = {}
    strat = None
    try:
        strat = strategies.get(values.get("strategy", "").strip())
        if strat.unavailable:
            errors["strategy"] = f"{strat.name} is unavailable: {strat.unavailable}"
    except (AvwapError, ValueError) as e:  # the engine's BacktestError is a ValueError
        errors["strategy"] = str(e)
    params: dict[str, list[Any]] = {}
    if strat is not None:
        tokens = [t for t in re.split(r"[\s;]+", values.get("params", "").strip()) if t]
        try:
            for tok in tokens:
                if "=" not in tok:
                    raise ValueError(f"{tok!r}: expected NAME=VALUE or NAME=V1,V2")
                name, _, raw = tok.partition("=")
                p = strat.param(name)
                params[p.name] = [p.parse(v) for v in raw.split(",") if v.strip()]
                if not params[p.name]:
                    raise ValueError(f"{name}: no value")
        except (AvwapError, ValueError) as e:
            errors["params"] = str(e)
        for key in STOPS:
            raw = values.get(key, "").strip()
            if not raw or key in params:
                continue
            try:
                p = strat.param(key)
                vals = [p.parse(v) for v in raw.split(",") if v.strip()]
                if any(v < 0 for v in vals):
                    raise ValueError(f"{key} must be 0 (off) or more")
                if vals != [p.default]:
                    params[key] = vals
            except (AvwapError, ValueError) as e:
                errors[key] = str(e)
        for key in ("entry", "exit"):
            raw = values.get(key, "").strip()
            if raw:
                if strat.name != "expr":
                    errors[key] = "only the expr strategy takes expressions"
                    continue
                try:
                    params[key] = [strat.param(key).parse(raw)]
                except (AvwapError, ValueError) as e:
                    errors[key] = str(e)
        if strat.name == "expr" and not values.get("entry", "").strip():
            errors["entry"] = "strategy expr needs an entry expression"
    symbols: tuple[str, ...] = ()
    spec = values.get("tickers", "").strip()
    if not spec:
        errors["tickers"] = "name a ticker list or symbols (A,B,C)"
    elif "," in spec or spec.isupper():
        symbols = tuple(dict.fromkeys(s.strip().upper() for s in spec.split(",") if s.strip()))
    else:
        try:
            symbols = load_list(spec, user_dir).symbols
        except AvwapError as e:
            errors["tickers"] = str(e)
    start = end = None
    for key in ("start", "end"):
        try:
            (start, end) = (_date(values.get("start", "")), end) if key == "start" \
                else (start, _date(values.get("end", "")))
        except ValueError:
            errors[key] = f"not a date (YYYY-MM-DD): {values.get(key, '')!r}"
    if start and end and end < start:
        errors["end"] = f"the end {end} is before the start {start}"
    settings: dict[str, Any] = {}
    for key, name in (("commission", "commission_per_share"), ("slippage_bps", "slippage_bps")):
        raw = values.get(key, "").strip()
        try:
            v = float(raw) if raw else None
            if v is not None and (v < 0 or v != v):
                raise ValueError
            if v is not None:
                settings[name] = v
        except ValueError:
            errors[key] = f"{key}: expected a number ≥ 0, got {raw!r}"
    if errors or strat is None:
        return None, errors
    return BacktestRequest(strat.name, params, symbols, start, end, settings), {}
