"""Three disjoint, purged slices: no training label overlaps a validation or test window,
and the test slice never reaches the choice of the checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from _mdata import END, tiny_train

from models import checkpoint as ck
from models import splits
from models.dataset import Dataset, DataSpec, build
from models.errors import ModelError
from models.train import train
from storage.cache import Cache

SPEC = DataSpec(tickers=("ONE", "HUN", "BIG"), days=6, interval=7, lookback=30, horizon=5,
                cost_bps=2.0, val_days=1, test_days=1, folds=2, end=END)


def test_plan_tiles_the_newest_days_walking_forward() -> None:
    folds = splits.plan(20, 2, 2, 3)
    assert [f.test for f in folds] == [(14, 16), (16, 18), (18, 20)]
    for f in folds:
        assert f.train == (0, f.val[0]) and f.val == (f.test[0] - 2, f.test[0])
    assert splits.auto_folds(20, 2, 2) == 3 and splits.auto_folds(6, 1, 1) == 2
    with pytest.raises(ModelError, match="no training day"):
        splits.plan(5, 2, 2, 2)


def _check_purged(ds: Dataset) -> int:
    """Assert the purge for every fold; return how many training-day samples it dropped."""
    lb, h = ds.spec.lookback, ds.spec.horizon
    dropped = 0
    for f in range(len(ds.folds)):
        v = ds.use_fold(f)
        fold = v.folds[f]
        tr, va, te = v.train_idx, v.val_idx, v.test_idx
        assert len(tr) and len(va) and len(te)
        days = [set(v.sample_day[i].tolist()) for i in (tr, va, te)]
        assert max(days[0]) < min(days[1]) and max(days[1]) < min(days[2])  # disjoint, in order
        assert days[2] == set(range(*fold.test))
        t = v.sample_t.astype(np.int64)
        first_read = min(t[va].min(), t[te].min()) - lb + 1
        assert (t[tr] + h < first_read).all()  # no training label reaches a later window
        assert (t[va] + h < t[te].min() - lb + 1).all()
        on_train_days = np.flatnonzero((v.sample_day >= fold.train[0]) &
                                       (v.sample_day < fold.train[1]))
        dropped += len(on_train_days) - len(tr)
    return dropped


def test_purge_on_a_built_data_set(hand_cache: Path, tmp_path: Path) -> None:
    with Cache(hand_cache, read_only=True) as cache:
        ds = build(cache, SPEC, workdir=tmp_path)
    with ds:
        assert len(ds.folds) == 2
        # the lookback reaches over the close into the last training day: the purge bites
        assert _check_purged(ds) > 0
        # the scaler belongs to the fold: the later fold trains on one more day
        assert not np.array_equal(ds.use_fold(0).mean, ds.use_fold(1).mean)


def test_the_test_slice_never_reaches_model_selection(demo_cache: Path, tmp_path: Path) -> None:
    """Scramble everything the test slice holds (its labels, every feature row from its
    first minute on): training, validation metrics and the chosen checkpoint are the
    same, bit for bit. Were the test slice read before the choice, they would differ."""
    spec = DataSpec(tickers=("SPY", "AAPL", "MSFT"), days=8, interval=5, lookback=30,
                    horizon=5, cost_bps=2.0, val_days=2, test_days=2, folds=1, end=END)
    with Cache(demo_cache, read_only=True) as cache:
        ds = build(cache, spec, workdir=tmp_path)
    with ds:
        te = ds.test_idx
        rng = np.random.default_rng(0)
        labels = ds.labels.copy()
        labels[te] = rng.random(labels[te].shape) < 0.5
        first = int(ds.sample_t[te].min())
        arrays = [np.array(a) for a in ds.arrays]
        for a in arrays:
            a[first:] = rng.normal(size=a[first:].shape)
        scrambled = dataclasses.replace(ds, labels=labels, arrays=arrays, workdir=None)
        a_ev: list[dict] = []
        b_ev: list[dict] = []
        train(ds, tiny_train("a", epochs=3), tmp_path / "a", lambda e: a_ev.append(e.to_dict()))
        train(scrambled, tiny_train("a", epochs=3), tmp_path / "b",
              lambda e: b_ev.append(e.to_dict()))
    a_epochs = [e for e in a_ev if e["event"] == "epoch"]
    b_epochs = [e for e in b_ev if e["event"] == "epoch"]
    assert [{k: v for k, v in e.items() if k != "eta_s"} for e in a_epochs] == \
        [{k: v for k, v in e.items() if k != "eta_s"} for e in b_epochs]
    best_a, best_b = ck.load(tmp_path / "a" / "a"), ck.load(tmp_path / "b" / "a")
    assert best_a.path.name == best_b.path.name
    for k, w in best_a.weights.items():
        np.testing.assert_array_equal(np.array(w), np.array(best_b.weights[k]), err_msg=k)
    # and the test table did see the scrambled slice (the check above is not vacuous)
    ev_a = next(e for e in a_ev if e["event"] == "eval")
    ev_b = next(e for e in b_ev if e["event"] == "eval")
    assert ev_a["rows"][0]["precision"] != ev_b["rows"][0]["precision"]
