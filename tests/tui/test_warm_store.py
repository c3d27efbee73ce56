"""Saved warm states: a second launch loads the engine instead of warming it.

The saved state must be the warmed state exactly (the engine stepped on from
it equals the one that warmed, bit for bit), any change to a bar must miss the
key, a broken file must be ignored, and the controller's second start on the
same cache must not warm at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from engine.incremental import IncrementalEngine
from storage import demo
from storage.cache import Cache
from storage.calendar import previous_sessions
from tests.tui.conftest import SYMBOLS, make_controller
from tui.runtime.warm_store import WarmStore, warm_key

NAMES = ("ema_21", "rsi_14", "avwap_session", "avwap_week_up1", "avwap_hh", "obv", "rvol",
         "change_pct", "kama_10")


def _panel(db: Path):  # type: ignore[no-untyped-def]
    days = previous_sessions(demo.DEFAULT_END, 3)
    with Cache(db, read_only=True) as cache:
        return cache.load_panel(SYMBOLS, days[0].astype(object), days[-1].astype(object),
                                "regular", np.float32)


def test_a_saved_state_steps_on_exactly_like_the_warmed_one(demo_db: Path, tmp_path) -> None:
    panel = _panel(demo_db)
    day = panel.segments["day"]
    cut = int(np.searchsorted(day, day[-1]))  # warm on two sessions, step the third
    prior = panel.slice_time(0, cut)
    warmed = IncrementalEngine(SYMBOLS, NAMES)
    snap = warmed.warm(prior, step_sessions=1)
    store = WarmStore(tmp_path / "warm")
    key = warm_key(prior, warmed.names, 1)
    assert store.save(key, warmed, snap)
    loaded = IncrementalEngine(SYMBOLS, NAMES)
    again = store.load(key, loaded)
    assert set(loaded.state) == set(warmed.state)
    assert again is not None and again.ts == snap.ts
    np.testing.assert_array_equal(again.values, snap.values)
    for t in range(cut, cut + 60):
        a, b = warmed.step(panel.batch(t)), loaded.step(panel.batch(t))
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.last, b.last)

    # One bar one tick off: another key. Other indicators: not loaded.
    changed = prior.slice_time(0, len(prior.ts))
    close = changed.close.copy()
    close[2, 100] += np.float32(0.0001)
    object.__setattr__(changed, "close", close)
    assert warm_key(changed, warmed.names, 1) != key
    assert warm_key(prior, warmed.names, 2) != key
    assert store.load(key, IncrementalEngine(SYMBOLS, ("ema_21",))) is None
    # A broken file is ignored and removed; the next warm-up saves a good one.
    (tmp_path / "warm" / f"{key}.npz").write_bytes(b"not a zip")
    assert store.load(key, IncrementalEngine(SYMBOLS, NAMES)) is None
    assert not (tmp_path / "warm" / f"{key}.npz").exists()


def test_the_second_start_on_a_cache_does_not_warm(demo_db: Path, tmp_path, monkeypatch
                                                   ) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    warms: list[int] = []
    real = IncrementalEngine.warm_chunks  # what every warm-up of the console runs

    def counting(self, panel, *a, **kw):  # type: ignore[no-untyped-def]
        warms.append(len(panel.ts))
        return real(self, panel, *a, **kw)

    monkeypatch.setattr(IncrementalEngine, "warm_chunks", counting)
    frames = []
    for _ in range(2):
        ctl = make_controller(db, None, warm=2)  # every registry output
        tl, present, missing = ctl.resolve_list("curated")
        ctl.prepare(tl, present, missing)
        frames.append(ctl.step_next())
        ctl.cache.close()
    assert len(warms) == 1  # the first start warmed, the second loaded
    assert list(db.parent.glob("copy.duckdb.warm/*.npz"))
    np.testing.assert_array_equal(frames[0].snapshot.values, frames[1].snapshot.values)
