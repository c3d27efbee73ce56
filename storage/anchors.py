"""The trader's custom anchors ("anchor here"): kept per symbol in the cache's database.

Why in the cache: an anchor is a fact about a symbol's bars (the minute a gap,
a high or an earnings day began), so it lives beside those bars, survives
restarts and shows in ``avwap cache info``; the console rebuilds each anchor's
AVWAP from the cached bars (``engine.avwap.live_custom``).

An anchor is refused with one line (``AnchorError``) when its symbol has no bars
in the cache, when its minute lies outside the symbol's first..last bar, when
the symbol already has an anchor at that minute, or when the cache is open
read-only. Times are UTC whole minutes (``datetime64[m]``), like every bar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from storage.errors import AvwapError
from storage.types import MINUTE_US, as_dt64

if TYPE_CHECKING:
    from storage.cache import Cache

__all__ = ["MAX_LABEL", "Anchor", "AnchorError", "add_anchor", "anchor_counts",
           "delete_anchor", "get_anchor", "list_anchors"]

#: Longest label kept (it is a row name in the AVWAP pane).
MAX_LABEL = 24


class AnchorError(AvwapError):
    """An anchor cannot be added, found or deleted (the message says why)."""


@dataclass(frozen=True)
class Anchor:
    """One custom anchor: the symbol's AVWAP runs from the bar at ``ts`` (UTC minute) on."""

    id: int
    symbol: str
    ts: np.datetime64  # datetime64[m], UTC bar start
    label: str = ""

    @property
    def minute(self) -> int:
        """UTC minutes since 1970 (what the engine's ``ts_minutes`` holds)."""
        return int(self.ts.astype("datetime64[m]").astype(np.int64))


def _minute(ts: Any) -> np.datetime64:
    """Any timestamp as a UTC ``datetime64[m]`` (an aware datetime is converted to UTC)."""
    if isinstance(ts, dt.datetime) and ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    try:
        value = as_dt64(ts)
    except (ValueError, TypeError) as e:
        raise AnchorError(f"not a time: {ts!r}") from e
    if np.isnat(value):
        raise AnchorError("the anchor needs a time, not NaT")
    return value


def _as_utc(ts: np.datetime64) -> dt.datetime:
    micros = int(ts.astype("datetime64[m]").astype(np.int64)) * MINUTE_US
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)


def _has_table(cache: Cache) -> bool:
    """False for a cache written before anchors existed and opened read-only
    (a read-only open applies no migration)."""
    with cache.reading() as cur:
        row = cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'anchors'"
        ).fetchone()
    return bool(row and row[0])


def _row(r: tuple[Any, ...]) -> Anchor:
    return Anchor(int(r[0]), str(r[1]), np.datetime64(int(r[2]) // MINUTE_US, "m"), str(r[3]))


_SELECT = "SELECT id, symbol, epoch_us(ts), label FROM anchors"


def list_anchors(cache: Cache, symbols: Sequence[str] | None = None) -> list[Anchor]:
    """Anchors (of ``symbols``, or all), by symbol then time."""
    if not _has_table(cache):
        return []
    sql, params = _SELECT, []
    if symbols is not None:
        sql += " WHERE symbol IN (SELECT unnest(?))"
        params.append(list(symbols))
    try:
        with cache.reading() as cur:
            rows = cur.execute(sql + " ORDER BY symbol, ts, id", params).fetchall()
    except duckdb.Error as e:
        raise AnchorError(f"cannot read the anchors of {cache.path}: "
                          f"{str(e).strip().splitlines()[0]}") from e
    return [_row(r) for r in rows]


def get_anchor(cache: Cache, anchor_id: int) -> Anchor:
    """The anchor with ``anchor_id``; ``AnchorError`` when there is none."""
    rows = []
    if _has_table(cache):
        with cache.reading() as cur:
            rows = cur.execute(_SELECT + " WHERE id = ?", [int(anchor_id)]).fetchall()
    if not rows:
        raise AnchorError(f"no anchor with id {anchor_id}")
    return _row(rows[0])


def anchor_counts(cache: Cache) -> dict[str, int]:
    """Anchors per symbol (``avwap cache info``)."""
    if not _has_table(cache):
        return {}
    with cache.reading() as cur:
        rows = cur.execute(
            "SELECT symbol, count(*) FROM anchors GROUP BY symbol ORDER BY symbol").fetchall()
    return {str(s): int(n) for s, n in rows}


def add_anchor(cache: Cache, symbol: str, ts: Any, label: str = "") -> Anchor:
    """Keep a new anchor for ``symbol`` at ``ts`` (rounded down to its minute)."""
    symbol = str(symbol).strip().upper()
    label = " ".join(str(label).split())  # one line: no tabs or newlines in a row name
    if not symbol:
        raise AnchorError("the anchor needs a symbol")
    if len(label) > MAX_LABEL:
        raise AnchorError(f"the anchor label is {len(label)} characters; keep it to "
                          f"{MAX_LABEL}")
    minute = _minute(ts)
    if cache.read_only:
        raise AnchorError(f"the cache {cache.path} is open read-only: the anchor cannot be "
                          "kept")
    try:
        with cache.transaction() as cur:
            span = cur.execute(
                "SELECT epoch_us(min(ts)), epoch_us(max(ts)) FROM bars WHERE symbol = ?",
                [symbol]).fetchone()
            if span is None or span[0] is None:
                raise AnchorError(f"{symbol} has no bars in the cache: nothing to anchor on")
            first = np.datetime64(int(span[0]) // MINUTE_US, "m")
            last = np.datetime64(int(span[1]) // MINUTE_US, "m")
            if not first <= minute <= last:
                raise AnchorError(
                    f"{minute} UTC is outside {symbol}'s bars in the cache "
                    f"({first} to {last} UTC)")
            dup = cur.execute(
                "SELECT id FROM anchors WHERE symbol = ? AND ts = ?",
                [symbol, _as_utc(minute)]).fetchone()
            if dup is not None:
                raise AnchorError(f"{symbol} already has an anchor at {minute} UTC "
                                  f"(id {dup[0]})")
            row = cur.execute(
                "INSERT INTO anchors (symbol, ts, label, created_at) VALUES (?, ?, ?, now())"
                " RETURNING id", [symbol, _as_utc(minute), label]).fetchone()
    except duckdb.Error as e:
        raise AnchorError(f"cannot keep the anchor in {cache.path}: "
                          f"{str(e).strip().splitlines()[0]}") from e
    assert row is not None
    return Anchor(int(row[0]), symbol, minute, label)


def delete_anchor(cache: Cache, anchor_id: int) -> Anchor:
    """Remove anchor ``anchor_id`` and return it; ``AnchorError`` when there is none."""
    anchor = get_anchor(cache, anchor_id)
    if cache.read_only:
        raise AnchorError(f"the cache {cache.path} is open read-only: the anchor cannot be "
                          "deleted")
    try:
        with cache.transaction() as cur:
            cur.execute("DELETE FROM anchors WHERE id = ?", [anchor.id])
    except duckdb.Error as e:
        raise AnchorError(f"cannot delete the anchor from {cache.path}: "
                          f"{str(e).strip().splitlines()[0]}") from e
    return anchor
