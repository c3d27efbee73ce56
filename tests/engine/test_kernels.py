"""Kernels against plain references: segmented running max/min (``seg_scan``), the
exact tick arithmetic (``to_price``, ``engine.inputs.to_ticks``) and ``ema_lag``."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from engine.inputs import to_ticks
from engine.kernels import ema, ema_lag, seg_scan, to_price


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


def test_tick_differences_are_exact_at_any_price() -> None:
    """A one-cent range is exactly what a cent converts to, at $1 and at $5,000;
    differencing float32 prices is not (the issue-14 cause)."""
    for lo in (1.00, 130.17, 4999.99):
        h, lo_ = np.array([[lo + 0.01]]), np.array([[lo]])
        ok = np.ones((1, 1), bool)
        d = to_price(mx.array(to_ticks(h, ok)) - mx.array(to_ticks(lo_, ok)))
        assert np.array(d)[0, 0] == np.float32(0.01)
    f32 = np.float32(4999.99 + 0.01) - np.float32(4999.99)
    assert f32 != np.float32(0.01)


def test_equal_moves_tie_in_ticks() -> None:
    """Up and down moves of equal decimal size compare equal (ADX's tie rule)."""
    ok = np.ones((1, 2), bool)
    h = mx.array(to_ticks(np.array([[130.05, 130.08]]), ok))
    lo = mx.array(to_ticks(np.array([[130.01, 129.98]]), ok))
    up, dn = h[:, 1] - h[:, 0], lo[:, 0] - lo[:, 1]
    assert bool((up == dn).all())


def test_to_ticks_refuses_prices_int32_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"\(BRK\) is above \$214,748\.36"):
        to_ticks(np.array([[500_000.0]]), np.ones((1, 1), bool), ("BRK",))
    assert to_ticks(np.array([[np.nan, 2.5]]), np.array([[False, True]]))[0].tolist() == [0, 25000]


def test_ema_lag_is_x_minus_ema() -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 0.01, (2, 300)), axis=1).astype(np.float32)
    d = np.diff(x, axis=1, prepend=x[:, :1])
    for n, seed in ((12, 25), (26, 25), (9, 8)):
        got = np.array(ema_lag(mx.array(x), mx.array(d), n, seed_at=seed))
        want = x - np.array(ema(mx.array(x), n, seed_at=seed))
        assert np.allclose(got[:, seed:], want[:, seed:], atol=2e-6)
        assert (got[:, :seed] == 0).all()
