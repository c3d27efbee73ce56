"""The evaluation says plainly when the model does not beat the baselines with skill."""

from __future__ import annotations

import numpy as np

from models import baselines as bl
from models.evaluate import (
    BASE,
    FIXED,
    LOGISTIC,
    MODEL,
    RANDOM_NZ,
    compare,
    concentration,
    null_comparison,
    precision_at_k,
    top_k,
    turnover,
)


def _data(days: int, n: int = 600, k: int = 20, seed: int = 0):
    """Labels where a 0 reading is never right (as in the data set) and o0 is better."""
    rng = np.random.default_rng(seed)
    active = rng.random((n, k)) < 0.4
    y = (rng.random((n, k)) < 0.6) & active
    y[:, 0] = (rng.random(n) < 0.7) & active[:, 0]
    return y.astype(np.uint8), active, np.repeat(np.arange(days), n // days)


def _rows(w: np.ndarray, y: np.ndarray, active: np.ndarray, k: int) -> dict[str, np.ndarray]:
    fixed = bl.fixed_set(y, k)
    return {MODEL: precision_at_k(w, y, k), RANDOM_NZ: bl.nonzero_random(y, active, k),
            FIXED: y[:, fixed].mean(axis=1), LOGISTIC: precision_at_k(active + 0.0, y, k),
            BASE: y.mean(axis=1)}


def test_precision_and_top_k() -> None:
    w = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]])
    y = np.array([[0, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(top_k(w, 2), [[1, 2], [0, 2]])
    np.testing.assert_allclose(precision_at_k(w, y, 2), [0.5, 0.5])


def test_random_nonzero_is_the_exact_expectation() -> None:
    y = np.array([[1, 0, 1, 0], [1, 0, 0, 0]])
    active = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)
    # 3 readings, 2 right: 2/3; one reading (right) and a zero to fill k=2: 1/2
    np.testing.assert_allclose(bl.nonzero_random(y, active, 2), [2 / 3, 1 / 2])
    rng = np.random.default_rng(0)
    draws = [y[0, rng.choice(np.flatnonzero(active[0]), 2, replace=False)].mean()
             for _ in range(20_000)]
    assert abs(np.mean(draws) - 2 / 3) < 0.01


def test_picking_what_reads_does_not_beat_but_an_oracle_does() -> None:
    """A "model" that only knows which indicators read beats base rate by a mile and
    the baselines with skill not at all; an oracle beats every one."""
    y, active, days = _data(6)
    rng = np.random.default_rng(1)
    reader = compare(_rows(active + 0.01 * rng.random(y.shape), y, active, 3), days, 3)
    rows = {r["name"]: r for r in reader["rows"]}
    assert rows[BASE]["model_beats"] and not rows[BASE]["gate"]
    assert not reader["beats_all"] and "does NOT beat" in reader["verdict"]
    assert not rows[RANDOM_NZ]["model_beats"] and not rows[LOGISTIC]["model_beats"]
    oracle = compare(_rows(y + 0.1 * rng.random(y.shape), y, active, 3), days, 3)
    assert oracle["beats_all"] and "beats every baseline" in oracle["verdict"]
    for r in oracle["rows"][1:]:
        assert r["diff_ci95"][0] > 0


def test_one_test_day_is_flagged() -> None:
    y, active, days = _data(1)
    rng = np.random.default_rng(2)
    ev = compare(_rows(rng.random(y.shape), y, active, 3), days, 3)
    assert "Only 1 test day" in ev["verdict"]
    assert all(r["ci95"][1] > r["ci95"][0] for r in ev["rows"])  # never a zero-width "interval"


def test_sparsity_varies_with_the_weights_and_turnover_counts_changes() -> None:
    flat = np.full((4, 20), 0.5)
    peaked = np.full((4, 20), 0.01)
    peaked[:, :3] = 0.99
    s_flat, e_flat = concentration(flat, 3)
    s_peak, e_peak = concentration(peaked, 3)
    assert abs(s_flat - 3 / 20) < 1e-9 and abs(e_flat - 1) < 1e-9
    assert s_peak > 0.9 and e_peak < 0.5
    picks = np.array([[0, 1], [0, 1], [0, 2], [3, 4], [5, 6]])
    sym = np.array([0, 0, 0, 0, 1])
    day = np.array([0, 0, 0, 1, 1])
    t = np.array([1, 2, 3, 400, 401])
    # same symbol and day: (0,1)->(0,1) 0 changed, (0,1)->(0,2) half; other pairs cross a day
    assert turnover(picks, sym, t, day) == 0.25


def test_null_p_value_is_small_only_for_a_real_margin() -> None:
    y, active, days = _data(6)
    rng = np.random.default_rng(3)
    ny, nact, _ = _data(6, seed=9)
    null = compare(_rows(nact + 0.01 * rng.random(ny.shape), ny, nact, 3), days, 3, what="null")
    oracle = compare(_rows(y + 0.1 * rng.random(y.shape), y, active, 3), days, 3)
    assert null_comparison(oracle, null)["p_value"] < 0.01
    reader = compare(_rows(active + 0.01 * rng.random(y.shape), y, active, 3), days, 3)
    assert null_comparison(reader, null)["p_value"] > 0.05
