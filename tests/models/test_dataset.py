"""The data set builder against hand-made bars: exact windows and labels, no leakage,
a scaler fitted on the training days only, missing symbols named and skipped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from _mdata import END, hand_bars

from engine.compute import compute
from engine.registry import REGISTRY, reading
from models.dataset import DataSpec, build, history_start, window_of
from models.errors import ModelError
from models.features import ffill, scale_free
from storage import calendar
from storage.cache import Cache

SPEC = DataSpec(tickers=("ONE", "HUN", "NOPE", "BIG"), days=6, interval=7, lookback=30,
                horizon=5, cost_bps=2.0, val_days=2, end=END)


def reference(cache: Cache, spec: DataSpec, symbols: tuple[str, ...]):
    """The builder's inputs recomputed here: features [S, T, F], close, panel."""
    sessions = window_of(cache, spec)
    panel = cache.load_panel(list(symbols), history_start(sessions, cache, symbols).astype(dt.date),
                             sessions[-1].astype(dt.date), dtype=np.float32)
    names = REGISTRY.output_names()
    raw = compute(panel, names).numpy()
    close = ffill(panel.close.astype(np.float64))
    feats = scale_free(raw, close, names, [REGISTRY.meta(n) for n in names], spec.lookback)
    return panel, raw, close, feats, sessions


def test_windows_labels_and_skipped(hand_cache: Path, tmp_path: Path) -> None:
    with Cache(hand_cache, read_only=True) as cache:
        ds = build(cache, SPEC, workdir=tmp_path)
        panel, raw, close, feats, sessions = reference(cache, SPEC, ds.symbols)
    with ds:
        assert ds.skipped == ("NOPE",)
        assert ds.symbols == ("ONE", "HUN", "BIG")
        assert ds.n > 300 and len(ds.val_idx) > 50
        names = REGISTRY.output_names()
        assert ds.names == tuple(names) and ds.outputs == tuple(REGISTRY.selectable())
        lb, h = SPEC.lookback, SPEC.horizon
        s, t = ds.sample_sym.astype(int), ds.sample_t.astype(int)
        # samples: a real bar at t, t + h in the same session, inside the window
        assert panel.valid[s, t].all()
        day = panel.segments["day"]
        assert (day[t + h] == day[t]).all()
        assert (panel.ts[t].astype("datetime64[D]") >= sessions[0] - 1).all()
        # windows are exactly the scale-free rows t-lb+1 .. t of that symbol
        for k in np.linspace(0, ds.n - 1, 25).astype(int):
            got = ds.windows(np.array([k]), scaled=False)[0]
            np.testing.assert_array_equal(got, feats[s[k], t[k] - lb + 1: t[k] + 1])
        # labels: reading agrees with the sign of the forward return, beyond the cost
        ret = close[s, t + h] / close[s, t] - 1.0
        big = np.abs(ret) > SPEC.cost_bps * 1e-4
        for j, name in enumerate(ds.outputs):
            r = reading(name, raw[s, t, names.index(name)], close[s, t])
            want = (r == np.sign(ret)) & (r != 0) & big
            np.testing.assert_array_equal(ds.labels[:, j].astype(bool), want, err_msg=name)
        assert 0.05 < ds.labels.mean() < 0.6
        # the scaled windows are finite (NaN of an opening range not yet formed reads as 0)
        assert np.isfinite(ds.windows(ds.train_idx[:64])).all()


def test_no_leakage_from_later_bars(hand_cache: Path, tmp_path: Path) -> None:
    with Cache(hand_cache, read_only=True) as cache:
        a = build(cache, SPEC, workdir=tmp_path)
    sessions = calendar.previous_sessions(END, 6)
    g = calendar.minute_grid(sessions[0].astype(dt.date), END)
    cut = g.ts[len(g.ts) // 2 + 37]  # mid-session of the fourth day
    table, _ = hand_bars(["ONE", "HUN", "BIG"], sessions, seed=99)  # different prices
    later = table.filter(__import__("pyarrow").compute.greater(
        table["ts"], __import__("pyarrow").scalar(cut.astype("datetime64[us]").item(),
                                                   table["ts"].type)))
    with Cache(hand_cache) as cache:
        cache.write_bars(later)
    with Cache(hand_cache, read_only=True) as cache:
        b = build(cache, SPEC, workdir=tmp_path)
    with a, b:
        ts_grid = None
        with Cache(hand_cache, read_only=True) as cache:
            sess = window_of(cache, SPEC)
            start = history_start(sess, cache, a.symbols)
            ts_grid = calendar.minute_grid(start.astype(dt.date), END).ts
        cut_i = int(np.searchsorted(ts_grid, cut))
        key_a = {(int(s), int(t)): k for k, (s, t) in enumerate(zip(a.sample_sym, a.sample_t,
                                                                    strict=True))}
        key_b = {(int(s), int(t)): k for k, (s, t) in enumerate(zip(b.sample_sym, b.sample_t,
                                                                    strict=True))}
        early = sorted(k for k in key_a if k[1] <= cut_i)
        assert early and early == sorted(k for k in key_b if k[1] <= cut_i)
        ia = np.array([key_a[k] for k in early])
        ib = np.array([key_b[k] for k in early])
        np.testing.assert_array_equal(a.windows(ia, scaled=False), b.windows(ib, scaled=False))
        done = np.array([k[1] + SPEC.horizon < cut_i for k in early])
        np.testing.assert_array_equal(a.labels[ia[done]], b.labels[ib[done]])
        late = sorted(k for k in key_a if k[1] > cut_i + 60 and k in key_b)
        la = np.array([key_a[k] for k in late])
        lb_ = np.array([key_b[k] for k in late])
        assert not np.array_equal(a.windows(la, scaled=False), b.windows(lb_, scaled=False))


def test_scaler_fitted_on_training_days_only(hand_cache: Path, tmp_path: Path) -> None:
    with Cache(hand_cache, read_only=True) as cache:
        a = build(cache, SPEC, workdir=tmp_path)
        panel, _, _, feats, sessions = reference(cache, SPEC, a.symbols)
    # independent scaler: training-day rows after each symbol's warm-up, per feature
    sess_date = (panel.segments["day"] - dt.date(1970, 1, 1).toordinal()).astype("datetime64[D]")
    in_train = (sess_date >= sessions[0]) & (sess_date < a.val_start)
    rows = []
    for i in range(len(a.symbols)):
        fin = np.isfinite(feats[i])
        first = np.where(fin.any(axis=0), fin.argmax(axis=0), len(fin)).max()
        keep = in_train & (np.arange(len(in_train)) >= first)
        rows.append(feats[i][keep].astype(np.float64))
    allrows = np.concatenate(rows)
    np.testing.assert_allclose(a.mean, np.nanmean(allrows, axis=0), rtol=1e-9, atol=1e-12)
    # changing only the held-out days leaves the scaler and the training windows as they were
    held = calendar.previous_sessions(END, 2)
    table, _ = hand_bars(["ONE", "HUN", "BIG"], held, seed=123)
    with Cache(hand_cache) as cache:
        cache.write_bars(table)
    with Cache(hand_cache, read_only=True) as cache:
        b = build(cache, SPEC, workdir=tmp_path)
    with a, b:
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.std, b.std)
        np.testing.assert_array_equal(a.windows(a.train_idx[:50]), b.windows(b.train_idx[:50]))
        assert not np.array_equal(a.windows(a.val_idx[-50:]), b.windows(b.val_idx[-50:]))


def test_empty_and_unknown(tmp_path: Path) -> None:
    with Cache(tmp_path / "empty.duckdb") as cache, pytest.raises(ModelError, match="is empty"):
        build(cache, SPEC)


def test_infinite_feature_is_named(hand_cache: Path) -> None:
    def planted(panel, close):
        from models.dataset import Synthetic

        v = np.zeros(panel.close.shape)
        v[1, 5 * 390 + 100] = np.inf
        return [Synthetic("bad_feature", v)]

    with Cache(hand_cache, read_only=True) as cache, pytest.raises(ModelError) as err:
        build(cache, SPEC, store=False, synthetic=planted)
    msg = str(err.value)
    assert "bad_feature" in msg and "HUN" in msg and "UTC" in msg
