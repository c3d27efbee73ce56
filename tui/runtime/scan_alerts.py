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
enters). The first minute a scan is seen, or a symbol joins the universe, arms
the current matches without firing (they did not enter; they were there). A condition without prices
(``rvol > 2``) has no dead band: it leaves when it stops matching, and only
the cooldown spaces its alerts.

The same minute evaluated again (a revised bar, a scan edited) replaces that
minute's result and never fires an alert twice; an earlier minute (a replay
jump back) starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    """One alerting scan at one minute, over the minute's symbols: who matches (within
    its universe), and who still meets its leave test (``engine.expr.deadband``)."""

    scan: str
    expression: str
    now: np.ndarray  # [S] bool: in the scan
    stay: np.ndarray  # [S] bool: the widened scan holds


_NAT = np.datetime64("NaT", "m")


@dataclass
class _Scan:
    """One scan's state over the symbols ``Entries`` holds, as ``[S]`` arrays."""

    inside: np.ndarray  # bool: entered and not left since
    out_since: np.ndarray  # datetime64[m]: first minute out of the scan while inside
    fired: np.ndarray  # datetime64[m]: the last alert
    pending: np.ndarray  # bool: entered inside the cooldown, fires when it ends

    @staticmethod
    def empty(s: int) -> _Scan:
        return _Scan(np.zeros(s, bool), np.full(s, _NAT), np.full(s, _NAT), np.zeros(s, bool))

    def copy(self) -> _Scan:
        return _Scan(self.inside.copy(), self.out_since.copy(), self.fired.copy(),
                     self.pending.copy())

    def take(self, idx: np.ndarray, new: np.ndarray) -> _Scan:
        """Rows ``idx`` of the old symbols (``new``: rows that are new symbols)."""
        out = _Scan(self.inside[idx], self.out_since[idx], self.fired[idx], self.pending[idx])
        out.inside[new], out.pending[new] = False, False
        out.out_since[new], out.fired[new] = _NAT, _NAT
        return out


class Entries:
    """Which symbols entered which alerting scans, minute by minute (see the module doc).

    The state is one ``[S]`` array per scan and field over the minute's symbols (650
    symbols flickering in and out of a scan cost NumPy calls, not a Python loop);
    when the universe changes, each symbol's state follows it by name.
    """

    def __init__(self, cooldown: np.timedelta64 = COOLDOWN, rearm: np.timedelta64 = REARM) -> None:
        self.cooldown, self.rearm = cooldown, rearm
        self.reset()

    def reset(self) -> None:
        self._done: dict[str, _Scan] = {}  # as of the last finished minute
        self._now: dict[str, _Scan] = {}  # this minute's (a revision recomputes it)
        self._symbols: tuple[str, ...] = ()
        self._ts: np.datetime64 | None = None
        self._sent: dict[str, np.ndarray] = {}  # fired at ``_ts`` (never twice)
        self._fresh = np.zeros(0, bool)  # symbols first seen at ``_ts`` (they did not enter)

    def _follow(self, symbols: tuple[str, ...]) -> None:
        """Re-index every state by name for a new universe."""
        old = {s: i for i, s in enumerate(self._symbols)}
        at = np.array([old.get(s, 0) for s in symbols], np.intp)
        new = np.array([s not in old for s in symbols], bool)
        if not len(self._symbols):
            at, new = np.zeros(len(symbols), np.intp), np.ones(len(symbols), bool)
            self._done = {k: _Scan.empty(len(symbols)) for k in self._done}
            self._now = {k: _Scan.empty(len(symbols)) for k in self._now}
        else:
            self._done = {k: v.take(at, new) for k, v in self._done.items()}
            self._now = {k: v.take(at, new) for k, v in self._now.items()}
        self._sent = {k: v[at] & ~new for k, v in self._sent.items()}
        self._fresh = new | (self._fresh[at] if len(self._fresh) else False)
        self._symbols = symbols

    def step(self, ts: np.datetime64, symbols: Sequence[str], valid: np.ndarray,
             entries: Sequence[Entry]) -> list[ScanHit]:
        """The alerts of minute ``ts``; ``valid[S]``: which ``symbols`` have a bar."""
        ts = ts.astype("datetime64[m]")
        if self._ts is not None and ts < self._ts:
            self.reset()
        elif self._ts is not None and ts > self._ts:
            self._done, self._sent = self._now, {}
            self._fresh = np.zeros(len(self._symbols), bool)
        self._ts = ts
        syms = tuple(symbols)
        if syms is not self._symbols and syms != self._symbols:
            self._follow(syms)
        s, ok = len(syms), np.asarray(valid, bool)
        hits: list[ScanHit] = []
        now_state: dict[str, _Scan] = {}
        for e in entries:
            before = self._done.get(e.scan)
            first = before is None
            st = _Scan.empty(s) if before is None else before.copy()
            now = np.asarray(e.now, bool)
            # Inside, out of the scan, with a bar: left by the dead band or by time.
            out = st.inside & ~now & ok
            since = np.where(out & np.isnat(st.out_since), ts, st.out_since)
            left = out & (~np.asarray(e.stay, bool) | (ts - since + _MINUTE >= self.rearm))
            st.out_since = np.where(now | left, _NAT, np.where(out, since, st.out_since))
            kept = st.inside & ~left
            entered = now & ~kept
            st.inside = kept | now
            st.pending &= st.inside
            if not first:
                st.pending |= entered & ~self._fresh
            cool = np.isnat(st.fired) | (ts - st.fired >= self.cooldown)
            due = st.pending & now & cool
            st.fired = np.where(due, ts, st.fired)
            st.pending &= ~due
            sent = self._sent.setdefault(e.scan, np.zeros(s, bool))
            for i in np.flatnonzero(due & ~sent):
                hits.append(ScanHit(e.scan, e.expression, syms[i], ts))
            sent |= due
            now_state[e.scan] = st
        self._now = now_state  # (scans no longer alerting forget their state)
        return hits
