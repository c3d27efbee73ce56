"""A model made active is primed from the kept rows, and picks as the recompute path does.

``FeatureTape`` keeps the engine's own rows of the warm-up's last minutes and of
every minute stepped since; ``LiveSelector.prime_kept`` primes a window from
them (only the few lookback-scaled outputs are computed, in batch). Its picks
must equal those of ``LiveSelector.prime``, which recomputes the whole registry
over each symbol's history: same outputs, same readings, same weights to
float32 tolerance, on a seeded panel ($1 to $4,000, missing minutes, an
illiquid symbol) and on the real SPY minutes of March 2011 (skipped when absent).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from _mdata import save_untrained
from _panels import make_panel, spy_panel

from engine.incremental import IncrementalEngine
from engine.registry import output_names
from engine.snapshot import Snapshot
from models.dataset import DataSpec
from models.live import LiveSelector
from models.selector import Selector
from models.tape import MINUTES, FeatureTape
from storage.types import Panel
from tui.runtime.warmup import WarmUp

LIVE = 25  # minutes stepped after the warm-up, before the model is made active
AFTER = 6  # minutes stepped by both selectors after priming
NAMES = tuple(output_names())


def _seeded() -> Panel:
    p = make_panel(s=4, start=dt.date(2024, 2, 26), end=dt.date(2024, 3, 5), seed=11,
                   levels=(1.0, 40.0, 400.0, 4000.0))
    drop = np.random.default_rng(3).random(len(p.ts)) < 0.6  # the $4,000 one is illiquid
    p.valid[3, drop] = False
    for a in (p.open, p.high, p.low, p.close):
        a[3, drop] = np.nan
    p.volume[3, drop] = 0.0
    return p


@lru_cache(maxsize=2)
def _stepped(kind: str) -> tuple[Panel, FeatureTape, list[Snapshot]]:
    """The console's path: the warm-up (its last minutes onto a tape), then ``LIVE``
    minutes; the ``AFTER`` minutes that follow are returned, not yet kept."""
    panel = _seeded() if kind == "seeded" else spy_panel("regular")
    if panel is None:
        pytest.skip("SPY 2011 minute bars not present (../shared/data/spy-2011)")
    t = len(panel.ts)
    cut = t - LIVE - AFTER
    eng = IncrementalEngine(panel.symbols, NAMES)
    tape = FeatureTape()
    WarmUp(Path("unsaved"), keep_warm=False, tail=tape.length).warm(
        eng, panel.slice_time(0, cut), record=tape.push)
    for i in range(cut, t - AFTER):
        tape.push(eng.step(panel.batch(i)))
    return panel, tape, [eng.step(panel.batch(i)) for i in range(t - AFTER, t)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Selector]:
    root = tmp_path_factory.mktemp("tape")
    return {lb: Selector.load(save_untrained(root, f"lb{lb}", lookback=lb, patch=10))
            for lb in (20, 120)}


def _same_picks(a: LiveSelector, b: LiveSelector) -> None:
    pa, pb = a.select(), b.select()
    for s in a.symbols:
        assert pa[s].ready and pb[s].ready
        assert pa[s].names == pb[s].names, s
        assert pa[s].directions == pb[s].directions, s
        np.testing.assert_allclose(pa[s].weights, pb[s].weights, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["seeded", "spy"])
@pytest.mark.parametrize("lookback", [20, 120])
def test_kept_rows_pick_as_the_recompute_path(kind: str, lookback: int,
                                              models: dict[int, Selector]) -> None:
    panel, tape, after = _stepped(kind)
    now = len(panel.ts) - AFTER
    kept = LiveSelector(models[lookback], panel.symbols, NAMES)
    assert kept.prime_kept(tape, panel.symbols, panel.slice_time(0, now)) == []
    recomputed = LiveSelector(models[lookback], panel.symbols, NAMES)
    recomputed.prime(panel.slice_time(0, now))
    assert kept.last_ts == recomputed.last_ts
    _same_picks(kept, recomputed)
    for snap in after:  # and minute by minute afterwards
        kept.update(snap)
        recomputed.update(snap)
        _same_picks(kept, recomputed)


def test_uncovered_symbols_are_handed_back(models: dict[int, Selector]) -> None:
    """A symbol the tape lacks, or a model looking back further than it keeps, is
    returned for the recompute path; nothing is primed from a partial window."""
    panel, tape, _ = _stepped("seeded")
    now = panel.slice_time(0, len(panel.ts) - AFTER)
    live = LiveSelector(models[20], panel.symbols, NAMES)
    short = FeatureTape(10)
    for snap in _snapshots(tape, 10):
        short.push(snap)
    assert live.prime_kept(short, panel.symbols, now) == list(panel.symbols)
    assert live.minutes == 0
    assert live.prime_kept(tape, ["S9", panel.symbols[1]], now) == ["S9"]
    assert live.seen(panel.symbols[1]) == live.needed


def _snapshots(tape: FeatureTape, n: int) -> list[Snapshot]:
    """The tape's newest ``n`` minutes as Snapshots (to fill another tape)."""
    cols = np.arange(len(tape.names))
    vals, close, ts = tape.window(tape.symbols, cols, n)
    s = len(tape.symbols)
    return [Snapshot(ts=ts[m], symbols=tape.symbols, names=tape.names, values=vals[:, m],
                     last=close[:, m], volume=np.ones(s, np.float32), valid=np.ones(s, bool),
                     regime=np.zeros(s, np.int8)) for m in range(n)]


def _snap(ts: str, symbols: tuple[str, ...], value: float) -> Snapshot:
    s = len(symbols)
    return Snapshot(ts=np.datetime64(ts, "m"), symbols=symbols, names=("a", "b"),
                    values=np.full((s, 2), value, np.float32), last=np.full(s, value, np.float32),
                    volume=np.ones(s, np.float32), valid=np.ones(s, bool),
                    regime=np.zeros(s, np.int8))


def test_the_tape_follows_the_clock() -> None:
    """Revisions replace, a clock gone back drops the minutes after it, a joining
    symbol starts with nothing kept, the ring keeps only ``length`` minutes."""
    tape = FeatureTape(4)
    ab, abc = ("A", "B"), ("A", "B", "C")
    for m in range(6):
        tape.push(_snap(f"2025-11-21T14:3{m}", ab, m))
    tape.push(_snap("2025-11-21T14:35", ab, 50))  # a forming minute revised
    cols = np.arange(2)
    vals, _, ts = tape.window(ab, cols, 4)
    assert vals[0, :, 0].tolist() == [2, 3, 4, 50] and str(ts[-1]) == "2025-11-21T14:35"
    with pytest.raises(ValueError):
        tape.window(ab, cols, 5)
    tape.push(_snap("2025-11-21T14:33", ab, 7))  # back to 14:33: 14:33..14:35 dropped
    assert tape.cover(ab).tolist() == [2, 2]
    assert tape.window(ab, cols, 2)[0][1, :, 1].tolist() == [2, 7]
    tape.push(_snap("2025-11-21T14:34", abc, 8))  # C joins
    assert tape.cover(abc).tolist() == [3, 3, 1] and tape.cover(["Z"]).tolist() == [0]
    assert tape.window(abc, cols, 1)[0][:, 0, 0].tolist() == [8, 8, 8]
    tape.push(_snap("2025-11-21T14:35", ("X", "Y"), 9))  # another universe
    assert tape.cover(abc).tolist() == [0, 0, 0] and tape.cover(("X", "Y")).tolist() == [1, 1]


def test_the_tape_keeps_a_default_models_lookback() -> None:
    assert DataSpec.lookback == MINUTES
