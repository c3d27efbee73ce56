"""Silent stalls, IB connectivity notices (1100/1101) and bar-date conventions."""

from __future__ import annotations

import datetime as dt

import numpy as np

from storage.feeds.base import FeedState
from storage.feeds.ib_client import IBClient, is_informational, utc_minute
from storage.feeds.minutes import MinuteAssembler
from storage.feeds.pacing import VirtualClock


async def test_silent_stall_is_detected_and_resubscribed(sim, make_feed, next_batch) -> None:
    clock = VirtualClock(100.0)
    feed = make_feed(clock=clock, stall_after_s=90.0)
    await feed.start()
    it = feed.batches()
    sim.stall("MSFT")  # MSFT's stream goes silent; the others keep going
    clock.t = 150.0
    sim.advance(2)
    first = await next_batch(it)  # the others are two minutes on: closes without MSFT
    assert list(first.valid) == [True, False, True]
    clock.t = 200.0
    assert await feed.check_stalls() == ["MSFT"]
    assert any("stalled" in e.message for e in feed.events)
    second = await next_batch(it)  # the re-subscription filled MSFT's missing minute
    assert second.ts == first.ts + np.timedelta64(1, "m") and second.valid.all()
    assert sim.subscriptions == ["AAPL", "MSFT", "NVDA"]

    sim.stall()  # everything silent: the feed as a whole is stalled
    clock.t = 400.0
    states: list[FeedState] = []
    feed.on_state(states.append)
    assert sorted(await feed.check_stalls()) == ["AAPL", "MSFT", "NVDA"]
    assert FeedState.STALLED in states


async def test_connectivity_lost_and_restored(sim, make_feed, next_batch, wait_state) -> None:
    feed = make_feed()
    await feed.start()
    it = feed.batches()
    sim.broadcast_error(1100, "Connectivity between IB and TWS has been lost.")
    await wait_state(feed, FeedState.DOWN)
    sim.stall()  # data lost while IB was away
    sim.advance()
    sim.broadcast_error(1101, "Connectivity restored - data lost.")
    await wait_state(feed, FeedState.LIVE)
    sim.advance()
    a, b = await next_batch(it), await next_batch(it)
    assert b.ts - a.ts == np.timedelta64(1, "m") and a.valid.all() and b.valid.all()


async def test_format_date_1_is_exchange_time(sim, api) -> None:
    """formatDate=1 stamps are exchange-local; they must land on the same UTC minutes."""
    client = IBClient(api)
    await client.connect("127.0.0.1", sim.port, 9, 5.0)
    try:
        c = await client.qualify("AAPL")
        local = await client.ib.reqHistoricalDataAsync(c, "", "600 S", "1 min", "TRADES", True, 1)
        utc = await client.history(c, "600 S", keep_up_to_date=False, use_rth=True)
    finally:
        client.disconnect()
    assert [utc_minute(b.date) for b in local] == [utc_minute(b.date) for b in utc]
    naive = dt.datetime(2025, 11, 21, 9, 30)  # an old gateway's zone-less exchange time
    assert utc_minute(naive) * 60 == int(dt.datetime(2025, 11, 21, 14, 30, tzinfo=dt.UTC)
                                         .timestamp())


def test_informational_codes() -> None:
    assert all(is_informational(c) for c in (2104, 2106, 2158, 2107, 2108))
    assert not any(is_informational(c) for c in (200, 354, 10168, 162, 1100, 2103))


def test_assembler_ignores_resent_closed_minutes() -> None:
    asm = MinuteAssembler(["A", "B"])
    asm.emitted_upto = 9
    asm.live = {"A", "B"}
    bar = (1.0, 2.0, 0.5, 1.5, 10.0)
    for s in ("A", "B"):
        asm.update(s, 10, bar)
    assert asm.update("A", 11, bar) == (10, bar)
    assert asm.complete() == []  # B has not moved on yet
    asm.update("B", 11, bar)
    assert asm.complete() == [10]
    asm.pop_batch(10)
    assert not asm.add_closed("A", 10, bar)  # a resend of an emitted minute
    assert asm.update("A", 10, bar) is None  # out of order: ignored
    assert asm.complete() == []


async def test_farm_status_floods_collapse_into_one_line(sim, make_feed, until) -> None:
    """Issue 31, item 4: 500 each of 2105 and 2103 are two notices (one per farm that
    broke), one line naming the farms and since when; the farm's OK ends it."""
    feed = make_feed()
    await feed.start()
    for _ in range(500):
        sim.broadcast_error(2105, "HMDS data farm connection is broken:ushmds")
        sim.broadcast_error(2103, "Market data farm connection is broken:usfarm")
    sim.broadcast_error(2104, "Market data farm connection is OK:usfarm")
    await until(feed, lambda: not any("usfarm" in k for k in feed.farms.broken))
    farm = [e for e in feed.events if e.kind == "farm"]
    assert [e.level for e in farm] == ["warning", "warning", "info"][: len(farm)]
    assert len(farm) == 3
    assert farm[1].message.startswith("IB farm broken: ushmds (historical data, IB 2105) since ")
    assert "usfarm (market data, IB 2103) since " in farm[1].message
    assert list(feed.farms.broken) == ["ushmds"]
    assert "ushmds" in feed.farms.summary() and "usfarm" not in feed.farms.summary()
    assert not [e for e in feed.events if e.kind != "farm" and e.level != "info"]
