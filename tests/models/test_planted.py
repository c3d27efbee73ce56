"""A tiny model on real SPY minute bars (January 2011) learns a planted signal.

Two synthetic indicators are planted beside the registry's: ``planted_up`` reads
the sign of the forward return correctly whenever a visible ``switch`` feature
is +1 (and at random otherwise), ``planted_dn`` whenever it is -1. No fixed set
of indicators can be right in both states; a selector that reads ``switch`` can.
A third, ``noise``, reads at random and must be ignored. On the test slice
(never seen by training or by the choice of the checkpoint) the model must beat
every baseline with skill (random k among the indicators that read, the best
fixed k-set chosen on the training days, the per-indicator logistic) by the
paired day bootstrap.

Skips when ``../shared/data`` is absent.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from _mdata import SPY_CSV, tiny_train

from models.dataset import DataSpec, Synthetic, build
from models.evaluate import top_k
from models.train import predict_all, train
from storage.cache import Cache
from storage.csv_import import import_csv, layout_for
from storage.types import Panel

pytestmark = pytest.mark.skipif(not SPY_CSV.exists(), reason=f"{SPY_CSV} not present")

H = 5


def planted(panel: Panel, close: np.ndarray) -> list[Synthetic]:
    rng = np.random.default_rng(5)
    s, t = close.shape
    fwd = np.zeros((s, t))
    fwd[:, :-H] = np.sign(close[:, H:] - close[:, :-H])
    fwd = np.nan_to_num(fwd).astype(np.int8)
    blocks = rng.choice([-1.0, 1.0], size=t // 30 + 1)
    switch = np.broadcast_to(np.repeat(blocks, 30)[:t], (s, t)).copy()
    coin = lambda: rng.choice([-1, 1], size=(s, t)).astype(np.int8)  # noqa: E731
    up = np.where(switch > 0, fwd, coin()).astype(np.int8)
    dn = np.where(switch < 0, fwd, coin()).astype(np.int8)
    return [
        Synthetic("switch", switch),
        Synthetic("planted_up", rng.normal(size=(s, t)), up),
        Synthetic("planted_dn", rng.normal(size=(s, t)), dn),
        Synthetic("noise", rng.normal(size=(s, t)), coin()),
    ]


def test_learns_planted_signal_and_ignores_noise(tmp_path: Path) -> None:
    db = tmp_path / "spy.duckdb"
    with Cache(db) as cache:
        import_csv(cache, SPY_CSV, layout_for("iso", symbol="SPY"))
    spec = DataSpec(tickers=("SPY",), days=20, interval=2, lookback=20, horizon=H, cost_bps=1.0,
                    val_days=2, test_days=5, folds=1, end=dt.date(2011, 1, 31))
    with Cache(db, read_only=True) as cache:
        ds = build(cache, spec, workdir=tmp_path, synthetic=planted)
    with ds:
        assert ds.outputs[-3:] == ("planted_up", "planted_dn", "noise")
        res = train(ds, tiny_train("planted", epochs=8, top_k=1, patch=4), tmp_path / "m",
                    lambda e: None)
        ev = res.evaluation
        assert ev is not None
        rows = {r["name"]: r for r in ev["rows"]}
        model = rows["model"]["precision"]
        assert model > rows["best fixed k-set"]["precision"] + 0.1, ev["rows"]
        assert model > rows["base rate"]["precision"] + 0.2
        assert {n for n, r in rows.items() if r["gate"]} == {
            "random k (nonzero)", "best fixed k-set", "logistic"}
        for name, r in rows.items():
            assert name == "model" or not r["gate"] or r["diff_ci95"][0] > 0, (name, r)
        assert ev["beats_all"], ev["verdict"]
        assert ev["days"] == 5
        # the noise indicator is (almost) never the pick
        from models.selector import Selector

        sel = Selector.load(tmp_path / "m" / "planted", check_registry=False)
        w = predict_all(sel.model, ds, ds.test_idx)
        picks = top_k(w, 1)[:, 0]
        noise = ds.outputs.index("noise")
        assert (picks == noise).mean() < 0.02
        assert w[:, noise].mean() < w[:, ds.outputs.index("planted_up")].mean()
