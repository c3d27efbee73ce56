"""A ``BacktestResult`` as the rows ``storage.results.save_run`` writes.

Pure conversion to Arrow: the engine does no database I/O (an import
contract), so the caller saves: ``save_run(cache, to_tables(result))``.

Saved: the run record; every statistic of every combination's portfolio
(all / in-sample / out-of-sample) and of every symbol per combination; all
trades with their costs; the sampled equity of every combination's portfolio
and of the best combination's symbols (at most ``result.EQUITY_POINTS`` points
per curve).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.backtest.result import BacktestResult
from engine.backtest.sim import REASONS
from engine.backtest.stats import NAMES
from storage.types import RunTables


def to_tables(res: BacktestResult) -> RunTables:
    st = res.stats
    c, s = st.portfolio.shape[0], len(res.symbols)
    n = len(NAMES)
    syms = np.array(res.symbols, dtype=object)
    # Per-symbol statistics (the best combination and its neighbours), then the
    # portfolio's of every combination for each period.
    combo, symbol, period, value = [], [], [], []
    for cb, arr in sorted(st.symbols.items()):
        combo.append(np.full(s * n, cb))
        symbol.append(np.repeat(syms, n))
        period.append(np.full(s * n, "all", dtype=object))
        value.append(arr.reshape(-1))
    periods = (("all", st.portfolio), ("in", st.in_sample), ("out", st.out_sample))
    for name, maybe in periods:
        if maybe is None:
            continue
        arr = maybe
        combo.append(np.repeat(np.arange(c), n))
        symbol.append(np.full(c * n, "*", dtype=object))
        period.append(np.full(c * n, name, dtype=object))
        value.append(arr.reshape(-1))
    k = len(value)
    stat_names = np.array(NAMES, dtype=object)
    stats = pa.table({
        "combo": pa.array(np.concatenate(combo), pa.int32()),
        "symbol": pa.array(np.concatenate(symbol), pa.string()),
        "period": pa.array(np.concatenate(period), pa.string()),
        "stat": pa.array(np.concatenate([np.tile(stat_names, len(v) // n) for v in value[:k]]),
                         pa.string()),
        "value": pa.array(np.concatenate(value), pa.float64(), from_pandas=True),
    })
    tr = res.trades
    ts_us = res.ts.astype("datetime64[us]")
    trades = pa.table({
        "combo": pa.array(tr.row // s, pa.int32()),
        "symbol": pa.array(syms[tr.row % s], pa.string()),
        "entry_ts": pa.array(ts_us[tr.entry_idx], pa.timestamp("us", tz="UTC")),
        "exit_ts": pa.array(ts_us[tr.exit_idx], pa.timestamp("us", tz="UTC")),
        "direction": pa.array(tr.direction.astype(np.int8), pa.int8()),
        "shares": tr.size, "entry_price": tr.entry_price, "exit_price": tr.exit_price,
        "entry_fees": tr.entry_fees, "exit_fees": tr.exit_fees, "slippage": tr.slippage_cost,
        "pnl": tr.pnl, "ret": tr.returns,
        "reason": pa.array(np.array(REASONS, dtype=object)[tr.reason], pa.string()),
    })
    keep = ts_us[st.equity_ts_idx]
    kk = len(keep)
    eq_combo = [np.repeat(np.arange(c), kk)]
    eq_sym = [np.full(c * kk, "*", dtype=object)]
    eq_ts = [np.tile(keep, c)]
    eq_val = [st.portfolio_equity.reshape(-1)]
    for cb, arr in st.symbol_equity.items():
        eq_combo.append(np.full(s * kk, cb))
        eq_sym.append(np.repeat(syms, kk))
        eq_ts.append(np.tile(keep, s))
        eq_val.append(arr.reshape(-1))
    equity = pa.table({
        "combo": pa.array(np.concatenate(eq_combo), pa.int32()),
        "symbol": pa.array(np.concatenate(eq_sym), pa.string()),
        "ts": pa.array(np.concatenate(eq_ts), pa.timestamp("us", tz="UTC")),
        "value": np.concatenate(eq_val),
    })
    run = {
        "strategy": res.strategy, "grid": res.grid, "combos": res.combos, "best": res.best,
        "neighbours": res.neighbours, "rank_by": res.rank_by, "symbols": list(res.symbols),
        "skipped": list(res.skipped), "start_date": res.start, "end_date": res.end,
        "split_date": res.split,
        # The notes ride with the settings (no schema change): what the figures assume.
        "settings": {**res.settings.as_dict(), "notes": list(res.notes),
                     "partial_anchors": list(res.partial)},
        "code_version": res.code_version,
    }
    return RunTables(run=run, stats=stats, trades=trades, equity=equity)
