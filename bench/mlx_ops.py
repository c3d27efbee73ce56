"""Benchmark: what MLX's CPU backend charges per elementwise pass, against NumPy.

Why this exists: the AVWAP and indicator batches are shaped by these costs
(one single-output compiled kernel per output, arithmetic masks instead of
``where``), and the closing notes explain missed speed goals with them. All on
one ``[100, 7800]`` float32 array (the AVWAP benchmark's panel), best of 9:

- ``arith_ms``: ``x*y + 1`` (memory-bound floor); ``where_true_ms`` /
  ``where_random_ms``: ``where`` with an all-true and a 50 % random mask;
  ``sqrt_ms``; NumPy's ``numpy_*`` equivalents in the same run.
- ``fused_8_outputs_ms``: one compiled function returning an anchor's 8 outputs
  (level, six bands, z) from block carries broadcast over ``[S, nB, B]``, as
  the AVWAP batch has them, vs ``single_output_kernels_ms``: the same 8 from one
  compiled single-output kernel each.
- Exact price differences (issue 14), the options the indicators chose between:
  ``sub_f32_ms`` (``h - l`` on float32 prices: inexact), ``sub_i32_to_f32_ms``
  (integer ticks of 1/10,000: exact, then converted), ``sub_f64_to_f32_ms``
  (float64, CPU only), ``tick_convert_ms`` (float64 prices to int32 ticks in
  NumPy, once per panel), and the compaction gather of one ``[S, T]`` array as
  float32 / int32 / float64 (``gather_*_ms``).
- A bar-sequence output back on the minute grid: ``expand_mask_ms`` (warm-up
  mask, gather, select as three passes) vs ``expand_warm_ms`` (the one
  compiled gather + select every registry batch output now takes).
- The per-minute step's costs (``per_node_us``): ``node_*_us`` per graph node on
  650-symbol arrays (elementwise, a row sum of a 26-bar window, a window push)
  and ``fused_100_elementwise_us`` (the same 100 elementwise nodes compiled).
- ``gemm_ratio_to_numpy``: a float32 ``1024 x 1024`` matmul in MLX (after ``import
  engine``, which gives MLX its optimized BLAS on Linux: ``blas`` names it) over
  NumPy's in the same run, best of 9 each (goal ≤ 3; the reference BLAS MLX
  bundles gives 20-40).

Run: ``.venv/bin/python bench/mlx_ops.py``
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import blas  # MLX's optimized BLAS: before mlx loads

# isort: split
import mlx.core as mx

from engine import kernels as K

S, T = 100, 7800


def best_ms(fn: Callable[[], object], reps: int = 9) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best * 1e3, 3)


NB, B = 200, 39  # the AVWAP batch's block layout of the same cells: [S, nB, B]


def _outputs(
    x0: mx.array, x1: mx.array, dq: mx.array, r: mx.array, p0: mx.array, p1: mx.array,
    u: mx.array, lc: mx.array,
) -> list[mx.array]:  # fmt: skip
    """An anchor's 8 outputs from block carries ``[S, nB, 1]`` and prefixes ``[S, nB, B]``."""
    w = x0 + p0
    m = (x1 + p1 + dq * p0) / w
    level = r + m
    sd = mx.sqrt((x0 + u) / w)
    bands = [level + k * sd for k in (1.0, -1.0, 2.0, -2.0, 3.0, -3.0)]
    return [level, *bands, mx.where(sd > 0, ((lc - r) - m) / sd, float("nan"))]


def per_node_us() -> dict[str, float]:
    """What one graph node costs on the per-minute step's shapes (650 symbols).

    Why: the step is ~1,100 nodes after ``mx.compile`` on tiny arrays, so its
    time is the node count times these, not arithmetic. 100 nodes each, eager.
    """
    x = mx.random.uniform(shape=(650,))
    w = mx.random.uniform(shape=(650, 26))
    mx.eval(x, w)

    def chain(op: Callable[[mx.array], mx.array], a: mx.array) -> Callable[[], mx.array]:
        def build() -> mx.array:
            z = a
            for _ in range(100):
                z = op(z)
            return z
        return build

    add = chain(lambda z: z + 1.0, x)
    fused = mx.compile(add)
    push = chain(lambda z: mx.concatenate([z[:, 1:], x[:, None]], axis=1), w)
    sums = lambda: [mx.sum(w, axis=1) + float(i) for i in range(100)]  # noqa: E731
    return {
        "node_elementwise_us": round(best_ms(lambda: mx.eval(add())) * 10, 2),
        "node_row_sum_us": round(best_ms(lambda: mx.eval(sums())) * 10, 2),  # with its add
        "node_window_push_us": round(best_ms(lambda: mx.eval(push())) * 10, 2),
        "fused_100_elementwise_us": round(best_ms(lambda: mx.eval(fused())) * 1e3, 1),
    }


def gemm() -> dict[str, object]:
    """The 1024² float32 product through MLX's BLAS against NumPy's, same run."""
    rng = np.random.default_rng(1)
    an, bn = (rng.normal(size=(1024, 1024)).astype(np.float32) for _ in range(2))
    am, bm = mx.array(an), mx.array(bn)
    mx.eval(am, bm)
    mlx_ms = best_ms(lambda: mx.eval(am @ bm))
    numpy_ms = best_ms(lambda: an @ bn)
    return {"gemm_mlx_ms": mlx_ms, "gemm_numpy_ms": numpy_ms,
            "gemm_ratio_to_numpy": round(mlx_ms / numpy_ms, 2),
            "blas": blas.ensure().describe()}


def main() -> None:
    rng = np.random.default_rng(0)
    xn = rng.uniform(0.5, 1.5, (S, T)).astype(np.float32)
    yn = rng.uniform(0.5, 1.5, (S, T)).astype(np.float32)
    rn = rng.random((S, T)) < 0.5
    x, y, rand, true = mx.array(xn), mx.array(yn), mx.array(rn), mx.ones((S, T), dtype=mx.bool_)
    mx.eval(x, y, rand, true)
    blk = [mx.array(rng.uniform(0.5, 1.5, (S, NB, 1)).astype(np.float32)) for _ in range(4)]
    cell = [mx.array(rng.uniform(0.5, 1.5, (S, NB, B)).astype(np.float32)) for _ in range(4)]
    mx.eval(blk, cell)
    x0, x1, dq, r = blk
    p0, p1, u, lc = cell
    fused = mx.compile(_outputs)
    mean_k = mx.compile(lambda x0, x1, dq, p0, p1: (x1 + p1 + dq * p0) / (x0 + p0))
    level_k = mx.compile(lambda r, m: r + m)
    sd_k = mx.compile(lambda x0, u, p0: mx.sqrt((x0 + u) / (x0 + p0)))
    band_k = mx.compile(lambda lv, sd, k: lv + k * sd)
    z_k = mx.compile(lambda lc, r, m, sd: mx.where(sd > 0, ((lc - r) - m) / sd, float("nan")))
    ks = [mx.array(k) for k in (1.0, -1.0, 2.0, -2.0, 3.0, -3.0)]
    pn = np.round(100.0 + np.cumsum(rng.normal(0, 0.02, (S, T)), axis=1), 2)  # cent prices
    xi, yi = (mx.array(np.rint(a * 1e4).astype(np.int32)) for a in (pn, pn - 0.01))
    xd, yd = mx.array(pn, dtype=mx.float64), mx.array(pn - 0.01, dtype=mx.float64)
    idx = mx.array(np.argsort(rng.random((S, T)), axis=1).astype(np.int32))
    mx.eval(xi, yi, xd, yd, idx)
    pos = mx.cumsum(mx.array(rng.random((S, T)) > 0.02).astype(mx.int32), axis=1) - 1
    mx.eval(pos)
    sub_i = mx.compile(lambda a, b: (a - b).astype(mx.float32) * 1e-4)
    sub_d = mx.compile(lambda a, b: (a - b).astype(mx.float32))

    def single() -> None:
        m = mean_k(x0, x1, dq, p0, p1)
        lv, sd = level_k(r, m), sd_k(x0, u, p0)
        mx.eval(lv, *(band_k(lv, sd, k) for k in ks), z_k(lc, r, m, sd))

    result = {
        "shape": [S, T],
        "arith_ms": best_ms(lambda: mx.eval(x * y + 1.0)),
        "where_true_ms": best_ms(lambda: mx.eval(mx.where(true, x, y))),
        "where_random_ms": best_ms(lambda: mx.eval(mx.where(rand, x, y))),
        "sqrt_ms": best_ms(lambda: mx.eval(mx.sqrt(x))),
        "numpy_arith_ms": best_ms(lambda: xn * yn + 1.0),
        "numpy_where_random_ms": best_ms(lambda: np.where(rn, xn, yn)),
        "numpy_sqrt_ms": best_ms(lambda: np.sqrt(xn)),
        "fused_8_outputs_ms": best_ms(lambda: mx.eval(fused(x0, x1, dq, r, p0, p1, u, lc))),
        "single_output_kernels_ms": best_ms(single),
        "sub_f32_ms": best_ms(lambda: mx.eval(x - y)),
        "sub_i32_to_f32_ms": best_ms(lambda: mx.eval(sub_i(xi, yi))),
        "sub_f64_to_f32_ms": best_ms(lambda: mx.eval(sub_d(xd, yd))),
        "tick_convert_ms": best_ms(lambda: np.rint(pn * 1e4).astype(np.int32)),
        "gather_f32_ms": best_ms(lambda: mx.eval(mx.take_along_axis(x, idx, axis=1))),
        "gather_i32_ms": best_ms(lambda: mx.eval(mx.take_along_axis(xi, idx, axis=1))),
        "gather_f64_ms": best_ms(lambda: mx.eval(mx.take_along_axis(xd, idx, axis=1))),
        # a bar-sequence output back on the minute grid (2 % missing bars)
        "expand_mask_ms": best_ms(lambda: mx.eval(K.expand(K.mask_warmup(x, 20), pos))),
        "expand_warm_ms": best_ms(lambda: mx.eval(K.expand_warm(x, pos, 20))),
        **per_node_us(),
        "mlx": getattr(mx, "__version__", "?"),
        **gemm(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
