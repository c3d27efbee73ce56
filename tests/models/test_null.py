"""The null copy keeps sizes and volume and destroys direction; on pure noise neither the
real panel nor its sign-randomized copy "beats" the baselines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from _mdata import END, hand_bars, tiny_train

from models import walkforward
from models.dataset import DataSpec, build
from models.features import ffill
from models.null import sign_randomized
from models.train import train
from storage import calendar
from storage.cache import Cache
from storage.events import Event


def _last_real(close: np.ndarray, valid: np.ndarray) -> np.ndarray:
    prev = np.full(close.shape, np.nan)
    prev[:, 1:] = ffill(np.where(valid, close, np.nan))[:, :-1]
    return prev


def test_sign_randomized_keeps_sizes_volume_and_bars(hand_cache: Path) -> None:
    dates = calendar.previous_sessions(END, 6)
    start = dates[3].astype(dt.date)
    with Cache(hand_cache, read_only=True) as cache:
        panel = cache.load_panel(["ONE", "HUN", "BIG"], dates[0].astype(dt.date), END)
    null = sign_randomized(panel, start)
    flip = panel.segments["day"] >= start.toordinal()
    v = panel.valid
    before = v & ~flip[None, :]
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(null, name)[before], getattr(panel, name)[before])
    np.testing.assert_array_equal(null.volume, panel.volume)
    np.testing.assert_array_equal(null.valid, panel.valid)
    moved = v & flip[None, :] & np.isfinite(_last_real(panel.close, v))
    r = np.log(panel.close / _last_real(panel.close, v))[moved]
    nr = np.log(null.close / _last_real(null.close, v))[moved]
    np.testing.assert_allclose(np.abs(nr), np.abs(r), rtol=1e-6, atol=1e-12)
    nonzero = np.abs(r) > 0
    flipped = (np.sign(nr) != np.sign(r))[nonzero].mean()
    assert 0.45 < flipped < 0.55  # a coin per minute: direction is gone
    assert (null.high[v] >= np.maximum(null.open[v], null.close[v]) * (1 - 1e-12)).all()
    assert (null.low[v] <= np.minimum(null.open[v], null.close[v]) * (1 + 1e-12)).all()
    rng_real = (panel.high - panel.low)[v] / panel.close[v]
    rng_null = (null.high - null.low)[v] / null.close[v]
    np.testing.assert_allclose(np.median(rng_null), np.median(rng_real), rtol=0.05)


@pytest.mark.slow
def test_pure_noise_and_its_null_do_not_beat(tmp_path: Path) -> None:
    """Random-walk bars: nothing to learn. The walk-forward evaluation (two folds, pooled)
    must not say "beats", and neither must the same pipelines on the null copy."""
    dates = calendar.previous_sessions(END, 10)
    table, _ = hand_bars(["ONE", "HUN", "BIG"], dates, seed=11)
    db = tmp_path / "noise.duckdb"
    with Cache(db) as cache:
        cache.write_bars(table)
    spec = DataSpec(tickers=("ONE", "HUN", "BIG"), days=10, interval=5, lookback=30,
                    horizon=5, cost_bps=2.0, val_days=1, test_days=2, folds=2, end=END)
    with Cache(db, read_only=True) as cache:
        ds = build(cache, spec, workdir=tmp_path)
    events: list[dict] = []

    def collect(e: Event) -> None:
        events.append(e.to_dict())  # the wire object, as --progress-json prints it

    with ds:
        cfg = tiny_train("noise", epochs=2)
        res = train(ds, cfg, tmp_path / "m", collect, evaluate=False)
        assert not res.interrupted and not any(e["event"] == "eval" for e in events)
        ev = walkforward.run(ds, cfg, tmp_path / "m", collect,
                             null_source=lambda: walkforward.null_dataset(db, ds, tmp_path))
    assert ev is not None
    assert [e["event"] for e in events][-2:] == ["eval", "done"]
    assert len(ev["folds"]) == 2 and ev["days"] == 4
    assert not ev["beats_all"], ev["verdict"]
    null = ev["null"]
    assert null is not None and not null["null_beats_all"], null["null_verdict"]
    assert null["samples"] > 100 and 0 < null["p_value"] <= 1
    assert "Null test" in ev["verdict"] or "not about direction" in ev["verdict"]
    assert (tmp_path / "m" / "noise" / "folds" / "fold-1" / "scores.npz").exists()
