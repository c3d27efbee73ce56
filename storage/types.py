"""The data shapes every room shares: Panel (many minutes), BarBatch (one minute)
and RunTables (one backtest run as rows).

They live in ``storage`` because ``load_panel`` returns them and storage is the
lowest room; ``engine`` re-exports them (``from engine import Panel, BarBatch``).
They hold NumPy arrays only, so nothing here depends on MLX.

Conventions (the contract for the whole project):

- A bar is labelled by the **start** of its minute, in UTC (``datetime64[m]``).
- Prices and volume are float64 in storage; the engine casts to float32.
- A minute with no bar for a symbol has ``valid=False``; its OHLCV cells are NaN
  (volume 0.0). Nothing downstream may treat such a cell as a trade.
- Segment ids (``SEGMENT_KINDS``) are stable integers, not positions: the same
  calendar period has the same id in every panel and every BarBatch, so state
  warmed on a panel continues correctly when live batches arrive. Ids are
  non-decreasing in time. ``-1`` means "outside any such segment" (the pre-market
  minutes of a day have session id -1, because the session anchor is the 09:30
  regular open).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

#: Calendar anchors every Panel and BarBatch carries segment ids for.
SEGMENT_KINDS: tuple[str, ...] = ("session", "day", "week", "month", "quarter", "year")

#: Names of the price/volume fields, in storage order.
FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

Hours = str  # "regular" | "extended"

#: Microseconds in a minute: DuckDB and PostgreSQL hold bar times as integer
#: microseconds since the epoch, the panels as ``datetime64[m]``.
MINUTE_US = 60_000_000


def as_dt64(ts: object, unit: str = "m") -> np.datetime64:
    """Any timestamp (datetime64 of any unit, datetime, ISO string) as ``datetime64[unit]``.

    One typed spelling of ``np.datetime64(ts, unit)``, which NumPy's stubs reject
    for a value that is already a datetime64.
    """
    value: np.datetime64 = np.asarray(ts, dtype=f"datetime64[{unit}]")[()]  # type: ignore[assignment]
    return value


@dataclass(frozen=True)
class Panel:
    """Dense ``[S, T]`` minute bars for S symbols on one shared UTC minute grid.

    ``ts[T]`` is ``datetime64[m]`` UTC (bar start). ``segments[kind][T]`` is int64.
    ``minute_of_session[T]`` counts minutes since the 09:30 regular open of the
    bar's trading day (negative in the pre-market), and ``session_minutes[T]`` is
    that day's regular-session length (390, or 210 on a half day): intraday
    indicators need both and must not re-derive the calendar.
    """

    symbols: tuple[str, ...]
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    valid: np.ndarray
    segments: dict[str, np.ndarray]
    minute_of_session: np.ndarray
    session_minutes: np.ndarray
    hours: Hours = "regular"

    def __post_init__(self) -> None:
        s, t = len(self.symbols), len(self.ts)
        for name in (*FIELDS, "valid"):
            arr = getattr(self, name)
            if arr.shape != (s, t):
                raise ValueError(f"Panel.{name} has shape {arr.shape}, expected {(s, t)}")
        for kind in SEGMENT_KINDS:
            if kind not in self.segments:
                raise ValueError(f"Panel.segments lacks {kind!r}")
            if self.segments[kind].shape != (t,):
                raise ValueError(f"Panel.segments[{kind!r}] must have shape {(t,)}")

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.symbols), len(self.ts))

    @property
    def n_bars(self) -> int:
        """Number of real bars (valid cells)."""
        return int(self.valid.sum())

    def batch(self, t: int, *, final: bool = True) -> BarBatch:
        """The BarBatch of minute index ``t`` (what a live feed would deliver)."""
        return BarBatch(
            symbols=self.symbols,
            ts=self.ts[t],
            open=self.open[:, t].copy(),
            high=self.high[:, t].copy(),
            low=self.low[:, t].copy(),
            close=self.close[:, t].copy(),
            volume=self.volume[:, t].copy(),
            valid=self.valid[:, t].copy(),
            segments={k: int(v[t]) for k, v in self.segments.items()},
            minute_of_session=int(self.minute_of_session[t]),
            session_minutes=int(self.session_minutes[t]),
            final=final,
        )

    def slice_time(self, start: int, stop: int) -> Panel:
        """A panel of minutes ``[start, stop)`` (views, no copy)."""
        sl = slice(start, stop)
        return Panel(
            symbols=self.symbols,
            ts=self.ts[sl],
            open=self.open[:, sl],
            high=self.high[:, sl],
            low=self.low[:, sl],
            close=self.close[:, sl],
            volume=self.volume[:, sl],
            valid=self.valid[:, sl],
            segments={k: v[sl] for k, v in self.segments.items()},
            minute_of_session=self.minute_of_session[sl],
            session_minutes=self.session_minutes[sl],
            hours=self.hours,
        )

    def select(self, symbols: list[str] | tuple[str, ...]) -> Panel:
        """A panel restricted to ``symbols`` (in that order)."""
        idx = [self.symbols.index(s) for s in symbols]
        return Panel(
            symbols=tuple(symbols),
            ts=self.ts,
            open=self.open[idx],
            high=self.high[idx],
            low=self.low[idx],
            close=self.close[idx],
            volume=self.volume[idx],
            valid=self.valid[idx],
            segments=self.segments,
            minute_of_session=self.minute_of_session,
            session_minutes=self.session_minutes,
            hours=self.hours,
        )


@dataclass(frozen=True)
class BarBatch:
    """One minute for all S symbols: ``[S]`` arrays plus ``valid[S]``.

    ``final=False`` marks a still-forming minute: a later batch with the same
    ``ts`` revises it (live feeds resend the forming bar). Consumers must then
    replace, never add, that minute's contribution.
    """

    symbols: tuple[str, ...]
    ts: np.datetime64
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    valid: np.ndarray
    segments: dict[str, int]
    minute_of_session: int
    session_minutes: int
    final: bool = True
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RunTables:
    """One backtest run as rows: the run record (JSON-able values) and three Arrow tables.

    ``stats``: combo, symbol, period, stat, value; ``trades``: the columns of
    ``backtest_trades`` without run_id; ``equity``: combo, symbol, ts, value.
    The engine makes them from a result (``engine.backtest.persist.to_tables``),
    storage writes and reads them (``storage.results``): one shape for both.
    """

    run: dict[str, Any]
    stats: pa.Table
    trades: pa.Table
    equity: pa.Table
