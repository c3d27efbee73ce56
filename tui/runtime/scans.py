"""The Scanner's scans: named expressions kept beside the config, evaluated each minute.

Why a runtime module, not a screen's: the scans are evaluated where the minute's
registry values already are (the snapshot the controller stepped: never
recomputed), every scan over every symbol in one ``engine.expr.LiveScans``
call; a screen only edits the book and renders ``ScanResult``s.

- ``ScanBook``: the named scans (expression, sort column, universe: a list's
  symbols, ``all`` or ``warm``), read from and written to ``scans.json``
  beside ``config.toml`` atomically (``storage.atomic``); ``check`` gives the
  parser's one-line message and the suggested names for an invalid one.
- ``ScanRunner.step(snapshot)``: every valid scan at once; per scan the
  matching symbols, the values the scan names (its columns), sorted, and
  which matches are new this minute (they entered it: marked for a minute).
  A replay jump back (an earlier minute) starts afresh.

Scans as alerts: a scan saved with ``alert`` fires a ``ScanHit`` when a symbol
enters it (matched now, not at the last finished minute), at most once per
``tui.alerts.COOLDOWN`` of bar time per scan and symbol, like the band alerts;
the hits join the frame's ``hits``, so the console notifies them as it does the
band alerts. The band alerts' dead band (basis points beyond a level) has no
meaning for an arbitrary condition: entering is the event.

Known gap: the live values are the snapshot's, without the band-validity rule
the backtester and ``avwap scan`` apply to an anchor's first bars
(``engine.bands``); a scan on a young anchor's band can match here first.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import bands
from engine.expr import ExpressionError, LiveScans, check_names, parse, suggestions
from engine.snapshot import Snapshot
from storage import atomic, calendar
from storage.types import SEGMENT_KINDS

SCANS_FILE = "scans.json"
#: The bar's fields a live minute has beside the registry's outputs (the snapshot keeps
#: each symbol's last close and volume; open, high and low are not kept live).
LIVE_PRICES = ("close", "volume")


def live_names() -> list[str]:
    """What a live scan may read: the bar's close and volume, then the registry's outputs."""
    from engine.registry import output_names

    return [*LIVE_PRICES, *output_names()]
UNIVERSES = ("warm", "all")


@dataclass(frozen=True)
class Scan:
    """One named scan. ``universe``: ``warm``, ``all`` or symbols (a list's, resolved)."""

    name: str
    expression: str
    sort: str = ""
    universe: str | tuple[str, ...] = "warm"
    alert: bool = False

    def as_json(self) -> dict[str, Any]:
        uni = self.universe if isinstance(self.universe, str) else list(self.universe)
        return {"name": self.name, "expression": self.expression, "sort": self.sort,
                "universe": uni, "alert": self.alert}

    @staticmethod
    def of_json(raw: dict[str, Any]) -> Scan:
        uni = raw.get("universe", "warm")
        return Scan(str(raw["name"]), str(raw["expression"]), str(raw.get("sort", "")),
                    uni if isinstance(uni, str) else tuple(str(s) for s in uni),
                    bool(raw.get("alert", False)))


@dataclass(frozen=True)
class Check:
    """An expression judged: ``ok``, else the parser's message and suggested names."""

    ok: bool
    message: str = ""
    suggestions: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def check(expression: str, known: list[str] | None = None) -> Check:
    """Parse, check names, type as a condition; never raises for a bad expression."""
    from engine.expr import Program

    known = known if known is not None else live_names()
    try:
        tree = parse(expression)
        names = check_names(tree, known)
        Program([tree], conditions=True)
    except ExpressionError as e:
        msg = str(e)
        bad = re.findall(r"'([A-Za-z_][A-Za-z_0-9]*)' \(did you mean", msg)
        sugg = tuple(s for b in bad for s in suggestions(b, known))
        return Check(False, msg, sugg)
    return Check(True, names=tuple(names))


class ScanBook:
    """The named scans, kept in ``scans.json`` (``path=None``: not kept, as in tests)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._scans: dict[str, Scan] = {}
        self._lock = threading.Lock()
        self.load_error = ""
        if path is not None and path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                self._scans = {s.name: s for s in map(Scan.of_json, raw["scans"])}
            except (OSError, ValueError, KeyError, TypeError) as e:
                self.load_error = f"{path}: scans not loaded ({e})"

    @property
    def scans(self) -> list[Scan]:
        with self._lock:
            return list(self._scans.values())

    def put(self, scan: Scan) -> Check:
        """Add or replace ``scan`` (kept even when invalid, so an edit is never lost)."""
        with self._lock:
            self._scans[scan.name] = scan
            self._save()
        return check(scan.expression)

    def remove(self, name: str) -> None:
        with self._lock:
            self._scans.pop(name, None)
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.path, {"scans": [s.as_json() for s in self._scans.values()]})
        except OSError as e:
            self.load_error = f"{self.path}: scans not saved ({e.strerror or e})"


@dataclass(frozen=True)
class ScanHit:
    """A symbol entered an alerting scan at minute ``ts``."""

    scan: str
    expression: str
    symbol: str
    ts: np.datetime64

    @property
    def message(self) -> str:
        return f"{self.symbol} entered scan {self.scan!r}: {self.expression}"


@dataclass(frozen=True)
class ScanResult:
    """One scan at one minute: the matching rows, sorted, and the new ones."""

    scan: Scan
    check: Check
    columns: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # [matches, columns]
    new: tuple[bool, ...] = ()


class ScanRunner:
    """Evaluates a book's valid scans on each snapshot (the runtime's thread)."""

    def __init__(self, book: ScanBook) -> None:
        self.book = book
        self._key: tuple[Scan, ...] = ()
        self._live: LiveScans | None = None
        self._valid: list[Scan] = []
        self._checks: dict[str, Check] = {}
        self._prev: dict[str, set[str]] = {}  # the matches of the last finished minute
        self._cur: dict[str, set[str]] = {}  # this minute's (a revision replaces them)
        self._ts: np.datetime64 | None = None
        self._fired: dict[tuple[str, str], np.datetime64] = {}
        self._pending: set[tuple[str, str]] = set()
        self._bars = bands.AnchorBars()  # bars with volume since each calendar anchor
        #: The alerts of the last ``step`` (a scan with ``alert`` that a symbol entered).
        self.hits: tuple[ScanHit, ...] = ()

    def _compile(self, scans: list[Scan]) -> None:
        known = live_names()
        self._checks = {s.name: check(s.expression, known) for s in scans}
        self._valid = [s for s in scans if self._checks[s.name].ok]
        self._live = LiveScans([s.expression for s in self._valid]) if self._valid else None
        self._key = tuple(scans)
        self._prev, self._cur = {}, {}

    def step(self, snap: Snapshot) -> list[ScanResult]:
        scans = self.book.scans
        if tuple(scans) != self._key:
            self._compile(scans)
        if self._ts is not None and snap.ts < self._ts:
            self._prev, self._cur, self._fired, self._pending = {}, {}, {}, set()
            if self._live is not None:
                self._live.reset()
        elif self._ts is not None and snap.ts > self._ts:
            self._prev, self._cur = self._cur, {}
        self._ts = snap.ts
        hits = (self._live.step(snap.ts, snap.names, self._valid_values(snap), snap.valid,
                                {"close": snap.last, "volume": snap.volume})
                if self._live is not None else np.zeros((0, len(snap.symbols)), bool))
        row = {s.name: i for i, s in enumerate(self._valid)}
        out: list[ScanResult] = []
        for scan in scans:
            chk = self._checks[scan.name]
            if not chk.ok:
                out.append(ScanResult(scan, chk))
                continue
            out.append(self._result(scan, chk, hits[row[scan.name]], snap))
        self.hits = tuple(self._alerts(out, snap.ts))
        return out

    def _valid_values(self, snap: Snapshot) -> np.ndarray:
        """The minute's values with each calendar anchor the scans read NaN where
        ``engine.bands``' rule fails (fewer than 5 bars with volume, or no width).

        Why: the backtester and ``avwap scan`` read a young anchor's level and bands
        as NaN, so a live scan must too, or a cross on a session's first bar (σ = 0)
        would match here and nowhere else. A cross then needs a valid value on both
        bars, as in the backtester.
        """
        assert self._live is not None
        kinds = sorted({k for k in map(bands.anchor_of, self._live.names) if k is not None})
        if not kinds:
            return snap.values
        when = calendar.describe_minutes(np.array([snap.ts], dtype="datetime64[m]"))
        traded = np.asarray(snap.valid, bool) & (np.nan_to_num(snap.volume) > 0)
        counts = self._bars.step(snap.ts, {k: int(when.segments[k][0]) for k in SEGMENT_KINDS},
                                 traded, int(when.minute_of_session[0]))
        pos = {n: i for i, n in enumerate(snap.names)}
        values = snap.values.copy()
        for k in kinds:
            lvl, up1 = pos.get(f"avwap_{k}"), pos.get(f"avwap_{k}_up1")
            width = (snap.values[:, up1] - snap.values[:, lvl]
                     if lvl is not None and up1 is not None else None)
            young = ~bands.valid(counts[k], width)
            cols = np.array([i for n, i in pos.items() if bands.anchor_of(n) == k], np.intp)
            values[np.ix_(young, cols)] = np.nan
        return values

    def _alerts(self, results: list[ScanResult], ts: np.datetime64) -> list[ScanHit]:
        """Entries of alerting scans, at most one per cooldown of bar time per symbol; an
        entry inside the cooldown fires when it ends if the symbol is still in the scan."""
        from tui.alerts import COOLDOWN

        fired: list[ScanHit] = []
        for r in results:
            if not r.scan.alert:
                continue
            inside = set(r.symbols)
            self._pending = {k for k in self._pending if k[0] != r.scan.name or k[1] in inside}
            for sym, new in zip(r.symbols, r.new, strict=True):
                key = (r.scan.name, sym)
                last = self._fired.get(key)
                if new and last != ts:  # (a revised minute's entry has fired already)
                    self._pending.add(key)
                if key in self._pending and (last is None or ts - last >= COOLDOWN):
                    fired.append(ScanHit(r.scan.name, r.scan.expression, sym, ts))
                    self._fired[key] = ts
                    self._pending.discard(key)
        return fired

    def _result(self, scan: Scan, chk: Check, hit: np.ndarray, snap: Snapshot) -> ScanResult:
        mask = hit.copy()
        if not isinstance(scan.universe, str):
            mask &= np.isin(np.array(snap.symbols), np.array(scan.universe))
        idx = np.nonzero(mask)[0]
        cols = tuple(dict.fromkeys([*( [scan.sort] if scan.sort else []), *chk.names]))
        pos = [snap.names.index(c) if c in snap.names else -1 for c in cols]
        at = np.asarray(pos, dtype=np.intp)
        vals = snap.values[np.ix_(idx, np.maximum(at, 0))].astype(np.float64)
        vals[:, at < 0] = np.nan
        for j, c in enumerate(cols):
            if c in LIVE_PRICES:
                vals[:, j] = (snap.last if c == "close" else snap.volume)[idx]
        if len(cols) and len(idx):
            key = vals[:, 0]
            order = np.lexsort((-np.nan_to_num(key, nan=-np.inf), np.isnan(key)))
            idx, vals = idx[order], vals[order]
        syms = tuple(snap.symbols[i] for i in idx)
        # New: entered since the last finished minute (none on the first minute seen).
        before = self._prev.get(scan.name)
        new = tuple(before is not None and s not in before for s in syms)
        self._cur[scan.name] = set(syms)
        return ScanResult(scan, chk, cols, syms, vals, new)
