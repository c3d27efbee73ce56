"""Issue 19, defects 4 and 5: a frozen gateway, a watchdog that outlives its errors,
and ``stop()`` that completes promptly in every state.

The feed's clock is a ``VirtualClock`` (a stream is stale when the test says so);
its pacing queue keeps the real clock, which the simulator's pacing rules use.
"""

from __future__ import annotations

import asyncio

from ibsim import GatewaySim, ManualClock, SimBars
from storage.feeds.base import FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.pacing import HistoricalPacer, PacingRules, VirtualClock

#: A guard that stop() awaits nothing unbounded: the waits it must not make are the 30 s
#: login and probe timeouts below; a loaded machine may take seconds for the rest.
STOP_S = 10.0
GUARD_S = 30.0  # a hang guard only, for the event-driven waits

SYMS = ["AAPL", "MSFT", "NVDA"]


async def test_frozen_gateway_is_recovered_as_a_reconnect(sim, cache, make_feed, until,
                                                          same_bars) -> None:
    """Defect 4: SIGSTOP, then SIGCONT: the probe times out, the watchdog survives it,
    reconnects, and keeps watching afterwards."""
    clock = VirtualClock(100.0)
    # Streams go stale on the virtual clock within a real second of their subscription;
    # a re-subscription may then be identical to it, which IB makes wait 15 s.
    sim.pacing = rules = PacingRules(identical_window_s=0.01)
    feed = make_feed(clock=clock, pacer=HistoricalPacer(rules), stall_after_s=30.0,
                     request_timeout_s=0.2, connect_timeout_s=0.3)
    await feed.start()
    sim.freeze()
    clock.t += 60.0
    feed.poke_watchdog()
    await until(feed, lambda: feed.state is FeedState.DOWN)
    assert any("does not answer" in e.message for e in feed.events)
    await until(feed, lambda: any(e.kind == "retry" for e in feed.events))  # logins time out
    sim.advance(2)
    sim.thaw()
    await until(feed, lambda: feed.state is FeedState.LIVE and len(feed.streaming) == 3)
    await feed.settled()

    # The same watchdog still runs: a stream that goes silent now is re-subscribed.
    n = len(feed.events)
    sim.stall("MSFT")
    await _others_move_on(feed, sim, clock)
    feed.poke_watchdog()
    await until(feed, lambda: any("streams stalled" in e.message for e in list(feed.events)[n:]))
    await feed.settled()
    await until(feed, lambda: "MSFT" in feed.streaming)
    await feed.flush()
    assert same_bars(sim, cache, SYMS)


async def test_watchdog_survives_its_own_errors(sim, make_feed, until) -> None:
    """An exception inside the stall check is reported and the loop goes on."""
    clock = VirtualClock(100.0)
    feed = make_feed(clock=clock, pacer=HistoricalPacer(), stall_after_s=30.0)
    await feed.start()
    calls = 0
    real = feed._market_open

    def broken() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("probe timed out")
        return real()

    feed._market_open = broken  # type: ignore[method-assign]
    feed.poke_watchdog()
    await until(feed, lambda: any(e.kind == "watchdog" for e in feed.events))
    sim.stall("NVDA")
    await _others_move_on(feed, sim, clock)
    feed.poke_watchdog()
    await until(feed, lambda: any("streams stalled" in e.message for e in feed.events))


async def _others_move_on(feed, sim, clock: VirtualClock) -> None:
    """60 s pass, then two minutes close: the silent stream is stale, the others are not."""
    clock.t += 60.0
    target = feed.next_minute + 1
    sim.advance(2)
    await asyncio.wait_for(feed.wait_until(lambda: feed.next_minute >= target), GUARD_S)


async def _stops_promptly(feed, start: asyncio.Task[None]) -> None:
    await asyncio.wait_for(feed.stop(), STOP_S)
    assert feed.state is FeedState.DONE
    await asyncio.wait_for(start, STOP_S)  # start() returns once the feed is stopped


async def test_stop_while_connecting_to_nothing(sim, make_feed, until) -> None:
    await sim.kill()  # nothing listens on the port
    feed = make_feed()
    start = asyncio.ensure_future(feed.start())
    await until(feed, lambda: feed.next_attempt_at is not None)
    assert feed.state is FeedState.DOWN
    await _stops_promptly(feed, start)


async def test_stop_while_login_hangs(sim, make_feed, until) -> None:
    sim.freeze()  # the port accepts, the gateway never answers the login
    feed = make_feed(connect_timeout_s=30.0)
    start = asyncio.ensure_future(feed.start())
    await until(feed, lambda: feed.state is FeedState.CONNECTING)
    await _stops_promptly(feed, start)
    sim.thaw()


async def test_stop_mid_backfill(cache, api, cfg_for, until) -> None:
    mc = ManualClock()
    rules = PacingRules(max_per_window=1)
    async with GatewaySim(SimBars.from_demo(SYMS, days=2), clock=mc, pacing=rules) as sim:
        pacer = HistoricalPacer(rules, clock=mc, sleep=mc.sleep)
        async with pacer.slot("other", "other"):  # the window is used up
            pass
        feed = IBFeed(cfg_for(sim), SYMS, cache, api=api, pacer=pacer)
        start = asyncio.ensure_future(feed.start())
        await mc.wait_sleeping()
        assert feed.state is FeedState.BACKFILLING
        await _stops_promptly(feed, start)


async def test_stop_while_down_and_while_stalled(sim, make_feed, until) -> None:
    feed = make_feed()
    await feed.start()
    await sim.kill()
    await until(feed, lambda: feed.state is FeedState.DOWN)
    await asyncio.wait_for(feed.stop(), STOP_S)
    assert feed.state is FeedState.DONE
    await sim.restart()

    clock = VirtualClock(100.0)
    feed = make_feed(clock=clock, pacer=HistoricalPacer(), stall_after_s=30.0,
                     request_timeout_s=30.0)
    await feed.start()
    sim.freeze()
    clock.t += 60.0
    feed.poke_watchdog()
    await until(feed, lambda: feed.state is FeedState.STALLED)  # the probe now hangs 30 s
    await asyncio.wait_for(feed.stop(), STOP_S)
    assert feed.state is FeedState.DONE
    sim.thaw()
