"""Console warm-up cost: the declared-history warm-up against the old fixed two sessions.

``IncrementalEngine.warm(history, step_sessions=2)`` (the console's default) now
steps as many sessions as the outputs in use declare (``engine.meta.History``)
so that every output equals its batch value; before, it stepped two sessions and
the auto-anchored AVWAPs, OBV and A/D were off. This measures both in the same
run on the same panel (the "peer" is the old behaviour, forced by zeroing the
declared need) and reports the stepped minutes and the worst relative error of
the auto AVWAP level against the batch, so the price of exactness is a number.

    .venv/bin/python bench/warm.py [--symbols 200] [--days 9]

Prints one JSON object on its last line.
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
import mlx.core as mx

from bench.indicators import make_panel
from engine.compute import compute_outputs
from engine.incremental import IncrementalEngine
from engine.inputs import batch_inputs
from engine.registry import REGISTRY


def warm_once(panel, declared: bool) -> tuple[float, float, np.ndarray, int]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds to warm the whole registry, the last values, minutes stepped.

    CPU seconds (all threads of this process) are reported too: on a shared
    machine the wall time mostly measures the other processes.
    """
    eng = IncrementalEngine(panel.symbols)
    if not declared:
        eng._needs = {k: (0, 0) for k in eng._needs}  # the fixed two-session warm-up
        eng._steady_bars = 0
    steps = [0]

    def tick(_: float) -> None:
        steps[0] += 64

    t0, c0 = time.perf_counter(), time.process_time()
    snap = eng.warm(panel, step_sessions=2, progress=tick)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert snap is not None
    return elapsed, cpu, snap.values, steps[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=200)
    ap.add_argument("--days", type=int, default=9)
    args = ap.parse_args()
    panel = make_panel(args.symbols, args.days * 390)
    names = REGISTRY.output_names()
    batch = compute_outputs(batch_inputs(panel), ["avwap_hh"])
    mx.eval(list(batch.values()))
    want = np.array(batch["avwap_hh"])[:, -1]
    price = np.nanmedian(panel.close, axis=1)
    col = names.index("avwap_hh")
    out: dict[str, object] = {"symbols": args.symbols, "days": args.days,
                              "declared_sessions_whole_registry": REGISTRY.step_sessions()}
    for key, declared in (("fixed2", False), ("declared", True)):
        secs, cpu, values, steps = warm_once(panel, declared)
        err = np.abs(values[:, col] - want) / price
        out[f"{key}_warm_s"] = round(secs, 3)
        out[f"{key}_warm_cpu_s"] = round(cpu, 3)
        out[f"{key}_stepped_minutes_approx"] = steps
        out[f"{key}_avwap_hh_max_rel_err"] = float(np.nanmax(err))
    out["slowdown_cpu"] = round(float(out["declared_warm_cpu_s"])  # type: ignore[arg-type]
                                / float(out["fixed2_warm_cpu_s"]), 2)  # type: ignore[arg-type]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
