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
enters it, with a dead band and the band alerts' cooldown
(``tui.runtime.scan_alerts``); the hits join the frame's ``hits``, so the
console notifies them as it does the band alerts.

A live scan reads the bar's open, high, low, close and volume (the controller
hands the minute's open/high/low beside the snapshot, which keeps the close and
volume) and applies the backtester's band-validity rule (``engine.bands``), so
a live minute matches what ``avwap scan`` finds at that minute.

A list universe is the list's name, read again whenever its file changes
(``ListSymbols``: a ``stat`` of the folder and the file per minute), so adding
a symbol to the list from the console moves the scan with it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import bands
from engine.expr import (
    PRICE_NAMES,
    ExpressionError,
    LiveScans,
    check_names,
    known_names,
    parse,
    suggestions,
)
from engine.expr.deadband import widen
from engine.snapshot import Snapshot
from storage import atomic
from storage.types import BarBatch
from tui.alerts import AnchorAges, young
from tui.runtime.scan_alerts import DEAD_BAND_BP, Entries, Entry, ScanHit

SCANS_FILE = "scans.json"
#: The bar's fields a live scan reads beside the registry's outputs (all of them).
LIVE_PRICES = PRICE_NAMES
#: The bar's fields the snapshot lacks (the controller hands them with the minute).
BAR_FIELDS = ("open", "high", "low")
UNIVERSES = ("warm", "all")


def live_names() -> list[str]:
    """What a live scan may read: the bar's prices and volume, then the registry's outputs."""
    return known_names()


@dataclass(frozen=True)
class Scan:
    """One named scan. ``universe``: ``warm``, ``all``, a ticker list's name (followed as
    it is edited) or fixed symbols (a file saved before lists were followed)."""

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
class ScanResult:
    """One scan at one minute: the matching rows, sorted, and the new ones."""

    scan: Scan
    check: Check
    columns: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # [matches, columns]
    new: tuple[bool, ...] = ()
    #: Why the universe is empty (its list cannot be read), else "".
    note: str = ""


def _racy(mtime: float) -> bool:
    """A file time within a second of now may be followed by an edit with the same time
    (file times tick coarsely): such a ``stat`` is not trusted to mean "unchanged"."""
    return abs(time.time() - mtime) < 1.0


class ListSymbols:
    """Ticker lists by name, read again when their file or the user's folder changes.

    Why ``stat`` and not a reload per minute: a list is a file the console's list
    edits replace atomically (a rename: the folder's mtime moves), or one the
    trader edits by hand (the file's mtime moves); two ``stat`` calls a minute
    see both, and the file is parsed only then. A list that cannot be read
    gives no symbols and its error.
    """

    def __init__(self, user_dir: Path | None = None) -> None:
        self.user_dir = user_dir
        self._dir_key: tuple[int, int] | None = None
        self._paths: dict[str, Path] = {}
        self._seen: dict[str, tuple[tuple[int, int, int], tuple[str, ...], str]] = {}

    def _folder(self) -> Path:
        from storage.tickers import user_tickers_dir

        return user_tickers_dir() if self.user_dir is None else Path(self.user_dir).expanduser()

    def refresh(self) -> None:
        """Look at the user's folder once (call once a minute, before ``symbols``)."""
        from storage.tickers import available_lists

        try:
            st = self._folder().stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_ino)
            if _racy(st.st_mtime):
                key = None  # changed within the clock's tick: look again next time
        except OSError:
            key = (0, 0)
        if key is None or key != self._dir_key:
            self._dir_key = key
            self._paths = available_lists(self.user_dir)

    def symbols(self, name: str) -> tuple[tuple[str, ...], str]:
        """The list's symbols and "" (or ``()`` and the reason it cannot be read)."""
        from storage.tickers import TickerListError, load_list

        path = self._paths.get(name)
        if path is None:
            return (), f"universe: no ticker list named {name!r}"
        try:
            st = path.stat()
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
            racy = _racy(st.st_mtime)
        except OSError:
            key, racy = (0, 0, 0), False
        seen = self._seen.get(name)
        if seen is not None and seen[0] == key and not racy:
            return seen[1], seen[2]
        try:
            out: tuple[tuple[str, ...], str] = (load_list(path).symbols, "")
        except TickerListError as e:
            out = ((), f"universe: {e}")
        self._seen[name] = (key, *out)
        return out



def bar_fields(batches: Sequence[BarBatch]) -> dict[str, np.ndarray]:
    """The minute's ``open``/``high``/``low`` ``[S]`` over the groups' batches, in the
    universe's order (what ``ScanRunner.step`` reads beside the snapshot)."""
    return {f: np.concatenate([getattr(b, f) for b in batches]) if batches else np.zeros(0)
            for f in BAR_FIELDS}


class ScanRunner:
    """Evaluates a book's valid scans on each snapshot (the runtime's thread).

    ``user_dir``: where the trader's ticker lists are (a list universe's symbols);
    ``dead_band_bp``: the alerts' dead band (``tui.runtime.scan_alerts``).
    """

    def __init__(self, book: ScanBook, user_dir: Path | None = None, *,
                 dead_band_bp: float = DEAD_BAND_BP) -> None:
        self.book = book
        self.lists = ListSymbols(user_dir)
        self.margin = dead_band_bp / 1e4
        self._key: tuple[Scan, ...] = ()
        self._live: LiveScans | None = None
        self._valid: list[Scan] = []
        self._alerting: list[Scan] = []
        self._checks: dict[str, Check] = {}
        # Each scan's matches ``[S]`` at the last finished minute and at this one (a
        # revision replaces it), over ``_of``'s symbols.
        self._prev: dict[str, np.ndarray] = {}
        self._cur: dict[str, np.ndarray] = {}
        self._ts: np.datetime64 | None = None
        self._bar: tuple[np.datetime64, dict[str, np.ndarray]] | None = None
        self._ages = AnchorAges()  # when no counts are handed in (standalone)
        self._entries = Entries()
        # Per snapshot layout (its symbols and names, rarely changing): universe masks,
        # the symbols as an array, each anchor kind's columns, each scan's columns.
        self._of: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._masks: dict[tuple[str, ...] | str, np.ndarray] = {}
        self._sym_arr = np.zeros(0, object)
        self._kind_cols: dict[str, list[tuple[str, int]]] = {}
        self._cols: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
        #: The alerts of the last ``step`` (a scan with ``alert`` that a symbol entered).
        self.hits: tuple[ScanHit, ...] = ()

    def _compile(self, scans: list[Scan]) -> None:
        known = live_names()
        self._checks = {s.name: check(s.expression, known) for s in scans}
        self._valid = [s for s in scans if self._checks[s.name].ok]
        self._alerting = [s for s in self._valid if s.alert]
        # One call: every scan, then each alerting scan's leave test (its dead band).
        trees = [parse(s.expression) for s in self._valid]
        trees += [widen(parse(s.expression), self.margin) for s in self._alerting]
        self._live = LiveScans(trees) if trees else None
        self._key = tuple(scans)
        self._prev, self._cur, self._cols = {}, {}, {}

    def _layout(self, snap: Snapshot) -> None:
        """Forget what depends on the snapshot's symbols and names when they change."""
        if snap.symbols is self._of[0] and snap.names is self._of[1]:
            return
        if (snap.symbols, snap.names) == self._of:
            self._of = (snap.symbols, snap.names)
            return
        if snap.symbols != self._of[0]:
            self._prev, self._cur = {}, {}
        self._of = (snap.symbols, snap.names)
        self._masks, self._cols = {}, {}
        self._sym_arr = np.array(snap.symbols, dtype=object)
        self._kind_cols = {}
        for j, n in enumerate(snap.names):
            k = bands.anchor_of(n)
            if k is not None:
                self._kind_cols.setdefault(k, []).append((n, j))

    def step(self, snap: Snapshot, bar: dict[str, np.ndarray] | None = None,
             counts: dict[str, np.ndarray] | None = None) -> list[ScanResult]:
        """Every scan at ``snap``'s minute. ``bar``: the minute's ``open``/``high``/``low``
        ``[S]`` (without it, those of the last step at this minute, else NaN);
        ``counts``: ``tui.alerts.AnchorAges.step(snap)`` when the caller counted."""
        scans = self.book.scans
        if tuple(scans) != self._key:
            self._compile(scans)
        self._layout(snap)
        if self._ts is not None and snap.ts < self._ts:
            self._prev, self._cur = {}, {}
            if self._live is not None:
                self._live.reset()
        elif self._ts is not None and snap.ts > self._ts:
            self._prev, self._cur = self._cur, {}
        self._ts = snap.ts
        fields = self._fields(snap, bar)
        hits = (self._live.step(snap.ts, snap.names, snap.values, snap.valid,
                                {**fields, **self._young_masked(snap, counts)})
                if self._live is not None else np.zeros((0, len(snap.symbols)), bool))
        self.lists.refresh()
        row = {s.name: i for i, s in enumerate(self._valid)}
        out: list[ScanResult] = []
        entries: list[Entry] = []
        for scan in scans:
            chk = self._checks[scan.name]
            if not chk.ok:
                out.append(ScanResult(scan, chk))
                continue
            inside, note = self._universe(scan, snap.symbols)
            now = hits[row[scan.name]] if inside is None else hits[row[scan.name]] & inside
            out.append(self._result(scan, chk, now, note, snap, fields))
            if scan.alert:
                stay = hits[len(self._valid) + self._alerting.index(scan)]
                entries.append(Entry(scan.name, scan.expression, now,
                                     stay if inside is None else stay & inside))
        self.hits = tuple(self._entries.step(snap.ts, snap.symbols, snap.valid, entries))
        return out

    def _fields(self, snap: Snapshot, bar: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """The bar's prices by name: the snapshot's close and volume, the minute's open,
        high and low (kept for a second evaluation of the same minute)."""
        s = len(snap.symbols)
        if bar is not None:
            self._bar = (snap.ts, dict(bar))
        kept = self._bar[1] if self._bar is not None and self._bar[0] == snap.ts else {}
        nan = np.full(s, np.nan, np.float32)
        out = {f: kept[f] if f in kept and len(kept[f]) == s else nan for f in BAR_FIELDS}
        return {**out, "close": snap.last, "volume": snap.volume}

    def _universe(self, scan: Scan, symbols: tuple[str, ...]) -> tuple[np.ndarray | None, str]:
        """``[S]`` which ``symbols`` the scan's universe holds (None: all), and a note."""
        if isinstance(scan.universe, str) and scan.universe in UNIVERSES:
            return None, ""
        note = ""
        if isinstance(scan.universe, str):
            members, note = self.lists.symbols(scan.universe)
        else:
            members = scan.universe
        mask = self._masks.get(members)
        if mask is None:
            want = set(members)
            mask = self._masks[members] = np.fromiter((s in want for s in symbols), bool,
                                                      len(symbols))
        return mask, note

    def _young_masked(self, snap: Snapshot, counts: dict[str, np.ndarray] | None
                      ) -> dict[str, np.ndarray]:
        """Each calendar anchor output the scans read, NaN where ``engine.bands``' rule
        fails (fewer than 5 bars with volume since the anchor, or no width).

        Why: the backtester and ``avwap scan`` read a young anchor's level and bands
        as NaN, so a live scan must too, or a cross on a session's first bar (σ = 0)
        would match here and nowhere else. A cross then needs a valid value on both
        bars, as in the backtester. (Given to ``LiveScans`` beside the matrix, so the
        matrix itself is never copied.)
        """
        assert self._live is not None
        read = set(self._live.names)
        kinds = sorted(k for k, cols in self._kind_cols.items()
                       if any(n in read for n, _ in cols))
        if not kinds:
            return {}
        pos = {n: j for k in kinds for n, j in self._kind_cols[k]}
        for k in kinds:  # the width the rule tests
            for n in (f"avwap_{k}", f"avwap_{k}_up1"):
                if n in snap.names and n not in pos:
                    pos[n] = snap.names.index(n)
        ages = counts if counts is not None else self._ages.step(snap)
        out: dict[str, np.ndarray] = {}
        for k, y in young(snap, kinds, ages, pos).items():
            for n, j in self._kind_cols[k]:
                if n in read:
                    out[n] = np.where(y, np.float32(np.nan), snap.values[:, j])
        return out

    def _result(self, scan: Scan, chk: Check, mask: np.ndarray, note: str, snap: Snapshot,
                fields: dict[str, np.ndarray]) -> ScanResult:
        idx = np.flatnonzero(mask)
        cached = self._cols.get(scan.name)
        if cached is None:
            cols = tuple(dict.fromkeys([*([scan.sort] if scan.sort else []), *chk.names]))
            at = np.array([snap.names.index(c) if c in snap.names else -1 for c in cols],
                          np.intp)
            cached = self._cols[scan.name] = (cols, at)
        cols, at = cached
        vals = snap.values[idx][:, np.maximum(at, 0)].astype(np.float64)
        for j, c in enumerate(cols):
            if c in fields:
                vals[:, j] = fields[c][idx]
            elif at[j] < 0:
                vals[:, j] = np.nan
        if len(cols) and len(idx) > 1:  # by the first column, highest first, NaN last
            order = np.argsort(-vals[:, 0], kind="stable")
            idx, vals = idx[order], vals[order]
        # New: entered since the last finished minute (none on the first minute seen).
        before = self._prev.get(scan.name)
        new = (~before[idx]).tolist() if before is not None else [False] * len(idx)
        self._cur[scan.name] = mask
        return ScanResult(scan, chk, cols, tuple(self._sym_arr[idx].tolist()), vals,
                          tuple(new), note)
