"""Band-cross alerts: plain-Python rules the console evaluates on every minute.

Why no widgets here: the rules are checked in the engine's worker thread on every
Snapshot (never skipped when the screen collapses a burst of frames), and tests
drive them with hand-made Snapshots. A rule fires when the symbol's last price
moves from one side of the chosen AVWAP level or band to the other; touching the
level is not a cross, and a NaN level (no data yet in the anchor) forgets the
side so a fresh segment starts clean.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

import numpy as np

from engine.snapshot import Snapshot
from storage.types import SEGMENT_KINDS

#: Band choices, from the lowest to the highest; ``level`` is the AVWAP itself.
BANDS: tuple[str, ...] = ("dn3", "dn2", "dn1", "level", "up1", "up2", "up3")
BAND_LABELS: dict[str, str] = {
    "dn3": "−3σ", "dn2": "−2σ", "dn1": "−1σ", "level": "AVWAP",
    "up1": "+1σ", "up2": "+2σ", "up3": "+3σ",
}
ANCHORS: tuple[str, ...] = SEGMENT_KINDS

_ids = itertools.count(1)


def output_name(anchor: str, band: str) -> str:
    """The registry output of an anchor's level or band (``avwap_day_up2``)."""
    if anchor not in ANCHORS:
        raise ValueError(f"unknown anchor {anchor!r}; choose one of {', '.join(ANCHORS)}")
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; choose one of {', '.join(BANDS)}")
    return f"avwap_{anchor}" if band == "level" else f"avwap_{anchor}_{band}"


@dataclass(frozen=True)
class AlertRule:
    """Notify when ``symbol``'s last price crosses ``anchor``'s ``band``."""

    symbol: str
    anchor: str
    band: str
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        output_name(self.anchor, self.band)  # validates

    @property
    def output(self) -> str:
        return output_name(self.anchor, self.band)

    @property
    def label(self) -> str:
        return f"{self.symbol} crosses {self.anchor} {BAND_LABELS[self.band]}"


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


class AlertBook:
    """The user's rules and what fired; thread-safe (UI edits, worker evaluates)."""

    def __init__(self) -> None:
        self._rules: dict[int, AlertRule] = {}
        self._side: dict[int, int] = {}
        self.history: list[AlertHit] = []
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[AlertRule]:
        with self._lock:
            return list(self._rules.values())

    def add(self, rule: AlertRule) -> AlertRule:
        with self._lock:
            self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: int) -> None:
        with self._lock:
            self._rules.pop(rule_id, None)
            self._side.pop(rule_id, None)

    def evaluate(self, snap: Snapshot) -> list[AlertHit]:
        """Rules crossed by this minute (each also appended to ``history``)."""
        hits: list[AlertHit] = []
        index = {s: i for i, s in enumerate(snap.symbols)}
        names = {n: j for j, n in enumerate(snap.names)}
        with self._lock:
            for rule in self._rules.values():
                i, j = index.get(rule.symbol), names.get(rule.output)
                if i is None or j is None:
                    continue
                price, level = float(snap.last[i]), float(snap.values[i, j])
                if not (np.isfinite(price) and np.isfinite(level)):
                    self._side.pop(rule.id, None)
                    continue
                side = 1 if price > level else -1 if price < level else 0
                if side == 0:
                    continue
                before = self._side.get(rule.id)
                self._side[rule.id] = side
                if before is not None and before != side:
                    hits.append(
                        AlertHit(rule, snap.ts, price, level, "up" if side > 0 else "down")
                    )
            self.history.extend(hits)
        return hits
