"""A replayed session's checkpoint shares the engine's immutable history instead of copying it.

The console keeps one engine checkpoint per replayed session (``Group.starts``)
so a replay can go back to a session's start. The relative-volume history
(finished days' volume by minute, ``[S, SLOTS]`` per day) never changes once a
day is over, so a checkpoint holds the very same arrays as the engine (and as
the other checkpoints); only today's row is its own. Restoring a checkpoint
still gives exactly the values of the first pass.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np

from engine.incremental import IncrementalEngine
from tui.runtime.universe import Group

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from _panels import make_panel

NAMES = ["rvol", "day_volume", "avwap_session", "ema_9"]


def _group() -> tuple[Group, int]:
    """A group warmed on 7 sessions and the index of the 8th session's first minute."""
    p = make_panel(s=3, start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 14), seed=4,
                   levels=(5.0, 50.0, 500.0))
    day = p.segments["day"]
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    cut = int(starts[7])
    eng = IncrementalEngine(p.symbols, NAMES)
    eng.warm(p.slice_time(0, cut), step_sessions=1)
    return Group(p.symbols, eng, p), cut


def _days(hs: dict[str, object]) -> tuple[np.ndarray, ...]:
    days = hs["days"]
    assert isinstance(days, tuple) and days
    return days


def test_session_checkpoints_share_the_finished_days() -> None:
    g, cut = _group()
    day = g.panel.segments["day"]
    second = cut + int(np.argmax(day[cut:] != day[cut]))  # the next session's first minute
    for t in range(cut, second + 1):  # the rest of one session and the next's first minute
        g.step(g.panel.batch(t))
    assert len(g.starts) == 2
    first_cp, second_cp = (g.starts[k] for k in sorted(g.starts))
    host_now = g.engine._hosts[0][1]
    a, b, now = _days(first_cp.hosts[0]), _days(second_cp.hosts[0]), _days(host_now)
    # the days both checkpoints hold are the same arrays as the engine's, not copies
    assert len(b) == len(a) + 1
    assert {id(x) for x in a} <= {id(x) for x in b} <= {id(x) for x in now}
    assert all(not x.flags.writeable for x in now)
    # today's row is each checkpoint's own
    assert not np.shares_memory(second_cp.hosts[0]["today"], host_now["today"])
    # the MLX state is kept by reference (its arrays are immutable): nothing copied
    cp = g.engine.checkpoint()
    assert all(cp.state[k][n] is v for k, d in g.engine.state.items() for n, v in d.items())


def test_a_restored_checkpoint_replays_the_same_values() -> None:
    g, cut = _group()
    first = [g.step(g.panel.batch(t)).values for t in range(cut, cut + 400)]
    sess = min(g.starts)
    g.rewind(sess)
    again = [g.step(g.panel.batch(t)).values for t in range(cut, cut + 400)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
