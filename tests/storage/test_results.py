"""Backtest result tables in a real DuckDB file: round trip, ids, delete, atomic save."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from storage.cache import Cache
from storage.errors import CacheError
from storage.results import RunTables, delete_run, list_runs, load_run, save_run


def _tables(n_trades: int = 3) -> RunTables:
    ts = pa.array([dt.datetime(2025, 11, 3, 14, 31 + i, tzinfo=dt.UTC) for i in range(n_trades)],
                  pa.timestamp("us", tz="UTC"))
    run = {"strategy": "orb", "grid": {"minutes": [5, 15]},
           "combos": [{"minutes": 5}, {"minutes": 15}], "best": 1, "neighbours": [0],
           "rank_by": "sharpe", "symbols": ["AAA", "BBB"], "skipped": ["ZZZ"],
           "start_date": dt.date(2025, 11, 3), "end_date": dt.date(2025, 11, 7),
           "split_date": None, "settings": {"slippage_bps": 1.0, "size_fraction": None},
           "code_version": "abc1234"}
    stats = pa.table({"combo": pa.array([1, 1, 1], pa.int32()), "symbol": ["*", "*", "AAA"],
                      "period": ["all", "all", "all"], "stat": ["total_return", "sharpe", "sharpe"],
                      "value": [0.0125, 1.5, float("nan")]})
    trades = pa.table({
        "combo": pa.array([1] * n_trades, pa.int32()), "symbol": ["AAA"] * n_trades,
        "entry_ts": ts, "exit_ts": ts, "direction": pa.array([1] * n_trades, pa.int8()),
        "shares": [100.0] * n_trades, "entry_price": [10.01] * n_trades,
        "exit_price": [10.2] * n_trades, "entry_fees": [1.0] * n_trades,
        "exit_fees": [1.0] * n_trades, "slippage": [0.2] * n_trades,
        "pnl": np.arange(n_trades, dtype=float) - 0.5, "ret": [0.01] * n_trades,
        "reason": ["stop_loss"] * n_trades})
    equity = pa.table({"combo": pa.array([1, 1], pa.int32()), "symbol": ["*", "*"],
                       "ts": ts[:2], "value": [200_000.0, 200_010.5]})
    return RunTables(run=run, stats=stats, trades=trades, equity=equity)


def test_round_trip_new_ids_and_delete(tmp_path):
    with Cache(tmp_path / "c.duckdb") as cache:
        a = save_run(cache, _tables())
        b = save_run(cache, _tables(5))
        assert b > a  # a new run never overwrites an earlier one
        runs = list_runs(cache)
        assert [r["run_id"] for r in runs] == [b, a]
        assert runs[1]["total_return"] == pytest.approx(0.0125)
        assert runs[1]["sharpe"] == 1.5 and runs[1]["n_symbols"] == 2
        got = load_run(cache, a)
        assert got.run["grid"] == {"minutes": [5, 15]}
        assert got.run["settings"]["size_fraction"] is None
        assert got.run["start_date"] == dt.date(2025, 11, 3) and got.run["split_date"] is None
        assert got.trades.num_rows == 3 and got.equity.num_rows == 2
        want = _tables().trades
        for col in ("entry_ts", "entry_price", "pnl", "reason", "direction"):
            assert got.trades[col].to_pylist() == want[col].to_pylist()
        assert np.isnan(got.stats.filter(pa.compute.equal(got.stats["symbol"], "AAA"))["value"]
                        .to_numpy()[0])
        delete_run(cache, a)
        assert [r["run_id"] for r in list_runs(cache)] == [b]
        assert load_run(cache, b).trades.num_rows == 5
        with pytest.raises(CacheError, match=f"no backtest run {a}"):
            load_run(cache, a)
        with pytest.raises(CacheError, match=f"no backtest run {a}"):
            delete_run(cache, a)
    with Cache(tmp_path / "c.duckdb") as cache:  # reopened: still there, ids keep rising
        assert [r["run_id"] for r in list_runs(cache)] == [b]
        assert save_run(cache, _tables()) > b


def test_a_failed_save_leaves_nothing(tmp_path):
    bad = _tables()
    broken = RunTables(run=bad.run, stats=bad.stats, trades=bad.trades.drop(["pnl"]),
                       equity=bad.equity)
    with Cache(tmp_path / "c.duckdb") as cache:
        with pytest.raises(CacheError, match="saving the backtest"):
            save_run(cache, broken)
        assert list_runs(cache) == []
        for t in ("backtest_stats", "backtest_trades", "backtest_equity"):
            with cache.reading() as cur:
                assert cur.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)
