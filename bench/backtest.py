"""Benchmark: the MLX backtester against vectorbt's ``Portfolio.from_signals``.

650 symbols x 20 sessions of demo bars (~5 M bars), one strategy with stops:
AVWAP band reversion (session anchor, k = 2, both sides) with a 0.5 % stop-loss
and a 1 % take-profit, intraday rules, commission and slippage. The signals and
the orders are computed once and given to both; each side is timed from the
orders to the trades and every symbol's value curve:

- ours: ``engine.backtest.sim.simulate`` + ``stats.equity``;
- vectorbt: ``Portfolio.from_signals`` (same settings as the parity tests) +
  ``pf.trades.values`` + ``pf.value()``; its numba compilation is done on a
  small portfolio before timing.

Both are timed best of two. ``sweep_27_s`` runs a 27-combination grid (k x
anchor x stop-loss) through ``MLXBacktester`` end to end (signals, orders,
fills, stats of every combination) on all 650 symbols by default
(``sweep_symbols`` in the output; ``--sweep-symbols N`` for the first N). ``peak_rss_mb`` is this
process's peak resident memory before vectorbt runs (bars, both of our runs);
``peak_rss_mb_with_vectorbt`` after it.

Run: ``.venv/bin/python bench/backtest.py``
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine" / "backtest"))

import numpy as np

from engine.backtest import strategies
from engine.backtest.grid import build
from engine.backtest.orders import fill_orders
from engine.backtest.result import Settings
from engine.backtest.runner import MLXBacktester, _row_params, decide
from engine.backtest.sim import simulate
from engine.backtest.stats import equity, ffill_close
from storage import demo
from storage.cache import Cache
from storage.tickers import load_list


def _best(fn: Any, n: int = 2) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


SWEEP_SYMBOLS = 650


def main() -> None:
    sweep_n = SWEEP_SYMBOLS
    if "--sweep-symbols" in sys.argv:
        sweep_n = int(sys.argv[sys.argv.index("--sweep-symbols") + 1])
    symbols = list(load_list("all").symbols)[:650]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp) / "bench.duckdb")
        cache.write_bars(demo.generate(symbols, 20))
        dates = demo.sessions_for(20, demo.DEFAULT_END)
        start, end = dates[0].astype(object), dates[-1].astype(object)
        panel = cache.load_panel(symbols, start, end)
        s, t = panel.shape
        bars = panel.n_bars

        strat = strategies.get("avwap-reversion")
        grid = build(strat, {"k": 2, "stop_pct": 0.5, "target_pct": 1.0})
        sig = decide(panel, 0, strat, grid)
        orders = fill_orders(sig[0], sig[1], sig[2], sig[3], panel.valid, panel.segments["session"],
                             panel.minute_of_session, panel.session_minutes)
        settings = Settings(commission_per_share=0.0, commission_min=1.0, fee_bps=0.5,
                            slippage_bps=1.0)
        params = _row_params(grid, settings, s)
        rows = np.arange(s)
        zero = np.zeros(s, dtype=np.int64)

        def ours() -> Any:
            tr = simulate(panel.open, panel.high, panel.low, panel.close, orders, params,
                          rows, zero)
            value, _ = equity(tr, rows, params.init_cash, ffill_close(panel.close))
            return tr, value

        ours()  # MLX compile at this shape
        ours_s, (trades, _) = _best(ours)

        n_trades = len(trades)
        # The sweep loads its own panel: drop the single run's arrays first.
        del trades, sig
        bt = MLXBacktester(cache)
        sweep = {"k": [1, 2, 3], "anchor": ["session", "day", "week"],
                 "stop_pct": [0.3, 0.5, 1.0]}
        t0 = time.perf_counter()
        res = bt.run_vectorized_backtest(symbols[:sweep_n], start, end, "avwap-reversion",
                                         sweep, settings)
        sweep_s = time.perf_counter() - t0
        sweep_trades = len(res.trades)
        del res
        # Ours only: vectorbt has not run yet (ru_maxrss never decreases).
        peak_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        from _vbt import vbt_portfolio

        small = slice(0, 2)
        from engine.backtest.sim import Orders, RowParams

        o_small = Orders(entry_long=orders.entry_long[:, small],
                         entry_short=orders.entry_short[:, small],
                         exit_long=orders.exit_long[:, small],
                         exit_short=orders.exit_short[:, small], forced=orders.forced[small])
        p_small = RowParams(**{k: getattr(params, k)[small] for k in params.__dataclass_fields__})
        pf = vbt_portfolio(panel.open[small], panel.high[small], panel.low[small],
                           panel.close[small], o_small, p_small)
        pf.trades.values, pf.value()  # numba compilation before timing

        def theirs() -> Any:
            pf = vbt_portfolio(panel.open, panel.high, panel.low, panel.close, orders, params)
            return pf.trades.values, pf.value()

        vbt_s, (vrec, _) = _best(theirs)
        same = len(vrec) == n_trades

        cache.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "symbols": s, "minutes": t, "bars": bars, "trades": n_trades,
        "trades_vectorbt": len(vrec), "same_trade_count": same,
        "bars_per_s": round(bars / ours_s), "s_650x20": round(ours_s, 3),
        "vectorbt_s": round(vbt_s, 3), "ratio_to_vectorbt": round(ours_s / vbt_s, 3),
        "sweep_27_s": round(sweep_s, 2), "sweep_symbols": sweep_n, "sweep_trades": sweep_trades,
        "peak_rss_mb": round(peak_ours, 1), "peak_rss_mb_with_vectorbt": round(peak, 1),
    }))


if __name__ == "__main__":
    main()
