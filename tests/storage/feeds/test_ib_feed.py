"""The IB feed with the real client library (ib_async and ib_insync) against the simulator."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ibsim import GatewaySim
from storage.cache import Cache
from storage.errors import ConfigError
from storage.feeds.base import FeedState
from storage.feeds.ib_config import IBConfig

SYMBOLS = ["AAPL", "MSFT", "NVDA"]


def _rows(table: pa.Table) -> list[tuple]:
    t = table.sort_by([("symbol", "ascending"), ("ts", "ascending")])
    cols = [t.column(c).to_pylist() for c in ("symbol", "ts", "open", "high", "low", "close",
                                               "volume")]
    return list(zip(*cols, strict=True))


def expected(sim: GatewaySim, symbols: list[str], days: int) -> list[tuple]:
    """The simulator's closed bars of the last ``days`` sessions: what the cache must hold."""
    table = sim.bars.closed_table(symbols)
    day = table.column("ts").to_numpy().astype("datetime64[D]")
    keep = np.isin(day, np.unique(day)[-days:])
    return _rows(table.filter(pa.array(keep)))


def cached(cache: Cache, symbols: list[str]) -> list[tuple]:
    return _rows(cache.read_bars(symbols))


async def test_backfill_then_live_minutes(sim, cache, make_feed, next_batch, api) -> None:
    feed = make_feed()
    await feed.start()
    assert feed.state == FeedState.LIVE
    assert all(feed.status[s] == "live" for s in SYMBOLS)
    await feed.flush()
    assert cached(cache, SYMBOLS) == expected(sim, SYMBOLS, 2)  # today + 1 prior session
    assert feed.warm_end == np.datetime64(sim.bars.now, "s").astype("datetime64[m]")

    it = feed.batches()
    for _ in range(3):
        closing = sim.bars.now
        sim.advance()
        batch = await next_batch(it)
        assert batch.final and batch.symbols == tuple(SYMBOLS)
        assert batch.ts == np.datetime64(closing, "s").astype("datetime64[m]")
        for i, s in enumerate(SYMBOLS):
            bar = sim.bars.final_at(s, closing)
            assert batch.valid[i]
            assert (batch.open[i], batch.high[i], batch.low[i], batch.close[i],
                    batch.volume[i]) == (bar.open, bar.high, bar.low, bar.close, bar.volume)
        assert batch.minute_of_session >= 0 and batch.segments["session"] > 0
    await feed.flush()
    assert cached(cache, SYMBOLS) == expected(sim, SYMBOLS, 2)
    assert cache.check_unique() == 0
    assert sim.order_messages == 0  # read-only: not one order message
    assert not any(e.level == "error" for e in feed.events)


async def test_forming_bar_revises_not_duplicates(sim, cache, make_feed, next_batch) -> None:
    feed = make_feed(emit_forming=True)
    await feed.start()
    it = feed.batches()
    forming = sim.bars.now
    sim.tick()
    first = await next_batch(it)
    sim.tick()
    second = await next_batch(it)
    assert not first.final and not second.final
    assert first.ts == second.ts == np.datetime64(forming, "s").astype("datetime64[m]")
    assert not np.array_equal(first.volume, second.volume)  # revised, not a second bar
    sim.advance()
    final = await next_batch(it)
    while not final.final:
        final = await next_batch(it)
    assert final.ts == first.ts
    bar = sim.bars.final_at("AAPL", forming)
    assert final.close[0] == bar.close and final.volume[0] == bar.volume
    await feed.flush()
    rows = cache.read_bars(["AAPL"], start=np.datetime64(forming, "s").astype(object))
    assert rows.num_rows == 1 and rows.column("volume")[0].as_py() == bar.volume


async def test_reconnect_fills_the_gap(sim, cache, make_feed, next_batch, wait_state) -> None:
    feed = make_feed()
    await feed.start()
    it = feed.batches()
    seen = []
    for _ in range(2):
        sim.advance()
        seen.append((await next_batch(it)).ts)
    sim.drop(busy_attempts=2)  # TWS restart; the old session lingers for two logins
    await wait_state(feed, FeedState.CONNECTING)
    for _ in range(3):
        sim.advance()  # minutes pass while the feed is down
    await wait_state(feed, FeedState.LIVE)
    sim.advance()
    while len(seen) < 6:
        seen.append((await next_batch(it)).ts)
    steps = np.diff(np.array(seen, "datetime64[m]")).astype(int)
    assert list(steps) == [1] * 5  # every minute once, in order, none missing
    await feed.flush()
    assert cached(cache, SYMBOLS) == expected(sim, SYMBOLS, 2)
    assert cache.check_unique() == 0
    assert any("in use" in e.message for e in feed.events)
    assert feed.client_id == 18  # two refusals: moved on to the next clientId


async def test_unknown_symbol_and_no_permission(sim, make_feed, next_batch) -> None:
    sim.deny("NVDA", 10168)
    feed = make_feed(["AAPL", "NOPE", "NVDA", "MSFT"])
    await feed.start()
    assert feed.status["NOPE"] == "unknown"
    assert feed.status["NVDA"] == "no permission"
    assert feed.status["AAPL"] == feed.status["MSFT"] == "live"
    errors = {e.symbol for e in feed.events if e.level == "error"}
    assert errors == {"NOPE", "NVDA"}
    it = feed.batches()
    sim.advance()
    batch = await next_batch(it)
    assert list(batch.valid) == [True, False, False, True]


async def test_informational_codes_are_not_errors(sim, make_feed) -> None:
    feed = make_feed()
    await feed.start()
    for code in (2104, 2106, 2158, 2107):
        sim.broadcast_error(code, "farm connection is OK")
    sim.advance()
    await feed.flush()
    assert not [e for e in feed.events if e.level in ("error", "warning")]


async def test_ticker_list_switch(sim, make_feed, next_batch) -> None:
    feed = make_feed(["AAPL", "MSFT"])
    await feed.start()
    assert sim.subscriptions == ["AAPL", "MSFT"]
    await feed.set_symbols(["MSFT", "TSLA"])
    assert feed.symbols == ("MSFT", "TSLA")
    await feed.flush()
    assert sim.subscriptions == ["MSFT", "TSLA"]
    assert sim.received[25] == 1  # AAPL's stream was cancelled
    it = feed.batches()
    sim.advance()
    batch = await next_batch(it)
    assert batch.symbols == ("MSFT", "TSLA") and batch.valid.all()


async def test_market_data_lines_respected(sim, make_feed) -> None:
    feed = make_feed(market_data_lines=2)
    await feed.start()
    assert sim.subscriptions == ["AAPL", "MSFT"]
    assert feed.status["NVDA"] == "not live"
    assert any("market-data lines" in e.message for e in feed.events)


def test_readonly_cannot_be_turned_off() -> None:
    assert IBConfig().readonly
    with pytest.raises(ConfigError):
        IBConfig.from_dict({"readonly": False})
    with pytest.raises(ConfigError):
        IBConfig.from_dict({"prot": 4001})
    with pytest.raises(ConfigError, match="request_timeout_s must be > 0"):
        IBConfig.from_dict({"request_timeout_s": 0})
