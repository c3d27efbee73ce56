"""Segmented running max/min (``engine.kernels.seg_scan``) against a plain loop."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from engine.kernels import seg_scan


def reference(x: np.ndarray, seg: np.ndarray, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = x.copy()
    for t in range(1, x.shape[1]):
        same = seg[t] == seg[t - 1]
        if same:
            out[:, t] = fn(out[:, t - 1], x[:, t])
    return out


def segments(kind: str, t: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "days":  # exchange days: 390 and 210 (half day) minutes
        lengths = rng.choice([390, 210], size=t // 210 + 1)
    elif kind == "irregular":
        lengths = rng.integers(1, 50, size=t)
    else:  # one segment
        return np.zeros(t, dtype=np.int32)
    return np.repeat(np.arange(len(lengths)), lengths)[:t].astype(np.int32)


@pytest.mark.parametrize("kind", ["days", "irregular", "single"])
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_seg_scan_equals_a_loop(kind: str, op: str, dtype: type) -> None:
    rng = np.random.default_rng(len(kind))
    t = 2000 + 17  # not a multiple of any block size
    seg = segments(kind, t, rng)
    x = (rng.normal(size=(3, t)) * 1000).astype(dtype)
    if dtype is np.float32:
        x[rng.random(x.shape) < 0.2] = -np.inf if op == "max" else np.inf  # masked bars
    fn = np.maximum if op == "max" else np.minimum
    got = seg_scan(mx.array(x), mx.array(seg)[None, :], mx.maximum if op == "max" else mx.minimum)
    assert np.array_equal(np.array(got), reference(x, seg, fn))


def test_seg_scan_rejects_other_ops() -> None:
    with pytest.raises(ValueError, match=r"maximum and mx\.minimum"):
        seg_scan(mx.zeros((1, 4)), np.zeros(4, dtype=np.int32), mx.add)
