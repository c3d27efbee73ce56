"""Validation of incoming minute bars: every bad row gets one named reason.

Runs vectorized over whole batches (NumPy), so checking costs little next to
the write itself. The reasons are stable strings: they are stored with the row
in ``rejected_bars`` and counted in write and sync summaries.
"""

from __future__ import annotations

import numpy as np

from storage.types import MINUTE_US

# Reasons, in the order they are checked (a row gets the first that applies).
MISSING = "missing value"
BAD_SYMBOL = "invalid symbol"
NO_TIMEZONE = "unknown timezone"
OFF_MINUTE = "timestamp not on a minute boundary"
NON_FINITE = "NaN or infinite price"
NON_POSITIVE = "non-positive price"
ABSURD_PRICE = "price above 10,000,000"
HIGH_BELOW_LOW = "high below low"
OPEN_OUTSIDE = "open outside [low, high]"
CLOSE_OUTSIDE = "close outside [low, high]"
BAD_VOLUME = "negative or NaN volume"

REASONS: tuple[str, ...] = (
    MISSING,
    BAD_SYMBOL,
    NO_TIMEZONE,
    OFF_MINUTE,
    NON_FINITE,
    NON_POSITIVE,
    ABSURD_PRICE,
    HIGH_BELOW_LOW,
    OPEN_OUTSIDE,
    CLOSE_OUTSIDE,
    BAD_VOLUME,
)

#: No listed share trades near this (BRK.A is under 1e6); 1e308 would be inf in
#: the engine's float32 and poison every sum it enters.
MAX_PRICE = 1e7

_SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-/^_")
MAX_SYMBOL_LEN = 16


def symbol_ok(sym: object) -> bool:
    """Upper-case letters, digits and ``. - / ^ _``, 1..16 characters."""
    return (
        isinstance(sym, str)
        and 0 < len(sym) <= MAX_SYMBOL_LEN
        and all(ch in _SYMBOL_CHARS for ch in sym)
    )


def check_symbols(unique_symbols: list[object]) -> set[object]:
    """The subset of ``unique_symbols`` that is invalid (checked once per distinct value)."""
    return {s for s in unique_symbols if not symbol_ok(s)}


def reasons(
    ts_us: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    *,
    missing: np.ndarray,
    bad_symbol: np.ndarray,
    no_timezone: np.ndarray,
) -> np.ndarray:
    """Reason code per row: -1 for a good row, else an index into ``REASONS``.

    ``ts_us`` is int64 microseconds since 1970 UTC; prices and volume float64
    (NaN where the source had NULL, which ``missing`` also flags).
    """
    n = len(ts_us)
    code = np.full(n, -1, dtype=np.int8)

    def mark(cond: np.ndarray, reason: str) -> None:
        np.copyto(code, np.int8(REASONS.index(reason)), where=cond & (code < 0))

    mark(missing, MISSING)
    mark(bad_symbol, BAD_SYMBOL)
    mark(no_timezone, NO_TIMEZONE)
    mark(ts_us % MINUTE_US != 0, OFF_MINUTE)
    with np.errstate(invalid="ignore"):
        prices = (o, h, lo, c)
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        mark(~finite, NON_FINITE)
        positive = (o > 0) & (h > 0) & (lo > 0) & (c > 0)
        mark(~positive, NON_POSITIVE)
        mark((o > MAX_PRICE) | (h > MAX_PRICE) | (lo > MAX_PRICE) | (c > MAX_PRICE), ABSURD_PRICE)
        mark(h < lo, HIGH_BELOW_LOW)
        mark((o < lo) | (o > h), OPEN_OUTSIDE)
        mark((c < lo) | (c > h), CLOSE_OUTSIDE)
        mark(~(v >= 0) | ~np.isfinite(v), BAD_VOLUME)
    del prices
    return code
