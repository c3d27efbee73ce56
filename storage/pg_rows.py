"""Rows read from PostgreSQL, made ready for ``Cache.write_bars``: chunks and refusals.

Why a module of its own: what the sync refuses before the cache sees a row
(a timestamp the cache cannot hold, a bar from the future, a value that does
not convert, a volume too large for a float64) is decided here, row by row and
vectorized, so that one bad value refuses one row — never the whole read —
and its reason is true. Chunking (never splitting a (symbol, ts) key) and the
"greatest row wins" order of duplicate keys live here too.

The reasons are stable strings, stored with the row in ``rejected_bars``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.types import FIELDS
from storage.writes import WriteResult, stage

INFINITE_TS = "infinite timestamp"
DST_GAP = "local time that does not exist (skipped by a DST change)"
DST_FOLD = "local time repeated by a DST change (ambiguous without a zone)"
FUTURE = "timestamp in the future"
NOT_A_NUMBER = "value not a number"
OUT_OF_RANGE = "value out of float64 range"
VOLUME_TOO_LARGE = "volume of 2^53 or more (cannot be stored exactly)"

#: Checked in this order: a row gets the first that applies.
REASONS = (INFINITE_TS, DST_GAP, DST_FOLD, FUTURE, NOT_A_NUMBER, OUT_OF_RANGE, VOLUME_TOO_LARGE)
MAX_EXACT = 2**53

_NUMBER = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
_INF_WORD = r"(?i)^[+-]?(inf|infinity)$"
_TEXT_COLS = ("symbol", "ts", *FIELDS)
_UTC_US = pa.timestamp("us", tz="UTC")


@dataclass
class Prepared:
    """One chunk: bars for ``write_bars`` (and their ``stage``), the rows refused
    here, the mirror ranges."""

    bars: pa.Table
    refused: pa.Table | None
    clear: pa.Table | None
    rows: int
    last_symbol: str | None
    staged: tuple[pa.Table, pa.Table | None, WriteResult] | None = None


def refuse(table: pa.Table, *, not_after_us: int) -> tuple[pa.Table, pa.Table | None]:
    """Split a read chunk into bars (float64 values, UTC ts) and refused rows (text + reason)."""
    n = table.num_rows
    code = np.full(n, -1, dtype=np.int8)

    def mark(cond: np.ndarray | pa.Array | pa.ChunkedArray, reason: str) -> None:
        if not isinstance(cond, np.ndarray):
            cond = pc.fill_null(cond, False).to_numpy(zero_copy_only=False)
        np.copyto(code, np.int8(REASONS.index(reason)), where=cond & (code < 0))

    bad_ts = table.column("bad_ts")
    if bad_ts.null_count < n:
        is_bad = pc.is_valid(bad_ts)
        inf = pc.match_substring_regex(pc.fill_null(bad_ts, ""), _INF_WORD)
        mark(pc.and_(is_bad, inf), INFINITE_TS)
        mark(is_bad, DST_GAP)
    fold_ts = table.column("fold_ts") if "fold_ts" in table.column_names else None
    if fold_ts is not None and fold_ts.null_count < n:
        mark(pc.is_valid(fold_ts), DST_FOLD)
    ts = table.column("ts")
    if ts.type != _UTC_US:
        ts = pc.cast(ts, _UTC_US)
    mark(pc.greater(pc.cast(ts, pa.int64()), not_after_us), FUTURE)

    values: dict[str, pa.ChunkedArray | pa.Array] = {}
    for f in FIELDS:
        col = table.column(f)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            text = pc.utf8_trim_whitespace(col)
            ok = pc.match_substring_regex(text, _NUMBER)
            mark(pc.and_(pc.is_valid(text), pc.invert(ok)), NOT_A_NUMBER)
            num = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
            overflow = pc.and_(pc.is_inf(num), pc.invert(pc.match_substring_regex(text, _INF_WORD)))
            mark(overflow, OUT_OF_RANGE)
            col = num
        if f == "volume":
            if pa.types.is_integer(col.type):
                mark(pc.greater_equal(pc.abs(col), MAX_EXACT), VOLUME_TOO_LARGE)
                col = pc.cast(col, pa.float64(), safe=False)
            else:
                col = pc.cast(col, pa.float64())
                mark(pc.greater_equal(pc.abs(col), float(MAX_EXACT)), VOLUME_TOO_LARGE)
        elif col.type != pa.float64():
            col = pc.cast(col, pa.float64())
        values[f] = col

    good = code < 0
    refused = None
    if not good.all():
        bad_idx = pa.array(np.flatnonzero(~good))
        rej = table.take(bad_idx)
        text = {c: pc.cast(rej.column(c), pa.string()) for c in _TEXT_COLS}
        text["ts"] = pc.coalesce(rej.column("bad_ts"), text["ts"])
        if fold_ts is not None:  # the local wall time as the source holds it
            text["ts"] = pc.coalesce(rej.column("fold_ts"), text["ts"])
        text["reason"] = pa.array([REASONS[i] for i in code[~good]], pa.string())
        refused = pa.table(text)
    cols = {"symbol": table.column("symbol"), "ts": ts, **values}
    bars = pa.table(cols)
    if refused is not None:
        bars = bars.filter(pa.array(good))
    return bars, refused


class Mirror:
    """Per-stream state of a ``--full`` read: the ranges where the cache must
    equal the source (each symbol from its first to its newest row read)."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def ranges(self, bars: pa.Table) -> pa.Table | None:
        """Ranges covered by this chunk, continuing each symbol's previous one."""
        keep = pc.and_(pc.is_valid(bars.column("symbol")), pc.is_valid(bars.column("ts")))
        t = bars.select(["symbol", "ts"]).filter(keep)
        if not t.num_rows:
            return None
        t = t.set_column(1, "ts", pc.cast(t.column("ts"), pa.int64()))
        g = t.group_by("symbol").aggregate([("ts", "min"), ("ts", "max")])
        syms = g.column("symbol").to_pylist()
        lo = g.column("ts_min").to_numpy().copy()
        hi = g.column("ts_max").to_numpy()
        for i, s in enumerate(syms):
            if s in self.last:
                lo[i] = self.last[s] + 1  # right after what the previous chunk covered
            self.last[s] = int(hi[i])
        return pa.table(
            {
                "symbol": pa.array(syms, pa.string()),
                "lo": pa.array(lo, pa.int64()).cast(_UTC_US),
                "hi": pa.array(hi, pa.int64()).cast(_UTC_US),
            }
        )


def prepare(table: pa.Table, *, not_after_us: int, mirror: Mirror | None = None) -> Prepared:
    """A read chunk made ready for ``write_bars``."""
    bars, refused = refuse(table, not_after_us=not_after_us)
    bars = settle(bars)
    clear = mirror.ranges(bars) if mirror is not None else None
    last = table.column("symbol")[-1].as_py() if table.num_rows else None
    staged = stage(bars)
    # Only the symbols are needed after staging (write_bars counts them): the
    # value columns are dropped here so a waiting chunk holds one copy, not two.
    return Prepared(bars.select(["symbol"]), refused, clear, table.num_rows, last, staged)


def chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Generator[pa.Table, None, None]:
    """Tables of about ``rows`` rows that never split a (symbol, ts) key.

    The rows of the key at a chunk's end are carried into the next chunk, so
    duplicate keys always meet in one ``write_bars`` call (``settle`` orders
    them there); a key with more rows than ``rows`` makes one larger chunk.
    """
    pending: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        pending.append(batch)
        n += batch.num_rows
        if n <= rows:
            continue
        table = pa.Table.from_batches(pending)
        while table.num_rows > rows:
            cut = _cut(table, rows)
            if cut is None:
                break  # one key fills the table: read on until it ends
            yield table.slice(0, cut).combine_chunks()
            table = table.slice(cut)
        pending, n = table.to_batches(), table.num_rows
    if n:
        yield pa.Table.from_batches(pending).combine_chunks()


def _cut(table: pa.Table, rows: int) -> int | None:
    """Where to end a chunk near ``rows`` (``None``: the place is not in the table yet).

    Preferably where a symbol starts, in the second half of the chunk: chunks
    then hold whole symbols, so the cache's replace check finds nothing of a
    chunk's symbols in the chunks before it and skips its DELETE. Else at the
    start of the key of row ``rows``; or, when one key fills the chunk, at its end.
    """
    head = table.slice(0, rows + 1)
    sym = head.column("symbol")
    half = rows // 2
    tail = sym.slice(half)
    if len(tail) > 1:
        changed = np.flatnonzero(_changed(tail))
        if len(changed):
            return half + int(changed[-1]) + 1
    start = _last_key_start(head)
    if start > 0:
        return start
    sym, ts = table.column("symbol"), table.column("ts")
    same = pc.and_kleene(pc.equal(sym, sym[0]), pc.equal(ts, ts[0]))
    differ = np.flatnonzero(~pc.fill_null(same, False).to_numpy(zero_copy_only=False))
    return int(differ[0]) if len(differ) else None


def _last_key_start(table: pa.Table) -> int:
    """Index of the first row carrying the table's last (symbol, ts) key."""
    sym, ts = table.column("symbol"), table.column("ts")
    same = pc.and_kleene(pc.equal(sym, sym[-1]), pc.equal(ts, ts[-1]))
    same_np = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    i = len(same_np)
    while i > 0 and same_np[i - 1]:
        i -= 1
    return i


def settle(chunk: pa.Table) -> pa.Table:
    """Order rows of a duplicated key by (open, high, low, close, volume) ascending.

    ``write_bars`` keeps the last valid occurrence, so the winner is the valid
    row with the greatest values: a rule of the data, not of the read order.
    """
    n = chunk.num_rows
    if n < 2:
        return chunk.combine_chunks()
    sym, ts = chunk.column("symbol"), chunk.column("ts")
    same = pc.and_(
        pc.equal(sym.slice(1), sym.slice(0, n - 1)), pc.equal(ts.slice(1), ts.slice(0, n - 1))
    )
    if not pc.any(same).as_py():
        return chunk.combine_chunks()
    group = np.cumsum(np.r_[True, _changed(sym)])  # keeps the server's symbol order
    keys = [("g", "ascending"), ("ts", "ascending")] + [(f, "ascending") for f in FIELDS]
    order = pc.sort_indices(
        pa.table({"g": group, "ts": ts, **{f: chunk.column(f) for f in FIELDS}}), sort_keys=keys
    )
    return chunk.take(order)


def _changed(sym: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """``[n - 1]`` bools: row i+1's symbol differs from row i's (nulls count as a value)."""
    n = len(sym)
    a, b = sym.slice(1), sym.slice(0, n - 1)
    ne = pc.fill_null(pc.not_equal(a, b), True)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.and_(ne, pc.invert(both_null)).to_numpy(zero_copy_only=False).astype(bool)
