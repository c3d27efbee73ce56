"""Fixtures for the IB feed tests: a gateway simulator on an ephemeral port, a cache, a feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from ibsim import GatewaySim, SimBars
from storage.cache import Cache
from storage.feeds.base import FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.ib_config import IBConfig
from storage.types import BarBatch

SYMBOLS = ["AAPL", "MSFT", "NVDA"]
APIS = ["ib_async", "ib_insync"]


@pytest.fixture(params=APIS)
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.duckdb")
    yield c
    c.close()


@pytest.fixture
async def sim() -> AsyncIterator[GatewaySim]:
    bars = SimBars.from_demo([*SYMBOLS, "AMD", "TSLA"], days=3)
    async with GatewaySim(bars) as s:
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


async def _wait_state(feed: IBFeed, state: FeedState, timeout: float = 10.0) -> None:
    """Wait (event-driven) until ``feed.state`` is ``state``; the timeout is only a guard."""
    if feed.state == state:
        return
    ev = asyncio.Event()
    feed.on_state(lambda s: ev.set() if s == state else None)
    await asyncio.wait_for(ev.wait(), timeout)


async def _next_batch(it: AsyncIterator[BarBatch], timeout: float = 10.0) -> BarBatch:
    return await asyncio.wait_for(it.__anext__(), timeout)


@pytest.fixture
def wait_state() -> Callable[..., Awaitable[None]]:
    return _wait_state


@pytest.fixture
def next_batch() -> Callable[..., Awaitable[BarBatch]]:
    return _next_batch
