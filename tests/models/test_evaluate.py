"""The evaluation says plainly when the model does not beat the baselines."""

from __future__ import annotations

import numpy as np

from models.evaluate import evaluate, precision_at_k, top_k


def _data(days: int, n: int = 600, k: int = 20):
    rng = np.random.default_rng(0)
    y = (rng.random((n, k)) < 0.3).astype(np.uint8)
    y[:, 0] = rng.random(n) < 0.6  # one indicator is better on average: the best fixed set finds it
    return y, np.repeat(np.arange(days), n // days)


def test_precision_and_top_k() -> None:
    w = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]])
    y = np.array([[0, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(top_k(w, 2), [[1, 2], [0, 2]])
    np.testing.assert_allclose(precision_at_k(w, y, 2), [0.5, 0.5])


def test_random_model_does_not_beat_and_an_oracle_does() -> None:
    y, days = _data(6)
    names = [f"o{i}" for i in range(y.shape[1])]
    rng = np.random.default_rng(1)
    noise = evaluate(rng.random(y.shape), y, days, 3, y, list(range(20)), names)
    assert not noise["beats_all"] and "does NOT beat" in noise["verdict"]
    rows = {r["name"]: r for r in noise["rows"]}
    assert not rows["best fixed k-set"]["model_beats"]
    assert noise["best_fixed_set"][0] == "o0"
    oracle = evaluate(y + 0.1 * rng.random(y.shape), y, days, 3, y, list(range(20)), names)
    assert oracle["beats_all"] and "beats every baseline" in oracle["verdict"]
    for r in oracle["rows"][1:]:
        assert r["diff_ci95"][0] > 0


def test_one_held_out_day_is_flagged() -> None:
    y, days = _data(1)
    rng = np.random.default_rng(2)
    ev = evaluate(rng.random(y.shape), y, days, 3, y, list(range(20)),
                  [f"o{i}" for i in range(20)])
    assert "Only 1 held-out day" in ev["verdict"]
    assert all(r["ci95"][1] > r["ci95"][0] for r in ev["rows"])  # never a zero-width "interval"
