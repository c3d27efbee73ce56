"""Band-cross alerts: plain-Python rules the console evaluates on every minute.

Why no widgets here: the rules are checked in the engine's worker thread on every
Snapshot (never skipped when the screen collapses a burst of frames), and tests
drive them with hand-made Snapshots. A rule fires when the symbol's last price
moves from one side of the chosen AVWAP level or band to the other; touching the
level is not a cross, and a NaN level (no data yet in the anchor) forgets the
side so a fresh segment starts clean.

Why a young anchor is not crossed: a calendar anchor's level and bands count
only once the engine's band-validity rule holds (``engine.bands``: five bars
with volume since the anchor and a band width above zero), the same rule the
backtester's signals use; before that the level reads as NaN here too, so the
session's first minutes never fire on a zero-width band.

Why a dead band and a cooldown: a price hugging a level crosses it back and
forth every few minutes (35 firings a day for AAPL's session AVWAP), which
trains a trader to ignore alerts. The side only changes once the price is
beyond the level by ``dead_band_bp`` basis points of the level, and a rule
fires at most once per ``cooldown`` minutes of bar time; a cross back inside the
cooldown is reported when the cooldown ends if the price is still across.

Why a file: rules are the user's, like the ticker lists, so they live in the
config dir (``alerts.json`` beside ``config.toml``, ``$AVWAP_CONFIG``'s folder
when set), saved on every change and loaded when the console starts; a broken
file is named once (``load_error``) and never stops the console.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import bands
from engine.snapshot import Snapshot
from storage import atomic, calendar
from storage.types import SEGMENT_KINDS

#: Band choices, from the lowest to the highest; ``level`` is the AVWAP itself.
BANDS: tuple[str, ...] = ("dn3", "dn2", "dn1", "level", "up1", "up2", "up3")
BAND_LABELS: dict[str, str] = {
    "dn3": "−3σ", "dn2": "−2σ", "dn1": "−1σ", "level": "AVWAP",
    "up1": "+1σ", "up2": "+2σ", "up3": "+3σ",
}
ANCHORS: tuple[str, ...] = SEGMENT_KINDS
#: Auto anchors (highest high, lowest low, highest volume of the prior sessions).
AUTO_ANCHORS: tuple[str, ...] = ("hh", "ll", "hv")
#: A custom anchor ("anchor here", ``storage.anchors``) is named ``anchor:<id>``.
CUSTOM_PREFIX = "anchor:"

_ids = itertools.count(1)


def custom_anchor(anchor_id: int) -> str:
    """The rule's ``anchor`` for custom anchor ``anchor_id``."""
    return f"{CUSTOM_PREFIX}{int(anchor_id)}"


def custom_id(anchor: str) -> int | None:
    """The custom anchor id of a rule's ``anchor`` (None for a calendar or auto anchor)."""
    if not anchor.startswith(CUSTOM_PREFIX):
        return None
    tail = anchor[len(CUSTOM_PREFIX):]
    return int(tail) if tail.isdigit() else None


def output_name(anchor: str, band: str) -> str:
    """The output of an anchor's level or band: ``avwap_day_up2`` (registry),
    ``anchor_7_up2`` (custom anchor 7, ``tui.runtime.anchors.output_name``)."""
    cid = custom_id(anchor)
    if anchor not in ANCHORS and anchor not in AUTO_ANCHORS and cid is None:
        raise ValueError(f"unknown anchor {anchor!r}; choose one of "
                         f"{', '.join((*ANCHORS, *AUTO_ANCHORS))} or anchor:<id>")
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; choose one of {', '.join(BANDS)}")
    if cid is not None:
        return f"anchor_{cid}" if band == "level" else f"anchor_{cid}_{band}"
    return f"avwap_{anchor}" if band == "level" else f"avwap_{anchor}_{band}"


@dataclass(frozen=True)
class AlertRule:
    """Notify when ``symbol``'s last price crosses ``anchor``'s ``band``."""

    symbol: str
    anchor: str
    band: str
    id: int = field(default_factory=lambda: next(_ids))
    #: What the anchor is called on screen (a custom anchor's label or date).
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        output_name(self.anchor, self.band)  # validates

    @property
    def output(self) -> str:
        return output_name(self.anchor, self.band)

    @property
    def label(self) -> str:
        return f"{self.symbol} crosses {self.name or self.anchor} {BAND_LABELS[self.band]}"


@dataclass(frozen=True)
class AlertHit:
    """One firing: the rule, the minute, the price and level, and the direction."""

    rule: AlertRule
    ts: np.datetime64
    price: float
    level: float
    direction: str  # "up" | "down"

    @property
    def message(self) -> str:
        arrow = "↑" if self.direction == "up" else "↓"
        return f"{arrow} {self.rule.label} at {self.price:,.2f} (level {self.level:,.2f})"


#: Defaults: 5 basis points of the level either side, 10 minutes between firings.
DEAD_BAND_BP = 5.0
COOLDOWN = np.timedelta64(10, "m")
ALERTS_FILE = "alerts.json"


class AnchorAges:
    """Bars with volume since each calendar anchor, for every symbol of a minute's snapshot
    (``engine.bands.AnchorBars`` fed with the calendar's segments of that minute).

    Why one object: the band alerts and the scans both apply the band-validity rule to
    the same snapshot; the controller counts once a minute and hands the counts to
    both (``AlertBook.evaluate(counts=)``, ``ScanRunner.step(counts=)``). Standalone
    (the tests), each keeps its own. The same minute again replaces it (a revision).
    """

    def __init__(self) -> None:
        self._bars = bands.AnchorBars()

    def step(self, snap: Snapshot) -> dict[str, np.ndarray]:
        """``{anchor kind: [S] counts}`` at ``snap``'s minute."""
        when = calendar.describe_minutes(np.array([snap.ts], dtype="datetime64[m]"))
        traded = np.asarray(snap.valid, bool) & (np.nan_to_num(snap.volume) > 0)
        return self._bars.step(snap.ts, {k: int(when.segments[k][0]) for k in ANCHORS},
                               traded, int(when.minute_of_session[0]))


def young(snap: Snapshot, kinds: Iterable[str], counts: Mapping[str, np.ndarray],
          names: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Per calendar anchor in ``kinds``, ``[S]`` True where ``engine.bands`` says its level
    and bands are not valid yet (too few bars with volume since it, or no width)."""
    names = names if names is not None else {n: j for j, n in enumerate(snap.names)}
    out = {}
    for k in kinds:
        lvl, up1 = names.get(f"avwap_{k}"), names.get(f"avwap_{k}_up1")
        width = (snap.values[:, up1] - snap.values[:, lvl]
                 if lvl is not None and up1 is not None else None)
        out[k] = ~bands.valid(counts[k], width)
    return out


class AlertBook:
    """The user's rules and what fired; thread-safe (UI edits, worker evaluates)."""

    def __init__(self, path: Path | None = None, *, dead_band_bp: float = DEAD_BAND_BP,
                 cooldown: np.timedelta64 = COOLDOWN) -> None:
        self._rules: dict[int, AlertRule] = {}
        self._side: dict[int, int] = {}
        self._fired_at: dict[int, np.datetime64] = {}
        self.history: list[AlertHit] = []
        self._lock = threading.Lock()
        self._ages = AnchorAges()  # when no counts are handed in (standalone)
        self.dead_band = dead_band_bp / 1e4
        self.cooldown = cooldown
        #: Where the rules are kept (``None``: not kept, as in the tests).
        self.path = path
        self.load_error = ""
        if path is not None:
            self._load(path)

    # -- persistence -----------------------------------------------------------
    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            rules = [AlertRule(str(r["symbol"]), str(r["anchor"]), str(r["band"]),
                               name=str(r.get("name", "")))
                     for r in raw["rules"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.load_error = f"{path}: alerts not loaded ({e})"
            return
        self._rules = {r.id: r for r in rules}

    def _save(self) -> None:
        """Write the rules (atomically: a crash mid-write keeps the previous file)."""
        if self.path is None:
            return
        rules = [{"symbol": r.symbol, "anchor": r.anchor, "band": r.band,
                  **({"name": r.name} if r.name else {})}
                 for r in self._rules.values()]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.path, {"rules": rules})
        except OSError as e:
            self.load_error = f"{self.path}: alerts not saved ({e.strerror or e})"

    @property
    def rules(self) -> list[AlertRule]:
        with self._lock:
            return list(self._rules.values())

    def add(self, rule: AlertRule) -> AlertRule:
        with self._lock:
            self._rules[rule.id] = rule
            self._save()
        return rule

    def remove(self, rule_id: int) -> None:
        with self._lock:
            self._rules.pop(rule_id, None)
            self._side.pop(rule_id, None)
            self._fired_at.pop(rule_id, None)
            self._save()

    def remove_anchor(self, anchor_id: int) -> int:
        """Remove the rules on custom anchor ``anchor_id`` (it was deleted); how many."""
        with self._lock:
            gone = [r.id for r in self._rules.values() if custom_id(r.anchor) == anchor_id]
        for rid in gone:
            self.remove(rid)
        return len(gone)

    def evaluate(self, snap: Snapshot,
                 extra: Mapping[str, Mapping[str, float]] | None = None,
                 counts: Mapping[str, np.ndarray] | None = None) -> list[AlertHit]:
        """Rules crossed by this minute (each also appended to ``history``).

        ``extra``: per symbol, values not in the Snapshot by output name (the
        custom anchors' ``anchor_<id>[_<band>]``, ``AnchorBook.alert_values``).
        ``counts``: ``AnchorAges.step(snap)`` when the caller counted already.
        """
        hits: list[AlertHit] = []
        index = {s: i for i, s in enumerate(snap.symbols)}
        names = {n: j for j, n in enumerate(snap.names)}
        more = extra or {}
        with self._lock:
            young = self._young(snap, names, counts)
            for rule in self._rules.values():
                i, j = index.get(rule.symbol), names.get(rule.output)
                if i is None:
                    continue
                if j is not None:
                    level = float(snap.values[i, j])
                elif rule.output in more.get(rule.symbol, {}):
                    level = float(more[rule.symbol][rule.output])
                else:
                    continue
                price = float(snap.last[i])
                if rule.anchor in young and young[rule.anchor][i]:
                    level = float("nan")  # the band-validity rule fails: no level yet
                if not (np.isfinite(price) and np.isfinite(level)):
                    self._side.pop(rule.id, None)
                    continue
                band = abs(level) * self.dead_band
                side = 1 if price > level + band else -1 if price < level - band else 0
                if side == 0:
                    continue  # on the level or inside its dead band: no side yet
                before = self._side.get(rule.id)
                if before is None:
                    self._side[rule.id] = side
                    continue
                if before == side:
                    continue
                fired = self._fired_at.get(rule.id)
                if fired is not None and snap.ts - fired < self.cooldown:
                    continue  # the side is kept: a cross that holds fires after the cooldown
                self._side[rule.id] = side
                self._fired_at[rule.id] = snap.ts
                hits.append(AlertHit(rule, snap.ts, price, level, "up" if side > 0 else "down"))
            self.history.extend(hits)
        return hits

    def _young(self, snap: Snapshot, names: Mapping[str, int],
               counts: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """Per calendar anchor with a rule, ``[S]`` True where ``engine.bands`` says the
        anchor's level and bands are not valid yet at this minute."""
        kinds = {r.anchor for r in self._rules.values() if r.anchor in ANCHORS}
        if not kinds:
            return {}
        return young(snap, kinds, counts if counts is not None else self._ages.step(snap), names)
