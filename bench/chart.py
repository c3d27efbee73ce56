"""The chart screen's costs: a full candle redraw, a data rebuild, a live-minute append.

Prints one JSON object (last line):

- ``render_ms`` (median) of ``render_candles`` at 80×24 and 200×50 with candles
  (1 bar per cell), OHLC bars (5 bars per cell, all 19 sessions) and 7 AVWAP
  lines; the in-run peer is the console's braille line chart
  (``render_chart``, which profiling made ~1 ms) drawing the same 7 lines and
  the close at the same size, so the candle chart's share is visible;
- ``build_ms``: ``candles_from_panel`` for one symbol over 19 sessions (the
  engine's batch of every calendar/auto AVWAP and band, what ``d`` and a fast
  replay cost on the MLX thread), and ``append_ms`` for one live minute
  (``append_bars``, no batch).

Run: ``.venv/bin/python bench/chart.py`` (a demo cache is generated in a
temporary folder; ~20 s).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself: bench/storage.py would shadow storage/

from rich.style import Style  # noqa: E402

from storage import demo  # noqa: E402
from storage.cache import Cache  # noqa: E402
from tui.runtime.candles import append_bars, candles_from_panel  # noqa: E402
from tui.widgets.candles import Bars, Overlay, render_candles  # noqa: E402
from tui.widgets.chart import Series, render_chart  # noqa: E402

DAYS = 19
REPS = 30
LINES = ("avwap_session", "avwap_day", "avwap_week", "avwap_month", "avwap_hh", "avwap_ll",
         "avwap_hv")


def _median_ms(fn, reps: int = REPS) -> float:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(out), 3)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.duckdb"
        with Cache(path) as cache:
            demo.seed_cache(cache, ["SPY", "AAPL"], DAYS)
            cov = cache.coverage(["SPY"])[0]
            panel = cache.load_panel(["SPY", "AAPL"], str(cov.first)[:10], str(cov.last)[:10])
    candles_from_panel(panel, "SPY", None)  # compile the MLX graphs once
    build = _median_ms(lambda: candles_from_panel(panel, "SPY", None), 10)
    data = candles_from_panel(panel, "SPY", None)
    head = candles_from_panel(panel.slice_time(0, len(panel.ts) - 1), "SPY", None)
    tail = candles_from_panel(panel, "SPY", 1)
    one = type(tail)(**{**tail.__dict__, **{k: getattr(tail, k)[-1:] for k in (
        "ts", "open", "high", "low", "close", "volume", "day", "minute")},
        "levels": {k: v[-1:] for k, v in tail.levels.items()}})
    append = _median_ms(lambda: append_bars(head, one), 50)

    bars = Bars(data.open, data.high, data.low, data.close, data.volume, data.day, data.minute)
    overlays = [Overlay(data.levels[k], Style(color="#d29922")) for k in LINES]
    n = len(data)
    out: dict[str, object] = {"bars": n, "build_ms": build, "append_ms": append}
    for w, h in ((80, 24), (200, 50)):
        pw = w - 9
        candles = _median_ms(partial(render_candles, bars, w, h, start=n - pw, stop=n,
                                     overlays=overlays, cursor=n - 5))
        ohlc = _median_ms(partial(render_candles, bars, w, h, start=max(0, n - pw * 5), stop=n,
                                  bars_per_cell=5, overlays=overlays, cursor=n - 5))
        series = [Series(data.close[-pw * 5:], Style())] + [
            Series(data.levels[k][-pw * 5:], Style()) for k in LINES]
        peer = _median_ms(partial(render_chart, series, w, h, x_max=pw * 5))
        out[f"render_candles_ms_{w}x{h}"] = candles
        out[f"render_ohlc_ms_{w}x{h}"] = ohlc
        out[f"peer_braille_lines_ms_{w}x{h}"] = peer
    print(json.dumps(out))


if __name__ == "__main__":
    main()
