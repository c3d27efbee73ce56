"""Incoming bars on their way into the cache: normalise, validate, de-duplicate.

Why a module of its own: ``Cache.write_bars`` is the only write path, and
everything it does before touching DuckDB (validation reasons, the last-wins
de-duplication, per-symbol counts) is pure Arrow/NumPy work worth reading and
testing on its own. ``storage.cache`` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage import validate
from storage.errors import CacheError
from storage.types import FIELDS, MINUTE_US

_UTC = "UTC"

NULL_SYMBOL = "(null)"


@dataclass
class SymbolCounts:
    """One symbol's part of a write: rows received, written (incl. replaced),
    replaced, and rejected by reason."""

    read: int = 0
    written: int = 0
    replaced: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    removed: int = 0
    unchanged: int = 0
    """Rows the cache already held with the same values (written, not rewritten)."""
    """Cache rows deleted because the source no longer has them (``write_bars(clear=)``)."""

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def add(self, other: SymbolCounts) -> None:
        self.read += other.read
        self.written += other.written
        self.replaced += other.replaced
        self.removed += other.removed
        self.unchanged += other.unchanged
        _merge_counts(self.rejected_by_reason, other.rejected_by_reason)


@dataclass
class WriteResult:
    """What one write did. ``written`` includes ``replaced`` rows; ``duplicates``
    counts rows dropped because a later row of the same write had the same
    (symbol, minute), so ``received = written + rejected + duplicates``.

    ``by_symbol`` is filled when the write was asked for it
    (``write_bars(..., by_symbol=True)``); rows without a symbol count under
    ``NULL_SYMBOL``.
    """

    received: int = 0
    written: int = 0
    replaced: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    by_symbol: dict[str, SymbolCounts] = field(default_factory=dict)
    duplicates: int = 0
    removed: int = 0
    """Cache rows deleted because the source no longer has them (``write_bars(clear=)``)."""
    unchanged: int = 0
    """Rows the cache already held with the same values (counted in ``written``, not
    rewritten); ``replaced`` counts only rows whose values really changed."""

    def add(self, other: WriteResult) -> None:
        self.received += other.received
        self.written += other.written
        self.replaced += other.replaced
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.removed += other.removed
        self.unchanged += other.unchanged
        _merge_counts(self.rejected_by_reason, other.rejected_by_reason)
        for sym, counts in other.by_symbol.items():
            self.by_symbol.setdefault(sym, SymbolCounts()).add(counts)

    def _symbol(self, sym: str | None) -> SymbolCounts:
        return self.by_symbol.setdefault(NULL_SYMBOL if sym is None else sym, SymbolCounts())


def _merge_counts(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def value_counts(col: pa.ChunkedArray | pa.Array) -> list[tuple[str | None, int]]:
    vc = pc.value_counts(col)
    if isinstance(vc, pa.ChunkedArray):
        vc = vc.combine_chunks()
    return list(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))


def bars_table(
    symbol: Sequence[str] | np.ndarray,
    ts: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
) -> pa.Table:
    """An Arrow table of bars from NumPy columns; ``ts`` is UTC ``datetime64``."""
    return pa.table(
        {
            "symbol": pa.array(np.asarray(symbol, dtype=object), pa.string()),
            "ts": pa.array(np.asarray(ts, dtype="datetime64[us]"), pa.timestamp("us", tz=_UTC)),
            "open": pa.array(np.asarray(open, dtype=np.float64)),
            "high": pa.array(np.asarray(high, dtype=np.float64)),
            "low": pa.array(np.asarray(low, dtype=np.float64)),
            "close": pa.array(np.asarray(close, dtype=np.float64)),
            "volume": pa.array(np.asarray(volume, dtype=np.float64)),
        }
    )


def stage(table: pa.Table) -> tuple[pa.Table, pa.Table | None, WriteResult]:
    """Split an input table into good bars (deduplicated) and rejected rows."""
    required = ("symbol", "ts", *FIELDS)
    missing_cols = [c for c in required if c not in table.column_names]
    if missing_cols:
        raise CacheError(f"bars lack column(s) {', '.join(missing_cols)}")
    n = table.num_rows
    result = WriteResult(received=n)
    if n == 0:
        return _empty_bars(), None, result

    sym = table["symbol"]
    if not pa.types.is_string(sym.type) and not pa.types.is_large_string(sym.type):
        sym = pc.cast(sym, pa.string())
    ts = table["ts"]
    no_tz = np.zeros(n, dtype=bool)
    if pa.types.is_timestamp(ts.type):
        if ts.type.tz is None:
            no_tz[:] = True
        ts_us = pc.cast(ts, pa.timestamp("us", tz=ts.type.tz)).cast(pa.int64())
    else:
        raise CacheError(f"column 'ts' must be a timestamp, not {ts.type}")
    ts_np = _np(ts_us, np.int64, 0)
    prices = {f: _np(table[f], np.float64, np.nan) for f in FIELDS}
    missing = pc.is_null(sym).to_numpy(zero_copy_only=False) | pc.is_null(ts).to_numpy(
        zero_copy_only=False
    )
    for f in FIELDS:
        if table[f].null_count:
            missing |= pc.is_null(table[f]).to_numpy(zero_copy_only=False)

    uniq = pc.unique(sym).to_pylist()
    bad = validate.check_symbols([u for u in uniq if u is not None])
    bad_sym = np.zeros(n, dtype=bool)
    if bad:
        bad_set = pa.array(sorted(map(str, bad)), pa.string())
        bad_sym = pc.is_in(sym, value_set=bad_set).to_numpy(zero_copy_only=False)
    code = validate.reasons(
        ts_np,
        prices["open"],
        prices["high"],
        prices["low"],
        prices["close"],
        prices["volume"],
        missing=missing,
        bad_symbol=bad_sym,
        no_timezone=no_tz,
    )
    good = code < 0
    rejected = None
    if not good.all():
        bad_idx = np.flatnonzero(~good)
        rej = table.take(pa.array(bad_idx))
        cols = {c: pc.cast(rej[c], pa.string()) for c in required}
        reasons = [validate.REASONS[i] for i in code[bad_idx]]
        cols["reason"] = pa.array(reasons, pa.string())
        rejected = pa.table(cols)
        result.rejected = len(bad_idx)
        for r in reasons:
            result.rejected_by_reason[r] = result.rejected_by_reason.get(r, 0) + 1

    good_idx = None if good.all() else np.flatnonzero(good)
    sym_good = sym if good_idx is None else sym.take(pa.array(good_idx))
    ts_good = ts_np if good_idx is None else ts_np[good_idx]
    cols_good = {f: prices[f] if good_idx is None else prices[f][good_idx] for f in FIELDS}
    keep = _last_of_each_key(sym_good, ts_good)
    if keep is not None:
        result.duplicates = len(ts_good) - len(keep)
        sym_good = sym_good.take(pa.array(keep))
        ts_good = ts_good[keep]
        cols_good = {f: a[keep] for f, a in cols_good.items()}
    staged = pa.table(
        {
            "symbol": sym_good,
            "ts": pa.array(ts_good, pa.int64()).cast(pa.timestamp("us", tz=_UTC)),
            **{f: pa.array(cols_good[f]) for f in FIELDS},
        }
    )
    return staged, rejected, result


def _last_of_each_key(sym: pa.ChunkedArray | pa.Array, ts_us: np.ndarray) -> np.ndarray | None:
    """Row indices keeping the last occurrence of each (symbol, ts); None if no duplicates.

    Fast path: bars usually arrive sorted by (symbol, ts) or by ts within one
    symbol; a strictly increasing key has no duplicates and needs no sort.
    """
    if len(ts_us) == 0:
        return None
    codes = pc.dictionary_encode(sym)
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.combine_chunks()
    idx = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    minutes = ts_us // MINUTE_US
    key = (idx << 32) | (minutes - minutes.min())
    if np.all(key[1:] > key[:-1]):
        return None
    order = np.argsort(key, kind="stable")
    sk = key[order]
    last = np.ones(len(sk), dtype=bool)
    last[:-1] = sk[1:] != sk[:-1]
    if last.all():
        return None
    return np.sort(order[last])


def _np(col: pa.ChunkedArray | pa.Array, dtype: Any, fill: Any) -> np.ndarray:
    want = pa.from_numpy_dtype(np.dtype(dtype))
    arr = col if col.type == want else pc.cast(col, want)
    if arr.null_count:  # a copy only when there is something to fill
        arr = pc.fill_null(arr, fill)
    return np.asarray(arr.to_numpy(), dtype=dtype)


def _empty_bars() -> pa.Table:
    return bars_table([], np.array([], "datetime64[us]"), *(np.array([]) for _ in FIELDS))
