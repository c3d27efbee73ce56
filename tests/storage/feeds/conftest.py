"""Fixtures for the IB feed tests: a gateway simulator on an ephemeral port, a cache, a feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ibsim import GatewaySim, SimBars
from storage.cache import Cache
from storage.feeds.base import FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.ib_config import IBConfig
from storage.types import BarBatch

SYMBOLS = ["AAPL", "MSFT", "NVDA"]
APIS = ["ib_async", "ib_insync"]
#: The waits below are event-driven; their timeout only guards against a hang, so it is
#: generous: a backfill that takes a second on a quiet machine takes several under load.
GUARD_S = 30.0


@pytest.fixture(params=APIS)
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.duckdb")
    yield c
    c.close()


@pytest.fixture(scope="session")
def demo_bars() -> SimBars:
    """Three sessions of demo bars for five symbols, built once (``fork()`` per test)."""
    return SimBars.from_demo([*SYMBOLS, "AMD", "TSLA"], days=3)


@pytest.fixture
async def sim(demo_bars: SimBars) -> AsyncIterator[GatewaySim]:
    async with GatewaySim(demo_bars.fork()) as s:
        yield s


def config_for(sim: GatewaySim, **kw: object) -> IBConfig:
    base: dict[str, object] = {
        "port": sim.port, "backfill_days": 1, "reconnect_initial_s": 0.01,
        "reconnect_max_s": 0.05, "connect_timeout_s": 5.0,
        "close_grace_s": 60.0,  # minutes close on data in tests, never on the wall clock
    }
    base.update(kw)
    return IBConfig.from_dict(base)


@pytest.fixture
async def make_feed(
    sim: GatewaySim, cache: Cache, api: str
) -> AsyncIterator[Callable[..., IBFeed]]:
    feeds: list[IBFeed] = []

    def make(symbols: list[str] | None = None, **kw: object) -> IBFeed:
        feed_kw = {k: kw.pop(k) for k in ("pacer", "clock", "sleep", "emit_forming") if k in kw}
        f = IBFeed(config_for(sim, **kw), symbols or SYMBOLS, cache, api=api, **feed_kw)
        feeds.append(f)
        return f

    yield make
    for f in feeds:
        if f.state != FeedState.DONE:
            await f.stop()


async def _wait_state(feed: IBFeed, state: FeedState, timeout: float = GUARD_S) -> None:
    """Wait (event-driven) until ``feed.state`` is ``state``; the timeout is only a guard."""
    if feed.state == state:
        return
    ev = asyncio.Event()
    feed.on_state(lambda s: ev.set() if s == state else None)
    await asyncio.wait_for(ev.wait(), timeout)


async def _next_batch(it: AsyncIterator[BarBatch], timeout: float = GUARD_S) -> BarBatch:
    return await asyncio.wait_for(it.__anext__(), timeout)


@pytest.fixture
def wait_state() -> Callable[..., Awaitable[None]]:
    return _wait_state


@pytest.fixture
def next_batch() -> Callable[..., Awaitable[BarBatch]]:
    return _next_batch


async def _until(feed: IBFeed, pred: Callable[[], bool], timeout: float = GUARD_S) -> None:
    """Wait until ``pred()``, re-checked at each of the feed's events, state changes,
    answers and recovery steps; the timeout is only a guard."""
    await asyncio.wait_for(feed.wait_until(pred), timeout)


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    return _until


def rows_of(table: pa.Table) -> list[tuple[object, ...]]:
    t = table.sort_by([("symbol", "ascending"), ("ts", "ascending")])
    cols = [t.column(c).to_pylist()
            for c in ("symbol", "ts", "open", "high", "low", "close", "volume")]
    return list(zip(*cols, strict=True))


def sim_closed(sim: GatewaySim, symbols: list[str], days: int) -> pa.Table:
    """The simulator's closed bars of the last ``days`` sessions: what the cache must hold."""
    table = sim.bars.closed_table(symbols)
    day = table.column("ts").to_numpy().astype("datetime64[D]")
    keep = np.isin(day, np.unique(day)[-days:])
    return table.filter(pa.array(keep))


@pytest.fixture
def same_bars() -> Callable[[GatewaySim, Cache, list[str]], bool]:
    """``same_bars(sim, cache, symbols)``: the cache holds exactly the simulator's closed bars
    of today and the prior session (no hole, no forming minute, nothing extra)."""

    def check(sim: GatewaySim, cache: Cache, symbols: list[str], days: int = 2) -> bool:
        return rows_of(cache.read_bars(symbols)) == rows_of(sim_closed(sim, symbols, days))

    return check


@pytest.fixture
def cfg_for() -> Callable[..., IBConfig]:
    return config_for


@pytest.fixture
def closed_bars() -> Callable[..., pa.Table]:
    return sim_closed
