"""What the Backtests screen shows, read from the cache: runs, one run, a trade's day.

Plain values and NumPy arrays, no widgets: the panes render these (and the
benchmark times them). Reads go through ``storage.results`` (the backtester's
storage); a trade's day is the cache's panel and the engine's batch registry
(``trade_day``: MLX, so the screen runs it on the runtime's MLX thread).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from storage.cache import Cache
from storage.results import list_runs
from storage.types import MINUTE_US
from tui.backtest_fmt import fmt_stat

#: Runs table columns: (key, title, width, numeric).
RUN_COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("run_id", "id", 4, True), ("created", "date", 11, False), ("strategy", "strategy", 15, False),
    ("params", "parameters", 26, False), ("symbols", "syms", 5, True),
    ("period", "period", 23, False), ("total_return", "return", 8, True),
    ("sharpe", "Sharpe", 7, True), ("max_drawdown", "max DD", 7, True),
    ("trades", "trades", 7, True),
)
#: Statistics where lower is better (the compare view's "better" column, the heatmap's colour).
LOWER_BETTER = {"max_drawdown", "max_drawdown_minutes", "fees_paid", "slippage_paid"}


def combo_label(grid: dict[str, list[Any]], combo: dict[str, Any]) -> str:
    """The swept parameters' values of a combination (``defaults`` when nothing was swept)."""
    keys = [k for k in grid if k in combo] or []
    return ", ".join(f"{k}={combo[k]}" for k in keys) or "defaults"


@dataclass(frozen=True)
class RunRow:
    """One saved run as the runs table shows it (the best combination's figures)."""

    run_id: int
    created: str
    strategy: str
    params: str
    symbols: int
    period: str
    total_return: float
    sharpe: float
    max_drawdown: float
    trades: float
    combos: int

    def cell(self, key: str) -> str:
        v = getattr(self, key)
        if key in ("total_return", "sharpe", "max_drawdown", "trades"):
            return fmt_stat(key, None if v is None else float(v))
        return str(v)

    def sort_key(self, key: str) -> Any:
        v = getattr(self, key)
        if isinstance(v, float) and math.isnan(v):
            return -math.inf
        return v

    def matches(self, text: str) -> bool:
        hay = f"{self.run_id} {self.strategy} {self.params} {self.period} {self.created}".lower()
        return all(w in hay for w in text.lower().split())


def read_runs(cache: Cache) -> list[RunRow]:
    """Every saved run, newest first, with its best combination's parameters."""
    runs = list_runs(cache)
    if not runs:
        return []
    with cache.reading() as cur:
        meta = {int(r[0]): (json.loads(r[1]), json.loads(r[2]), int(r[3])) for r in cur.execute(
            "SELECT run_id, grid, combos, best FROM backtest_runs").fetchall()}
    rows = []
    for r in runs:
        grid, combos, best = meta.get(int(r["run_id"]), ({}, [{}], 0))
        label = combo_label(grid, combos[best]) if combos else "defaults"
        if len(combos) > 1:
            label = f"{len(combos)}× best {label}"
        rows.append(RunRow(
            run_id=int(r["run_id"]), created=f"{r['created_at']:%Y-%m-%d}",
            strategy=str(r["strategy"]), params=label, symbols=int(r["n_symbols"] or 0),
            period=f"{r['start_date']} → {r['end_date']}",
            total_return=_f(r["total_return"]), sharpe=_f(r["sharpe"]),
            max_drawdown=_f(r["max_drawdown"]), trades=_f(r["trades"]), combos=len(combos)))
    return rows


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def sort_rows(rows: list[RunRow], key: str, reverse: bool) -> list[RunRow]:
    return sorted(rows, key=lambda r: r.sort_key(key), reverse=reverse)


def filter_rows(rows: list[RunRow], strategy: str | None, text: str) -> list[RunRow]:
    return [r for r in rows if (not strategy or r.strategy == strategy) and r.matches(text)]


@dataclass
class Trades:
    """One combination's trades as columns (entry order)."""

    symbol: np.ndarray  # object
    direction: np.ndarray  # int8
    entry_ts: np.ndarray  # datetime64[m] UTC
    exit_ts: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    shares: np.ndarray
    pnl: np.ndarray
    ret: np.ndarray
    reason: np.ndarray  # object

    def __len__(self) -> int:
        return len(self.symbol)

    @property
    def holding_minutes(self) -> np.ndarray:
        return (self.exit_ts - self.entry_ts).astype("timedelta64[m]").astype(np.int64)


@dataclass
class RunDetail:
    """One run at one combination: stats per period, equity, per-symbol stats, trades."""

    run: dict[str, Any]
    combo: int
    stats: dict[str, dict[str, float]]  # period -> stat -> value (portfolio)
    equity_ts: np.ndarray  # datetime64[m]
    equity: np.ndarray  # float64
    symbol_stats: dict[str, dict[str, float]]  # symbol -> stat -> value (may be empty)
    trades: Trades
    all_stats: dict[int, dict[str, float]] = field(default_factory=dict)  # combo -> 'all' stats

    @property
    def run_id(self) -> int:
        return int(self.run["run_id"])

    @property
    def grid(self) -> dict[str, list[Any]]:
        return dict(self.run.get("grid") or {})

    @property
    def combos(self) -> list[dict[str, Any]]:
        return list(self.run.get("combos") or [{}])

    @property
    def label(self) -> str:
        return combo_label(self.grid, self.combos[self.combo])

    @property
    def drawdown(self) -> np.ndarray:
        if not len(self.equity):
            return self.equity
        peak = np.maximum.accumulate(self.equity)
        return -(1.0 - self.equity / peak)

    @property
    def anchor(self) -> str:
        return str(self.combos[self.combo].get("anchor", "session"))


def read_run(cache: Cache, run_id: int, combo: int | None = None) -> RunDetail:
    """Run ``run_id`` at ``combo`` (its best when None); CacheError if it is gone.

    Reads only that combination's trades and portfolio curve (``load_run``
    reads every combination's, sorted: 4x slower on a 10,000-trade run).
    """
    run, st, trades_t, eq = _load(cache, run_id, combo)
    cb = int(run["best"]) if combo is None else int(combo)
    combo_col = st.column("combo").to_numpy()
    sym = np.asarray(st.column("symbol").to_numpy(zero_copy_only=False), dtype=object)
    per = np.asarray(st.column("period").to_numpy(zero_copy_only=False), dtype=object)
    name = np.asarray(st.column("stat").to_numpy(zero_copy_only=False), dtype=object)
    val = st.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    stats: dict[str, dict[str, float]] = {}
    symbol_stats: dict[str, dict[str, float]] = {}
    all_stats: dict[int, dict[str, float]] = {}
    port = sym == "*"
    for i in np.flatnonzero(port & (per == "all")):
        all_stats.setdefault(int(combo_col[i]), {})[name[i]] = float(val[i])
    mine = combo_col == cb
    for i in np.flatnonzero(mine & port):
        stats.setdefault(per[i], {})[name[i]] = float(val[i])
    for i in np.flatnonzero(mine & ~port & (per == "all")):
        symbol_stats.setdefault(sym[i], {})[name[i]] = float(val[i])
    return RunDetail(run=run, combo=cb, stats=stats, equity_ts=_minutes(eq.column("ts")),
                     equity=eq.column("value").to_numpy().astype(np.float64),
                     symbol_stats=symbol_stats, trades=_trades(trades_t), all_stats=all_stats)


def _load(cache: Cache, run_id: int, combo: int | None
          ) -> tuple[dict[str, Any], pa.Table, pa.Table, pa.Table]:
    """The run record, all its statistics, one combination's trades and portfolio curve."""
    import warnings

    import duckdb

    from storage.errors import CacheError
    from storage.results import JSON_COLUMNS
    from storage.results import RUN_COLUMNS as COLS

    try:
        with cache.reading() as cur:
            row = cur.execute(f"SELECT {', '.join(COLS)} FROM backtest_runs WHERE run_id = ?",
                              [run_id]).fetchone()
            if row is None:
                raise CacheError(f"no backtest run {run_id} in {cache.path}")
            run = {c: json.loads(v) if c in JSON_COLUMNS else v
                   for c, v in zip(COLS, row, strict=True)}
            cb = int(run["best"]) if combo is None else int(combo)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                st = cur.execute("SELECT combo, symbol, period, stat, value FROM backtest_stats "
                                 "WHERE run_id = ?", [run_id]).to_arrow_table()
                tr = cur.execute("SELECT * EXCLUDE (run_id) FROM backtest_trades WHERE run_id = ?"
                                 " AND combo = ?", [run_id, cb]).to_arrow_table()
                eq = cur.execute("SELECT ts, value FROM backtest_equity WHERE run_id = ? AND "
                                 "combo = ? AND symbol = '*' ORDER BY ts",
                                 [run_id, cb]).to_arrow_table()
    except duckdb.Error as e:
        raise CacheError(f"reading backtest {run_id} failed: {str(e).splitlines()[0]}") from e
    return run, st, tr, eq


def _minutes(col: pa.ChunkedArray) -> np.ndarray:
    us = col.cast(pa.timestamp("us")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return (us // MINUTE_US).astype("datetime64[m]")


def _trades(t: pa.Table) -> Trades:
    entry, exit_ = _minutes(t.column("entry_ts")), _minutes(t.column("exit_ts"))
    order = np.lexsort((np.asarray(t.column("symbol").to_numpy(zero_copy_only=False),
                                   dtype=object).astype(str), entry))

    def num(c: str) -> np.ndarray:
        return t.column(c).to_numpy(zero_copy_only=False).astype(np.float64)[order]

    return Trades(
        symbol=np.asarray(t.column("symbol").to_numpy(zero_copy_only=False), dtype=object)[order],
        direction=t.column("direction").to_numpy(zero_copy_only=False).astype(np.int8)[order],
        entry_ts=entry[order], exit_ts=exit_[order], entry_price=num("entry_price"),
        exit_price=num("exit_price"), shares=num("shares"), pnl=num("pnl"), ret=num("ret"),
        reason=np.asarray(t.column("reason").to_numpy(zero_copy_only=False), dtype=object)[order],
    )


@dataclass(frozen=True)
class TradeDay:
    """One symbol's session around a trade: prices, the anchor's AVWAP and bands."""

    symbol: str
    day: dt.date
    anchor: str
    ts: np.ndarray  # [T] datetime64[m] of the session's grid
    close: np.ndarray  # [T] NaN where no bar
    levels: dict[str, np.ndarray]  # "avwap", "up1", "dn1", "up2", "dn2"
    missing: str = ""  # why there are no bars (then the arrays are empty)


def trade_day(cache: Cache, symbol: str, day: dt.date, anchor: str,
              history_from: dt.date) -> TradeDay:
    """The session ``day`` of ``symbol`` with the AVWAP of ``anchor`` (MLX: call on its thread).

    The panel starts at ``history_from`` (the run's first date), so a week or
    month anchor's AVWAP equals what the backtest computed; the registry's
    batch outputs are then sliced to ``day``.
    """
    from engine.compute import compute_outputs
    from engine.inputs import batch_inputs

    empty = TradeDay(symbol, day, anchor, np.zeros(0, "datetime64[m]"), np.zeros(0), {})
    panel = cache.load_panel([symbol], min(history_from, day), day)
    ok = np.asarray(panel.valid)[0]
    dates = _exchange_dates(panel.ts)
    today = dates == np.datetime64(day, "D")
    if not (ok & today).any():
        return TradeDay(**{**empty.__dict__,
                           "missing": f"{symbol}'s bars for {day} are no longer in the cache"})
    names = {"avwap": f"avwap_{anchor}", "up1": f"avwap_{anchor}_up1",
             "dn1": f"avwap_{anchor}_dn1", "up2": f"avwap_{anchor}_up2",
             "dn2": f"avwap_{anchor}_dn2"}
    cols = compute_outputs(batch_inputs(panel), list(names.values()))
    import mlx.core as mx

    mx.eval(list(cols.values()))
    levels = {k: np.array(cols[v])[0].astype(np.float64)[today] for k, v in names.items()}
    close = np.where(ok, panel.close[0], np.nan)[today].astype(np.float64)
    return TradeDay(symbol, day, anchor, panel.ts[today], close, levels)


def _exchange_dates(ts: np.ndarray) -> np.ndarray:
    from storage import calendar

    return calendar.exchange_dates(ts).astype("datetime64[D]")


def exchange_day(ts: np.datetime64) -> dt.date:
    """The exchange date of a UTC minute."""
    return _exchange_dates(np.array([ts], "datetime64[m]"))[0].astype(dt.date)  # type: ignore
