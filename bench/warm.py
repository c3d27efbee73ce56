"""Console warm-up cost: every state read off the batch, against stepping the history.

``IncrementalEngine.warm(history, step_sessions=K)`` (the console's warm-up)
reads each indicator's state off its batch series over the bars its declared
history needs and steps only the last minute. The peer is what the warm-up
did before: step the declared history minute by minute through the compiled
step of the whole registry. Both are measured in the same run on the same
panel: the peer's per-minute cost over ``--peer-minutes`` stepped minutes, and
the minutes it would step (the last K sessions for every indicator, further
back for the outputs whose declared history is longer, from the day where
every symbol has enough real bars), so "the batch costs less than it saves" is
a number: ``batch_in_stepped_minutes`` against ``stepped_minutes``.

    .venv/bin/python bench/warm.py [--symbols 650] [--days 19] [--peer-minutes 64]

CPU seconds (all threads) are reported beside wall seconds: on a shared machine
the wall time mostly measures the other processes. Prints one JSON object on
its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine.blas  # noqa: F401  (MLX's optimized BLAS: before mlx loads)

# isort: split
from bench.indicators import make_panel
from engine.incremental import IncrementalEngine, _day_with_bars_left
from engine.inputs import day_starts
from engine.registry import REGISTRY


def stepped_minutes(eng: IncrementalEngine, panel, k: int) -> int:  # type: ignore[no-untyped-def]
    """Minutes the stepping warm-up steps: all indicators from the main start, the
    long-history ones from theirs (a second engine), as its plan chose them."""
    starts = day_starts(panel)
    d = len(starts)
    main = min(d - k, _day_with_bars_left(panel.valid, starts, eng._steady_bars))
    t = len(panel.ts)
    total = t - int(starts[max(0, main)])
    longest = min(min(d - s, _day_with_bars_left(panel.valid, starts, b))
                  for b, s in eng._needs.values())
    if longest < main:
        total += t - int(starts[max(0, longest)])
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=650)
    ap.add_argument("--days", type=int, default=19)
    ap.add_argument("--peer-minutes", type=int, default=64)
    args = ap.parse_args()
    panel = make_panel(args.symbols, args.days * 390)
    out: dict[str, object] = {"symbols": args.symbols, "days": args.days,
                              "outputs": len(REGISTRY.output_names())}

    eng = IncrementalEngine(panel.symbols)
    t0, c0 = time.perf_counter(), time.process_time()
    snap = eng.warm(panel, step_sessions=1)
    batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert snap is not None

    peer = IncrementalEngine(panel.symbols)  # the compiled step of the whole registry
    n = args.peer_minutes
    peer.warm(panel.slice_time(0, 2))  # compiles it
    t0, c0 = time.perf_counter(), time.process_time()
    peer.warm(panel.slice_time(0, n + 1))  # steps n minutes, then the last
    step_s = (time.perf_counter() - t0) / (n + 1)
    step_cpu = (time.process_time() - c0) / (n + 1)
    minutes = stepped_minutes(eng, panel, 1)
    out.update(
        batch_warm_s=round(batch_s, 3), batch_warm_cpu_s=round(batch_cpu, 3),
        step_minute_ms=round(step_s * 1e3, 2), step_minute_cpu_ms=round(step_cpu * 1e3, 2),
        stepped_minutes=minutes,
        stepped_warm_est_s=round(minutes * step_s, 2),
        batch_in_stepped_minutes=round(batch_cpu / step_cpu, 1),
        speedup_cpu=round(minutes * step_cpu / batch_cpu, 1),
        finite_outputs=int(np.isfinite(snap.values).all(axis=0).sum()),
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
