"""``avwap backtest`` / ``avwap backtests`` end to end on a demo cache, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.backtest.errors import BacktestError
from engine.backtest.persist import to_tables
from engine.backtest.runner import MLXBacktester
from engine.backtest.stats import NAMES
from storage.cache import Cache
from storage.results import list_runs, load_run, save_run
from tui.cli import main


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "demo.duckdb"
    assert main(["--db", str(path), "demo-data", "--symbols", "AAA,BBB", "--days", "3"]) == 0
    return path


def _dates(db: Path) -> tuple[str, str, str]:
    with Cache(db) as c:
        cov = c.coverage(["AAA"])[0]
    first = str(cov.first.astype("datetime64[D]"))
    last = str(cov.last.astype("datetime64[D]"))
    mid = str((cov.first + np.timedelta64(1, "D")).astype("datetime64[D]"))
    return first, mid, last


def test_run_save_list_show_delete(db: Path, capsys: Any) -> None:
    first, mid, last = _dates(db)
    args = ["--db", str(db), "backtest", "--strategy", "avwap-reversion", "--tickers",
            "AAA,BBB,NOPE", "--param", "k=1,2", "--param", "stop_pct=0.3",
            "--start", first, "--end", last, "--split", mid]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "skipped (no bars in range): NOPE" in out
    assert "sharpe" in out and "out-of-sample" in out and "best and its neighbours" in out
    with Cache(db) as c:
        runs = list_runs(c)
    run_id = runs[0]["run_id"]
    assert f"Saved as run {run_id}" in out
    assert main(["--db", str(db), "backtests"]) == 0
    assert "avwap-reversion" in capsys.readouterr().out
    assert main(["--db", str(db), "backtests", "show", str(run_id)]) == 0
    shown = capsys.readouterr().out
    assert "total_return" in shown and "skipped (no bars): NOPE" in shown
    assert main(["--db", str(db), "backtests", "delete", str(run_id)]) == 0
    with Cache(db) as c:
        assert all(r["run_id"] != run_id for r in list_runs(c))


def test_result_round_trips_through_duckdb(db: Path) -> None:
    first, mid, last = _dates(db)
    with Cache(db) as c:
        res = MLXBacktester(c).run_vectorized_backtest(
            ["AAA", "BBB"], first, last, "orb", {"minutes": [5, 15], "trail_pct": 0.4},
            split=mid)
        run_id = save_run(c, to_tables(res))
        got = load_run(c, run_id)
    assert got.run["combos"] == res.combos and got.run["best"] == res.best
    assert got.run["neighbours"] == res.neighbours
    assert set(res.stats.symbols) == {res.best}
    s = got.stats.to_pydict()
    table = {(cb, sym, per, st): v for cb, sym, per, st, v in
             zip(s["combo"], s["symbol"], s["period"], s["stat"], s["value"], strict=True)}
    for c in range(len(res.combos)):
        for i, name in enumerate(NAMES):
            for per, arr in (("all", res.stats.portfolio), ("in", res.stats.in_sample),
                             ("out", res.stats.out_sample)):
                assert arr is not None
                np.testing.assert_equal(table[(c, "*", per, name)], arr[c, i])
            for j, sym in enumerate(res.symbols):
                if c in res.stats.symbols:
                    np.testing.assert_equal(table[(c, sym, "all", name)],
                                            res.stats.symbols[c][j, i])
    assert got.trades.num_rows == len(res.trades)
    np.testing.assert_allclose(np.sort(got.trades["pnl"].to_numpy()), np.sort(res.trades.pnl))
    assert got.equity.num_rows > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["--strategy", "nope"], "unknown strategy 'nope'"),
    (["--param", "kk=1"], "has no parameter 'kk' (known: anchor, k,"),
    (["--param", "k=7"], "parameter k: '7' is not one of 1, 2, 3"),
    (["--param", "stop_pct=abc"], "parameter stop_pct: 'abc' is not a number"),
    (["--param", "k"], "expected NAME=VALUE"),
    (["--strategy", "expr", "--entry", "close > avwap_sesion"],
     "unknown name 'avwap_sesion' (did you mean avwap_session"),
    (["--strategy", "expr"], "strategy expr needs --entry"),
    (["--strategy", "selected"], "strategy selected is unavailable: no active selector model"),
    (["--start", "2001-01-02", "--end", "2001-01-05"], "no bars between 2001-01-02 and 2001-01-05"),
    (["--tickers", "NOPE,NADA"], "has no bars for NOPE, NADA"),
    (["--start", "2025-11-20", "--end", "2025-11-01"], "is before the start date"),
    (["--start", "yesterday", "--end", "2025-11-01"], "not a date (YYYY-MM-DD): 'yesterday'"),
    # Nonsense that used to pass silently (issue: a negative or NaN stop meant "off",
    # negative slippage turned a loss into a gain, zero cash made no trades).
    (["--param", "stop_pct=-1"], "parameter stop_pct: -1.0 is below 0"),
    (["--param", "stop_pct=nan"], "parameter stop_pct: nan is not a finite number"),
    (["--param", "trail_pct=inf"], "parameter trail_pct: inf is not a finite number"),
    (["--param", "time_stop=-5"], "parameter time_stop: -5 is below 0"),
    (["--slippage-bps", "-50"], "--slippage-bps -50.0: a cost is never negative"),
    (["--fee-bps", "nan"], "--fee-bps nan: is not a finite number"),
    (["--cash-per-trade", "0"], "--cash-per-trade 0.0: a trade needs cash above 0"),
    (["--equity-fraction", "1.5"], "--equity-fraction 1.5: must be above 0 and at most 1"),
    (["--no-entry-minutes", "400"], "--no-entry-minutes 400: must be from 0 to 389"),
    (["--tickers", ""], "--tickers is empty"),
    (["--tickers", "  "], "--tickers is empty"),
])
def test_bad_input_is_one_line_exit_2(db: Path, capsys: Any, argv: list[str],
                                      message: str) -> None:
    base = ["--db", str(db), "backtest", "--tickers", "AAA,BBB"]
    assert main([*base, *argv]) == 2, capsys.readouterr()
    err = capsys.readouterr().err
    assert err.startswith("avwap: error: ") and message in err, err
    assert err.count("\n") == 1


def test_grid_too_large_is_refused_with_the_figure(db: Path) -> None:
    first, _, last = _dates(db)
    with Cache(db) as c, pytest.raises(BacktestError, match=r"the grid is too large: 9 "
                                       r"combinations x 2 symbols x .* needs about .* GB"):
        MLXBacktester(c, memory_limit=1000).run_vectorized_backtest(
            ["AAA", "BBB"], first, last, "avwap-reversion",
            {"k": [1, 2, 3], "stop_pct": [0.2, 0.4, 0.8]})


def test_unknown_strategy_lists_only_available_ones(db: Path, capsys: Any) -> None:
    assert main(["--db", str(db), "backtest", "--tickers", "AAA", "--strategy", "nope"]) == 2
    err = capsys.readouterr().err
    assert "available: avwap-reversion, avwap-reclaim, orb, expr" in err
    assert "selected" not in err  # unavailable until a model provides it


def test_trade_records_count_in_the_memory_guard(db: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A limit just below what the run's own trade records take is refused once the
    # orders are known (the old guard estimated arrays only and let it run).
    import engine.backtest.runner as runner
    from engine.backtest.grid import trade_bytes

    first, _, last = _dates(db)
    grid = {"k": [1, 2], "stop_pct": [0.2, 0.4, 0.8]}
    with Cache(db) as c:
        res = MLXBacktester(c).run_vectorized_backtest(["AAA", "BBB"], first, last,
                                                       "avwap-reversion", grid)
        assert len(res.trades) > 0
        monkeypatch.setattr(runner, "estimate_bytes", lambda *a, **k: 0)
        with pytest.raises(BacktestError, match=r"could make [\d,]+ trades, about"):
            MLXBacktester(c, memory_limit=trade_bytes(len(res.trades)) - 1
                          ).run_vectorized_backtest(["AAA", "BBB"], first, last,
                                                    "avwap-reversion", grid)


def test_ctrl_c_saves_nothing(db: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with Cache(db) as c:
        before = len(list_runs(c))

    def interrupted(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(MLXBacktester, "run_vectorized_backtest", interrupted)
    assert main(["--db", str(db), "backtest", "--tickers", "AAA"]) == 130
    assert "interrupted; nothing was saved" in capsys.readouterr().err
    with Cache(db) as c:
        assert len(list_runs(c)) == before


def test_strategies_listed_with_availability(db: Path, capsys: Any) -> None:
    assert main(["--db", str(db), "backtest", "--list-strategies"]) == 0
    out = capsys.readouterr().out
    for name in ("avwap-reversion", "avwap-reclaim", "orb", "expr", "selected"):
        assert name in out
    assert "unavailable" in out
