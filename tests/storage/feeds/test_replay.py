"""ReplayFeed: history/replay split, exact batches, deterministic pacing, control."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from storage import demo
from storage.cache import Cache
from storage.errors import CacheError
from storage.feeds.base import FeedState
from storage.feeds.replay import ReplayFeed, auto_warm_sessions, parse_speed

SYMS = ("SPY", "AAPL", "MSFT")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Cache:
    c = Cache(tmp_path_factory.mktemp("replay") / "c.duckdb")
    demo.seed_cache(c, SYMS, 3)
    return c


class FakeTime:
    """A clock that only moves when the feed sleeps: no real waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def take(feed: ReplayFeed, n: int) -> list:
    async def go() -> list:
        out = []
        async for b in feed.batches():
            out.append(b)
            if len(out) == n:
                break
        return out

    return asyncio.run(go())


def test_history_and_replay_split(cache: Cache) -> None:
    feed = ReplayFeed(cache, SYMS, warm_sessions=2, speed=None)
    hist = feed.load()
    assert len(hist.ts) == 2 * 390
    assert feed.replay_ts[0] == np.datetime64("2025-11-21T14:30")
    assert feed.remaining == 390
    ref = cache.load_panel(SYMS, "2025-11-21", "2025-11-21")
    b = feed.next_batch()
    assert b.close.dtype == np.float32  # the engine's dtype, half the panel's memory
    np.testing.assert_array_equal(b.close, ref.close[:, 0].astype(np.float32))
    assert b.ts == ref.ts[0] and b.segments == {k: int(v[0]) for k, v in ref.segments.items()}


def test_runs_to_the_end_then_done(cache: Cache) -> None:
    feed = ReplayFeed(cache, SYMS, warm_sessions=0, speed=None, limit=5)
    feed.load()
    events = []
    feed.on_event(events.append)
    got = [feed.next_batch() for _ in range(6)]
    assert [g is None for g in got] == [False] * 5 + [True]
    assert feed.state is FeedState.DONE and events[-1].message == "replay finished"


def test_pacing_at_60x_and_speed_change(cache: Cache) -> None:
    t = FakeTime()
    feed = ReplayFeed(cache, SYMS, warm_sessions=0, speed=60.0, clock=t.clock, sleep=t.sleep)
    feed.load()
    start = t.now
    batches = take(feed, 3)
    assert len(batches) == 3
    assert t.now - start == pytest.approx(2.0)  # first minute at once, then 1 s each at 60×
    assert max(t.slept) <= 0.25  # short naps so a key press applies at once
    feed.speed = None
    before = t.now
    assert len(take(feed, 10)) == 10
    assert t.now == before  # max speed never waits


def test_pause_and_resume(cache: Cache) -> None:
    feed = ReplayFeed(cache, SYMS, warm_sessions=0, speed=None)
    feed.load()

    async def go() -> list:
        got = []
        it = feed.batches().__aiter__()
        got.append(await it.__anext__())
        feed.pause()
        nxt = asyncio.ensure_future(it.__anext__())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not nxt.done() and feed.state is FeedState.PAUSED
        feed.resume()
        got.append(await nxt)
        return got

    got = asyncio.run(go())
    assert got[1].ts - got[0].ts == np.timedelta64(1, "m")


def test_resume_at_and_set_symbols(cache: Cache) -> None:
    at = np.datetime64("2025-11-21T15:00")
    feed = ReplayFeed(cache, SYMS, warm_sessions=1, speed=None, resume_at=at)
    hist = feed.load()
    assert hist.ts[-1] == at - np.timedelta64(1, "m")
    assert feed.next_batch().ts == at
    asyncio.run(feed.set_symbols(["AAPL"]))
    b = feed.next_batch()
    assert b.symbols == ("AAPL",) and b.ts == at + np.timedelta64(1, "m")


def test_empty_cache_is_a_cache_error(tmp_path: Path) -> None:
    with Cache(tmp_path / "e.duckdb") as c, pytest.raises(CacheError, match="no bars"):
        ReplayFeed(c, SYMS).load()


def test_auto_warm_and_speed_parsing() -> None:
    assert auto_warm_sessions(np.datetime64("2025-11-21")) == 4  # Mon-Thu of that week
    assert auto_warm_sessions(np.datetime64("2025-11-17")) == 1  # a Monday: at least one
    assert parse_speed("10x") == 10.0 and parse_speed("max") is None
    with pytest.raises(ValueError):
        parse_speed("0")
    assert dt.date(2025, 11, 21) == demo.DEFAULT_END
