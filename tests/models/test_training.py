"""Training on a small demo cache: compiled step, events, Ctrl-C + --resume equality,
checkpoint round trip, corrupt / mismatched checkpoints, a full disk while saving."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
import pytest
from _mdata import END, tiny_train

from models import checkpoint as ck
from models.dataset import Dataset, DataSpec, build
from models.errors import ModelError
from models.model import ModelArgs, SelectorModel, loss_fn, make_optimizer, make_train_step
from models.selector import Selector
from models.train import train
from storage.cache import Cache

SPEC = DataSpec(tickers=("SPY", "AAPL", "MSFT"), days=8, interval=5, lookback=30, horizon=5,
                cost_bps=2.0, val_days=2, end=END)


@pytest.fixture(scope="module")
def ds(demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    with Cache(demo_cache, read_only=True) as cache:
        data = build(cache, SPEC, workdir=tmp_path_factory.mktemp("work"))
    yield data
    data.close()


def test_model_shapes_prior_and_compiled_step() -> None:
    args = ModelArgs(n_features=7, n_outputs=3, lookback=20, patch=5, dims=16, heads=2,
                     layers=1, mlp_dims=32, prior=[0.9, 0.8, 0.5])
    mx.random.seed(1)
    model = SelectorModel(args)
    x = mx.random.normal((8, 20, 7))
    r = mx.array([-1, 0, 1, 2, 3, 0, 1, 2])
    w = mx.sigmoid(model(x, r))
    assert w.shape == (8, 3)
    # the prior is the starting point: initial weights sit near 0.9 / 0.8 / 0.5
    np.testing.assert_allclose(np.array(w).mean(axis=0), [0.9, 0.8, 0.5], atol=0.05)
    opt = make_optimizer(1e-2)
    step = make_train_step(model, opt)
    y = (mx.random.uniform(shape=(8, 3)) > 0.5).astype(mx.float32)
    first = float(np.asarray(loss_fn(model, x, r, y)))
    for _ in range(20):
        mx.eval(step(x, r, y), model.state, opt.state)
    assert float(np.asarray(loss_fn(model, x, r, y))) < first * 0.7


@pytest.mark.slow
def test_events_resume_and_round_trip(ds: Dataset, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    full = train(ds, tiny_train("full"), tmp_path, lambda e: events.append(e.to_dict()))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "eval" in kinds
    assert kinds.count("epoch") == 2 and kinds.count("step") == 2 * events[0]["steps_per_epoch"]
    ep = next(e for e in events if e["event"] == "epoch")
    for key in ("loss", "val_loss", "selection_accuracy", "sparsity", "mean_weight", "eta_s"):
        assert np.isfinite(ep[key]), key
    ev = next(e for e in events if e["event"] == "eval")
    assert [r["name"] for r in ev["rows"]] == ["model", "random k (nonzero)", "best fixed k-set",
                                              "logistic", "base rate", "AVWAP prior"]
    assert (tmp_path / "full" / "evaluation.json").exists()

    # Ctrl-C after step 5, then --resume: the same weights as the uninterrupted run
    def interrupt(gstep: int) -> None:
        if gstep == 5:
            os.kill(os.getpid(), signal.SIGINT)

    part = train(ds, tiny_train("cut"), tmp_path, lambda e: None, on_step=interrupt)
    assert part.interrupted and part.global_step == 5
    assert ck.load(tmp_path / "cut", "last").progress["global_step"] == 5
    again = train(ds, tiny_train("cut"), tmp_path, lambda e: None,
                  resume=ck.load(tmp_path / "cut", "last"))
    assert not again.interrupted and again.global_step == full.global_step
    a = ck.load(tmp_path / "full", "last").weights
    b = ck.load(tmp_path / "cut", "last").weights
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.array(a[k]), np.array(b[k]), err_msg=k)

    # round trip: the loaded selector gives bit-for-bit the outputs of the saved weights
    sel = Selector.load(tmp_path / "full")
    data = ck.load(tmp_path / "full")
    model = SelectorModel(ModelArgs.from_dict(data.config["model"]))
    model.update(ck.unflat(data.weights))
    idx = ds.val_idx[:32]
    raw = ds.windows(idx, scaled=False)
    x, r, _ = ds.batch(idx)
    want = np.array(mx.sigmoid(model(mx.array(x), mx.array(r))))
    got, names = sel.select_indicators(raw, r)
    np.testing.assert_array_equal(got, want)
    assert names == ds.outputs and len(sel.pick(raw[:2], r[:2])[0]) == 3


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_corrupt_and_mismatched_checkpoints(ds: Dataset, tmp_path: Path) -> None:
    train(ds, tiny_train("m", epochs=1), tmp_path, lambda e: None)
    good = tmp_path / "m"
    Selector.load(good)

    trunc = _copy(good, tmp_path / "trunc")
    w = ck.resolve(trunc) / "weights.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        Selector.load(trunc)

    gone = _copy(good, tmp_path / "gone")
    (ck.resolve(gone) / "scaler.npz").unlink()
    with pytest.raises(ModelError, match=r"scaler\.npz is missing"):
        Selector.load(gone)

    ptr = _copy(good, tmp_path / "ptr")
    (ptr / ck.POINTER).write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        Selector.load(ptr)

    mism = _copy(good, tmp_path / "mism")
    cfg_path = ck.resolve(mism) / "config.json"
    cfg = json.loads(cfg_path.read_text())
    dropped = cfg["features"].pop(3)
    cfg["features"].append("bogus_feature")
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as err:
        Selector.load(mism)
    assert "bogus_feature" in str(err.value) and dropped in str(err.value)


def test_full_disk_keeps_previous_best(ds: Dataset, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = mx.save_safetensors
    calls = {"n": 0}

    def failing(path: str, arrays: dict[str, mx.array], *a: Any, **k: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 2:  # the first checkpoint (weights + optimizer) fits, then the disk is full
            Path(path).write_bytes(b"\0" * 10)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real(path, arrays, *a, **k)

    monkeypatch.setattr(mx, "save_safetensors", failing)
    with pytest.raises(ModelError, match=r"No space left on device.*is intact"):
        train(ds, tiny_train("disk", epochs=2), tmp_path, lambda e: None)
    monkeypatch.setattr(mx, "save_safetensors", real)
    model_dir = tmp_path / "disk"
    assert ck.read_pointer(model_dir)["best"] == ck.resolve(model_dir).name
    assert not [p for p in model_dir.iterdir() if ".tmp-" in p.name]
    sel = Selector.load(model_dir)
    assert sel.outputs == ds.outputs


def test_live_selector_matches_the_data_set(ds: Dataset, demo_cache: Path,
                                            tmp_path: Path) -> None:
    """Snapshots fed minute by minute give the data set's windows and the model's picks."""
    import datetime as dt

    from engine.compute import compute
    from engine.registry import REGISTRY, reading
    from engine.snapshot import Snapshot
    from models.dataset import history_start, window_of
    from models.features import ffill
    from models.live import LiveSelector
    from models.registry import use

    train(ds, tiny_train("live", epochs=1), tmp_path, lambda e: None)
    use(tmp_path, "live")
    with Cache(demo_cache, read_only=True) as cache:
        sessions = window_of(cache, SPEC)
        panel = cache.load_panel(list(ds.symbols),
                                 history_start(sessions, cache, ds.symbols).astype(dt.date),
                                 sessions[-1].astype(dt.date), dtype=np.float32)
    names = tuple(REGISTRY.output_names())
    vals = compute(panel, names).numpy()
    close = ffill(panel.close.astype(np.float64))
    live = LiveSelector.from_active(ds.symbols, names, tmp_path)
    assert live is not None and LiveSelector.from_active(ds.symbols, names, tmp_path / "x") is None
    k = int(ds.val_idx[len(ds.val_idx) // 2])
    t_end = int(ds.sample_t[k])
    for t in range(t_end - live.needed - 5, t_end + 1):
        snap = Snapshot(ts=panel.ts[t], symbols=ds.symbols, names=names, values=vals[:, t],
                        last=close[:, t].astype(np.float32), volume=panel.volume[:, t],
                        valid=panel.valid[:, t],
                        regime=np.nan_to_num(vals[:, t, names.index("regime")], nan=-1)
                        .astype(np.int8))
        live.update(snap)
        if t == t_end:
            live.update(snap)  # a revision of the same minute replaces, never pushes
    sym = int(ds.sample_sym[k])
    want = ds.windows(np.array([k]), scaled=False)[0]
    np.testing.assert_allclose(live.window()[sym], want, rtol=1e-5, atol=1e-5, equal_nan=True)
    picks = live.select([ds.symbols[sym]])[ds.symbols[sym]]
    w, outs = live.selector.select_indicators(want[None], ds.regime[k:k + 1])
    order = np.argsort(-w[0], kind="stable")[:3]
    assert picks.ready and picks.names == tuple(outs[j] for j in order)
    np.testing.assert_allclose(picks.weights, w[0, order], rtol=1e-4, atol=1e-5)
    for name, d in zip(picks.names, picks.directions, strict=True):
        assert d == reading(name, vals[sym, t_end, names.index(name)], close[sym, t_end])
    # prime() from a history panel ending at the same minute gives the same window
    primed = LiveSelector(live.selector, ds.symbols, names)
    primed.prime(panel.slice_time(0, t_end + 1))
    np.testing.assert_allclose(primed.window()[sym], live.window()[sym], rtol=1e-5, atol=1e-5)
