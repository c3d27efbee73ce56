"""Scans as alerts: a symbol entering an alerting scan fires once, with a dead band and a
cooldown like the band alerts (``tui.alerts``).

Why a dead band: a price hugging a level (``close > avwap_session_up2`` with the
close a cent either side of the band) enters and leaves the scan every few
minutes; an alert on each entry trains a trader to ignore them. So a symbol
that has entered a scan stays *inside* it, for the alert, until it has left
it for real:

- **by the dead band**: the scan's leave test (``engine.expr.deadband.widen``:
  every comparison of prices loosened by ``DEAD_BAND_BP`` of the compared
  prices, a cross read as the state it crosses into) no longer holds; or
- **by time**: it has been out of the scan itself for ``REARM`` minutes of bar
  time (a price that drifted back inside the dead band and stayed there, then
  pushes through again, is a new event).

Only a symbol outside enters, and an entry fires at most once per ``COOLDOWN``
of bar time per scan and symbol; an entry inside the cooldown fires when it
ends if the symbol is still in the scan, and is dropped if it leaves first. A
minute without a bar changes nothing (a halted symbol neither leaves nor
enters). The first minute a scan is seen arms its current matches without
firing (they did not enter; they were there). A condition without prices
(``rvol > 2``) has no dead band: it leaves when it stops matching, and only
the cooldown spaces its alerts.

The same minute evaluated again (a revised bar, a scan edited) replaces that
minute's result and never fires an alert twice; an earlier minute (a replay
jump back) starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tui.alerts import COOLDOWN, DEAD_BAND_BP

#: Out of the scan this long (bar time, inside the dead band) also counts as having left.
REARM = np.timedelta64(10, "m")
_MINUTE = np.timedelta64(1, "m")  # the first minute out counts as one

__all__ = ["COOLDOWN", "DEAD_BAND_BP", "REARM", "Entries", "Entry", "ScanHit"]


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
class Entry:
    """One alerting scan at one minute: who matches, and who still meets its leave test."""

    scan: str
    expression: str
    matches: tuple[str, ...]
    stay: np.ndarray  # [S] bool over the minute's symbols: the widened scan holds


@dataclass
class _State:
    inside: dict[str, frozenset[str]] = field(default_factory=dict)
    out_since: dict[tuple[str, str], np.datetime64] = field(default_factory=dict)
    fired: dict[tuple[str, str], np.datetime64] = field(default_factory=dict)
    pending: frozenset[tuple[str, str]] = frozenset()

    def copy(self) -> _State:
        return _State(dict(self.inside), dict(self.out_since), dict(self.fired), self.pending)


class Entries:
    """Which symbols entered which alerting scans, minute by minute (see the module doc)."""

    def __init__(self, cooldown: np.timedelta64 = COOLDOWN, rearm: np.timedelta64 = REARM) -> None:
        self.cooldown, self.rearm = cooldown, rearm
        self.reset()

    def reset(self) -> None:
        self._done = _State()  # as of the last finished minute
        self._now = _State()  # this minute's (a revision recomputes it from ``_done``)
        self._ts: np.datetime64 | None = None
        self._sent: set[tuple[str, str]] = set()  # fired at ``_ts`` (never twice)

    def step(self, ts: np.datetime64, symbols: Sequence[str], valid: np.ndarray,
             entries: Sequence[Entry]) -> list[ScanHit]:
        """The alerts of minute ``ts``; ``valid[S]``: which ``symbols`` have a bar."""
        if self._ts is not None and ts < self._ts:
            self.reset()
        elif self._ts is not None and ts > self._ts:
            self._done, self._sent = self._now, set()
        self._ts = ts
        st = self._done.copy()
        st.fired = {k: t for k, t in st.fired.items() if ts - t < self.cooldown}
        names = {e.scan for e in entries}  # scans no longer alerting forget their state
        st.inside = {n: v for n, v in st.inside.items() if n in names}
        st.pending = frozenset(k for k in st.pending if k[0] in names)
        pos: dict[str, int] | None = None
        hits: list[ScanHit] = []
        for e in entries:
            first = e.scan not in st.inside
            inside, now = set(st.inside.get(e.scan, ())), set(e.matches)
            for sym in inside - now:
                if pos is None:
                    pos = {s: i for i, s in enumerate(symbols)}
                key, i = (e.scan, sym), pos.get(sym)
                if i is not None and not valid[i]:
                    continue  # no bar this minute: nothing changes
                if i is not None and e.stay[i] \
                        and ts - st.out_since.setdefault(key, ts) + _MINUTE < self.rearm:
                    continue  # inside the dead band, out for fewer minutes than ``rearm``
                inside.discard(sym)  # left (or no longer in the universe)
                st.out_since.pop(key, None)
            for sym in now:
                st.out_since.pop((e.scan, sym), None)
            entered = now - inside
            inside |= now
            st.inside[e.scan] = frozenset(inside)
            pending = {k for k in st.pending if k[0] != e.scan or k[1] in inside}
            if not first:
                pending |= {(e.scan, s) for s in entered}
            for key in sorted(k for k in pending if k[0] == e.scan and k[1] in now):
                last = st.fired.get(key)
                if last is not None and ts - last < self.cooldown:
                    continue  # kept: it fires when the cooldown ends if still in the scan
                if key not in self._sent:
                    hits.append(ScanHit(e.scan, e.expression, key[1], ts))
                    self._sent.add(key)
                st.fired[key] = ts
                pending.discard(key)
            st.pending = frozenset(pending)
        self._now = st
        return hits
