"""The child process of a backtest started from the screen: run, save, report JSON lines.

``python -m tui.screens.backtests.worker DB REQUEST_JSON`` runs the real
backtester (``MLXBacktester().run_vectorized_backtest``) on ``DB`` (an
exported copy of the bars: the console holds its own cache open), saves the
run there, and prints one JSON object per line: ``{"event": "step", "stage",
"fraction"}`` while it runs, ``{"event": "done", "run_id", "trades"}`` at the
end. Bad input is one ``avwap: error: …`` line on stderr and exit 2, like the
CLI; Ctrl-C (the screen's cancel) exits 130 and saves nothing.
"""

from __future__ import annotations

import json
import sys

from engine.backtest.errors import BacktestError
from storage.errors import AvwapError


def _emit(event: dict[str, object]) -> None:
    print(json.dumps(event), flush=True)


def main(argv: list[str]) -> int:
    from engine.backtest.persist import to_tables
    from engine.backtest.result import Settings
    from engine.backtest.runner import MLXBacktester
    from storage.cache import Cache
    from storage.results import save_run
    from tui.screens.backtests.request import BacktestRequest

    db, req = argv[0], BacktestRequest.from_json(argv[1])
    try:
        with Cache(db) as cache:
            res = MLXBacktester(cache).run_vectorized_backtest(
                list(req.symbols), req.start or "", req.end or "", req.strategy, req.params,
                Settings(**req.settings),
                progress=lambda stage, frac: _emit({"event": "step", "stage": stage,
                                                    "fraction": round(float(frac), 4)}))
            run_id = save_run(cache, to_tables(res))
            cache.checkpoint()
    except (AvwapError, BacktestError) as e:
        print(f"avwap: error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("avwap: error: interrupted; nothing was saved", file=sys.stderr, flush=True)
        return 130
    _emit({"event": "done", "run_id": run_id, "trades": len(res.trades.pnl),
           "skipped": list(res.skipped)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
