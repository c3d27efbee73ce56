"""Issue 31, item 2: symbols given up after repeated 162s come back on their own timer.

The simulator and the feed's pacing queue share a ``ManualClock``: the 162
backoffs (15 s, 30 s) and the given-up symbols' retry (``GAVE_UP_RETRY_S``)
last until the test moves the clock. Nothing sleeps.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pyarrow as pa

from ibsim import GatewaySim, ManualClock
from storage.feeds.base import FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.ib_recovery import GAVE_UP_RETRY_S
from storage.feeds.pacing import HistoricalPacer, PacingRules

SYMS = ["AAPL", "MSFT", "NVDA"]
GUARD_S = 30.0  # a hang guard only (the clock here is manual); generous for a loaded machine


def _paced(demo_bars, cfg_for, cache, api, symbols):
    rules = PacingRules()
    mc = ManualClock(1000.0)
    sim = GatewaySim(demo_bars.fork(), clock=mc, pacing=rules)
    pacer = HistoricalPacer(rules, clock=mc, sleep=mc.sleep)

    def feed() -> IBFeed:
        return IBFeed(cfg_for(sim), symbols, cache, api=api, pacer=pacer)

    return sim, mc, feed


async def _refused_three_times(mc: ManualClock, n: int) -> None:
    """Drive the two 162 backoffs (15 s, 30 s) of ``n`` symbols."""
    await mc.wait_sleeping(n=n)
    mc.advance(15)
    await mc.wait_sleeping(n=n)
    mc.advance(30)


async def test_every_symbol_refused_at_start(demo_bars, cfg_for, cache, api, until,
                                             same_bars) -> None:
    """All refused three times: not LIVE with nothing streaming; the notice says "gave up"
    and when the next attempt is; that attempt comes by itself and fills the gap."""
    sim, mc, make = _paced(demo_bars, cfg_for, cache, api, SYMS)
    async with sim:
        sim.refuse_pacing(9)
        feed = make()
        try:
            start = asyncio.ensure_future(feed.start())
            await _refused_three_times(mc, 3)
            await asyncio.wait_for(start, GUARD_S)  # returns: nothing to wait for but the timer
            assert feed.state is FeedState.BACKFILLING and feed.streaming == ()
            gave_up = [e for e in feed.events if e.kind == "gave_up"]
            assert len(gave_up) == 3 and all(e.until == feed.gave_up_retry_at for e in gave_up)
            assert "next attempt at" in gave_up[-1].message
            assert gave_up[-1].symbols == tuple(SYMS)
            assert feed.gave_up_retry_at is not None
            states: list[FeedState] = []
            feed.on_state(states.append)
            sim.advance(4)  # the market goes on; no fault happens
            await mc.wait_sleeping()  # the retry timer
            mc.advance(GAVE_UP_RETRY_S)
            await until(feed, lambda: feed.streaming == tuple(SYMS))
            await feed.settled()
            assert feed.state is FeedState.LIVE and states[0] is FeedState.LIVE
            assert feed.gave_up_retry_at is None
            assert [e.kind for e in feed.events][-3:].count("resumed") <= 1
            assert any(e.kind == "resumed" for e in feed.events)
            await feed.flush()
            assert same_bars(sim, cache, SYMS)
        finally:
            await feed.stop()


async def test_one_symbol_given_up_has_its_gap_repaired(demo_bars, cfg_for, cache, api,
                                                        until, closed_bars, same_bars) -> None:
    """TSLA is refused three times at start while its cached bars stop 22 minutes ago:
    its own retry (no other fault) re-reads the clock and leaves no hole, although its
    last closed minute never advanced while it was given up."""
    syms = [*SYMS, "TSLA"]
    sim, mc, make = _paced(demo_bars, cfg_for, cache, api, syms)
    async with sim:
        tsla = closed_bars(sim, ["TSLA"], 2)
        ts = tsla.column("ts").to_numpy().astype("datetime64[m]")
        cache.write_bars(tsla.filter(pa.array(ts < ts[-1] - np.timedelta64(21, "m"))),
                         source="test")
        sim.refuse_pacing(3, "TSLA")
        feed = make()
        try:
            start = asyncio.ensure_future(feed.start())
            await _refused_three_times(mc, 1)
            await asyncio.wait_for(start, GUARD_S)
            await until(feed, lambda: feed.status.get("TSLA") == "gave up")
            assert feed.state is FeedState.LIVE and "TSLA" not in feed.streaming
            sim.advance(3)
            await mc.wait_sleeping()
            mc.advance(GAVE_UP_RETRY_S)
            await until(feed, lambda: "TSLA" in feed.streaming)
            await feed.settled()
            await feed.flush()
            assert same_bars(sim, cache, syms)
        finally:
            await feed.stop()


async def test_pacing_wait_with_nothing_streaming_says_so(demo_bars, cfg_for, cache, api,
                                                          until) -> None:
    """Item 3: a reconnect whose every request waits on IB's window does not claim that
    subscribed symbols keep streaming; "pacing" is said once per notice."""
    rules = PacingRules(max_per_window=3)
    mc = ManualClock(1000.0)
    async with GatewaySim(demo_bars.fork(), clock=mc, pacing=rules) as sim:
        pacer = HistoricalPacer(rules, clock=mc, sleep=mc.sleep)
        feed = IBFeed(cfg_for(sim), SYMS, cache, api=api, pacer=pacer)
        try:
            await feed.start()
            await sim.kill()
            await until(feed, lambda: feed.state is FeedState.DOWN)
            await sim.restart()
            await mc.wait_sleeping()  # reconnected: all three wait for the window
            wait = [e for e in feed.events if e.kind == "pacing"][-1]
            assert feed.streaming == () and feed.state is FeedState.BACKFILLING
            assert wait.message.startswith("IB pacing: 3 symbol(s) wait until ")
            assert wait.message.endswith("nothing streams until then")
            assert wait.message.count("pacing") == 1 and wait.until == feed.pacing[1]
            mc.advance(601)
            await feed.settled()
            assert feed.streaming == tuple(SYMS)
            assert [e for e in feed.events if e.kind == "pacing_done"]
        finally:
            await feed.stop()
