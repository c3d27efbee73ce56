"""Benchmark: the AVWAP family in MLX against the pandas VWAP a Python user would write.

Prints one JSON object (last line). Batch: 100 symbols × 20 sessions × 390
minutes, all six calendar anchors with ±1/2/3σ bands and z (48 outputs), and the
three auto anchors (24 outputs). Incremental: one compiled step for 650 symbols
(all calendar anchors), p50/p99 over a session of minutes.

The batch writes ~150 MB of fresh outputs per call. With MLX's default CPU
buffer cache (32 MB) those pages are returned to the OS and faulted in again on
every call, which is a large share of the time; ``batch_warm_cache_*`` repeats
the measurement with ``mx.set_cache_limit(1 GiB)``, as a long-running app that
recomputes panels would configure it.

Anchors that cut the panel into the same segments share one computation (on
regular hours the session and the day always do; over these four April weeks
month, quarter and year do too, so 3 of the 6 partitions are distinct);
``batch_unshared_*`` and ``speedup_vs_pandas_unshared`` compute all six anyway,
the worst case (e.g. an extended-hours panel across a month end).
Peer, measured in the same run on the same bars: pandas-ta's VWAP recipe,
``(hlc3·v).groupby(period).cumsum() / v.groupby(period).cumsum()``, daily anchor,
one symbol Series at a time, level only (no bands).

Run: ``.venv/bin/python bench/avwap.py``
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this folder comes first on sys.path and bench/storage.py would
# shadow the storage package: put the repo root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine.blas  # noqa: F401  (MLX's optimized BLAS: before mlx loads)

# isort: split
import mlx.core as mx
import numpy as np
import pandas as pd

from engine import avwap, stepping
from engine.avwap import auto as avwap_auto
from engine.inputs import batch_inputs
from storage.calendar import minute_grid
from storage.types import SEGMENT_KINDS, Panel


def synthetic(n: int, start: dt.date, end: dt.date, seed: int = 0) -> Panel:
    g = minute_grid(start, end, "regular")
    t = len(g.ts)
    rng = np.random.default_rng(seed)
    c = rng.uniform(5, 3000, (n, 1)) * np.exp(np.cumsum(rng.normal(0, 5e-4, (n, t)), axis=1))
    o = c * (1 + rng.normal(0, 2e-4, (n, t)))
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 2e-4, (n, t))))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 2e-4, (n, t))))
    valid = rng.random((n, t)) > 0.02
    nan = np.where(valid, 1.0, np.nan)
    v = np.where(valid, np.round(rng.lognormal(8, 1.5, (n, t))), 0.0)
    syms = tuple(f"S{i:03d}" for i in range(n))
    return Panel(
        syms, g.ts, o * nan, h * nan, lo * nan, c * nan, v, valid,
        g.segments, g.minute_of_session, g.session_minutes,
    )  # fmt: skip


def best_of(fn: Callable[[], None], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_batch(
    panel: Panel, fn: Callable[..., dict[str, mx.array]] = avwap.calendar_batch
) -> float:
    inp = batch_inputs(panel)
    mx.eval(inp.close, inp.volume)

    def run() -> None:
        mx.eval(fn(inp))

    run()
    return best_of(run, 7)


def bench_pandas(panel: Panel) -> float:
    idx = pd.DatetimeIndex(panel.ts).tz_localize("UTC").tz_convert("America/New_York")
    hlc3 = (panel.high + panel.low + panel.close) / 3
    frames = [
        (pd.Series(hlc3[i], index=idx), pd.Series(panel.volume[i], index=idx))
        for i in range(len(panel.symbols))
    ]

    def run() -> None:
        for tp, vol in frames:
            wp = tp * vol
            period = wp.index.tz_localize(None).to_period("D")
            _ = wp.groupby(period).cumsum() / vol.groupby(period).cumsum()

    run()
    return best_of(run, 3)


def bench_step(panel: Panel, minutes: int) -> tuple[float, float]:
    inp = batch_inputs(panel)
    run = stepping.compile_step(avwap.calendar_step)
    state = avwap.calendar_init(len(panel.symbols))
    steps = [stepping.step_at(inp, t) for t in range(minutes)]
    for si in steps:
        mx.eval(*(getattr(si, f) for f in ("open", "high", "low", "close", "volume", "valid")))
    lat = []
    for i, si in enumerate(steps):
        t0 = time.perf_counter()
        state, out = run(state, si)
        mx.eval(state, out)
        if i >= 10:
            lat.append(time.perf_counter() - t0)
    ms = np.array(lat) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    start, end = dt.date(2024, 4, 1), dt.date(2024, 4, 26)  # 20 full sessions
    panel = synthetic(100, start, end)
    s, t = panel.shape
    assert t == 20 * 390, t
    bars = s * t
    batch_s = bench_batch(panel)
    unshared_s = bench_batch(panel, functools.partial(avwap.calendar_batch, dedupe=False))
    auto_s = bench_batch(panel, avwap_auto.auto_batch)
    pandas_s = bench_pandas(panel)
    old_limit = mx.set_cache_limit(1 << 30)
    warm_s = bench_batch(panel)
    mx.set_cache_limit(old_limit)
    anchors = len(SEGMENT_KINDS)
    segs = np.stack([panel.segments[k] for k in SEGMENT_KINDS])
    p50, p99 = bench_step(synthetic(650, start, dt.date(2024, 4, 2), seed=1), 780)
    result = {
        "symbols": s,
        "minutes": t,
        "bars": bars,
        "anchors": anchors,
        "outputs": len(avwap.output_names()),
        "batch_ms": round(batch_s * 1e3, 2),
        "batch_bars_per_s": round(bars / batch_s),
        "batch_warm_cache_ms": round(warm_s * 1e3, 2),
        "batch_warm_cache_bars_per_s": round(bars / warm_s),
        "auto_outputs": len(avwap_auto.output_names()),
        "auto_batch_ms": round(auto_s * 1e3, 2),
        "auto_batch_bars_per_s": round(bars / auto_s),
        "pandas_day_anchor_ms": round(pandas_s * 1e3, 2),
        "speedup_vs_pandas": round(pandas_s / (batch_s / anchors), 2),
        "distinct_partitions": len(set(avwap.distinct_partitions(segs))),
        "batch_unshared_ms": round(unshared_s * 1e3, 2),
        "batch_unshared_bars_per_s": round(bars / unshared_s),
        "speedup_vs_pandas_unshared": round(pandas_s / (unshared_s / anchors), 2),
        "step_symbols": 650,
        "step_p50_ms": round(p50, 4),
        "step_p99_ms": round(p99, 4),
        "cpu_count": os.cpu_count(),
        "mlx": mx.__version__,
        "device": str(mx.default_device()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
