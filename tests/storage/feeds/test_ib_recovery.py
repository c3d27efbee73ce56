"""Issue 19, defects 1-3: reconnects under IB's pacing, exact gap filling, live first.

The simulator and the feed's pacing queue share a ``ManualClock``: a pacing wait
lasts until the test advances it, so a test can kill the gateway *while* a
reconnect waits in the queue. Nothing sleeps; every wait is on a condition.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ibsim import GatewaySim, ManualClock, SimBars
from storage.feeds.base import FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.ib_config import IBConfig
from storage.feeds.pacing import HistoricalPacer, PacingRules

SYMS = ["AAPL", "MSFT", "NVDA"]


def config_for(sim: GatewaySim, **kw: object) -> IBConfig:
    base: dict[str, object] = {"port": sim.port, "backfill_days": 1,
                               "reconnect_initial_s": 0.01, "reconnect_max_s": 0.05,
                               "close_grace_s": 60.0}
    return IBConfig.from_dict({**base, **kw})


def _paced(rules: PacingRules, bars: SimBars) -> tuple[GatewaySim, ManualClock]:
    mc = ManualClock(1000.0)
    return GatewaySim(bars.fork(), clock=mc, pacing=rules), mc


def _feed(sim: GatewaySim, mc: ManualClock, rules: PacingRules, cache, api, symbols,
          **kw: object) -> IBFeed:
    pacer = HistoricalPacer(rules, clock=mc, sleep=mc.sleep)
    return IBFeed(config_for(sim, **kw), symbols, cache, api=api, pacer=pacer)


async def test_drop_while_reconnect_waits_on_pacing(cache, api, until, same_bars,
                                                    demo_bars) -> None:
    """Defect 1 (stuck DOWN for good) and 2 (durations fixed before the wait: holes)."""
    rules = PacingRules(max_per_window=4)
    sim, mc = _paced(rules, demo_bars)
    async with sim:
        feed = _feed(sim, mc, rules, cache, api, SYMS)
        try:
            await feed.start()  # 3 of the 4 requests the window allows
            await sim.kill()
            await until(feed, lambda: feed.state is FeedState.DOWN
                        and feed.next_attempt_at is not None)
            assert any(e.kind == "retry" and e.until is not None for e in feed.events)
            sim.advance(2)
            await sim.restart()
            await mc.wait_sleeping()  # the reconnect: one request went, two wait on pacing
            assert feed.pacing is not None and len(feed.pacer.waiting()) == 2

            await sim.kill()  # the gateway drops again while the reconnect waits
            await until(feed, lambda: feed.state is FeedState.DOWN
                        and feed.next_attempt_at is not None)
            sim.advance(3)
            await sim.restart()
            await mc.wait_sleeping()  # reconnected; all three wait (the window is full)
            assert feed.state is FeedState.BACKFILLING  # not LIVE with nothing streaming
            sim.advance(10)  # the market goes on during the ten-minute wait
            mc.advance(601)
            await feed.settled()
            assert feed.state is FeedState.LIVE and feed.streaming == tuple(SYMS)
            await feed.flush()
            assert same_bars(sim, cache, SYMS)  # no hole: each request reached back when sent
            assert sim.pacing_violations == 0
        finally:
            await feed.stop()


async def test_live_first_and_pacing_shown(cache, api, until, next_batch, demo_bars) -> None:
    """Defect 3: subscribed symbols stream while others wait; the wait, reason and ETA shown."""
    syms = [*SYMS, "AMD", "TSLA"]
    rules = PacingRules(max_per_window=7)
    sim, mc = _paced(rules, demo_bars)
    async with sim:
        feed = _feed(sim, mc, rules, cache, api, syms)
        try:
            await feed.start()
            it = feed.batches()
            await sim.kill()
            await until(feed, lambda: feed.state is FeedState.DOWN)
            sim.advance(2)
            await sim.restart()
            await until(feed, lambda: feed.state is FeedState.LIVE)
            assert len(feed.streaming) == 2  # two requests left in the window
            waiting = set(feed.pacer.waiting())
            assert len(waiting) == 3 and not waiting & set(feed.streaming)
            ev = [e for e in feed.events if e.kind == "pacing" and e.level == "warning"][-1]
            assert ev.until is not None and set(ev.symbols) == waiting
            assert feed.pacing == ("7 requests per 600 s", ev.until)
            assert ev.message.count("pacing") == 1 and "(7 requests per 600 s)" in ev.message
            # Said as it is now: once the two stream, the notice says so (it said nothing
            # streamed while their answers were on the way).
            now = [e for e in feed.events if e.kind == "pacing"][-1]
            assert now.message.endswith("the subscribed ones keep streaming")
            assert now.until == ev.until

            # Minutes flow for the streaming symbols while the others wait.
            seen = [await next_batch(it) for _ in range(2)]  # the two missed while down
            sim.advance()
            seen.append(await next_batch(it))
            live = [syms.index(s) for s in feed.streaming]
            for b in seen:
                assert b.valid[live].all() and not b.valid[[syms.index(s) for s in waiting]].any()
            mc.advance(601)
            await feed.settled()
            assert feed.streaming == tuple(syms)
            late = {e.symbol for e in feed.events if e.kind == "late"}
            assert late == waiting  # the engine re-warms them from the cache
            assert all(feed.late[s] <= int(seen[0].ts.astype(np.int64)) for s in waiting)
            sim.advance()
            while not (b := await next_batch(it)).valid.all():
                pass
            assert any(e.kind == "pacing_done" for e in feed.events)
        finally:
            await feed.stop()


async def test_visible_symbols_backfill_first(cache, api, demo_bars) -> None:
    """Defect 3: ``prioritize`` puts the symbols on screen first in the pacing queue."""
    syms = [*SYMS, "AMD", "TSLA"]
    rules = PacingRules(max_per_window=2)
    sim, mc = _paced(rules, demo_bars)
    async with sim:
        feed = _feed(sim, mc, rules, cache, api, syms)
        feed.prioritize(["TSLA", "NVDA"])
        try:
            await feed.start()  # live first: returns with the two it could subscribe
            assert [e[1] for e in sim.history_log] == ["TSLA", "NVDA"]
            assert set(feed.streaming) == {"TSLA", "NVDA"}
            feed.prioritize(["MSFT"])  # the user scrolled: MSFT jumps the queue
            mc.advance(601)
            await feed.wait_until(lambda: len(sim.history_log) >= 4)
            assert [e[1] for e in sim.history_log][2:] == ["MSFT", "AAPL"]
        finally:
            await feed.stop()


async def test_start_fills_holes_left_earlier(sim, cache, make_feed, same_bars,
                                             closed_bars) -> None:
    """Defect 2: a later start reaches back to a hole an earlier run left, not only the end."""
    full = closed_bars(sim, SYMS, 2)
    ts = full.column("ts").to_numpy().astype("datetime64[m]")
    sym = np.asarray(full.column("symbol").to_pylist(), dtype=object)
    days = np.unique(ts.astype("datetime64[D]"))
    yesterday = (ts.astype("datetime64[D]") == days[0]) & (sym == "AAPL")
    hole = yesterday & (np.cumsum(yesterday) > 100) & (np.cumsum(yesterday) <= 160)
    today = np.flatnonzero(sym == "MSFT")[-10:-4]  # six minutes this morning
    keep = ~hole
    keep[today] = False
    cache.write_bars(full.filter(pa.array(keep)), source="test")
    feed = make_feed()
    await feed.start()
    await feed.settled()
    await feed.flush()
    assert same_bars(sim, cache, SYMS)


async def test_recovery_repairs_holes_since_the_outage(sim, cache, make_feed, until,
                                                       same_bars) -> None:
    """After a recovery every symbol is checked for holes since the outage and repaired."""
    feed = make_feed()
    await feed.start()
    sim.drop()
    await until(feed, lambda: feed.state is FeedState.DOWN)
    sim.advance(12)
    sim.lose_bars("MSFT", 8)  # the gap answer comes back short: a hole the feed must find
    await until(feed, lambda: any(e.kind == "repair" for e in feed.events))
    await feed.settled()
    await feed.flush()
    repair = [e for e in feed.events if e.kind == "repair"]
    assert repair[0].symbols == ("MSFT",)
    assert same_bars(sim, cache, SYMS)


async def test_added_symbol_requests_only_its_gap(sim, cache, make_feed, closed_bars,
                                                  same_bars) -> None:
    """A symbol added by a list switch reaches back to its cached bars, not the full window."""
    cache.write_bars(closed_bars(sim, ["TSLA"], 2), source="test")
    sim.advance(3)
    feed = make_feed(["AAPL"])
    await feed.start()
    await feed.set_symbols(["AAPL", "TSLA"])
    await feed.settled()
    durations = {e[1]: e[2][15] for e in sim.history_log}
    assert durations["AAPL"] == "2 D" and durations["TSLA"].endswith(" S")
    await feed.flush()
    assert same_bars(sim, cache, ["AAPL", "TSLA"])


async def test_first_start_beyond_sixty_symbols_streams_at_once(cache, api, cfg_for,
                                                               next_batch) -> None:
    """Defect 3 as reported: 62 symbols at the first start; 60 stream at once, two wait
    ten minutes for IB's window (shown), nothing waits for them."""
    syms = [f"S{i:02d}" for i in range(62)]
    rules = PacingRules()  # IB's own: 60 per ten minutes
    mc = ManualClock(1000.0)
    async with GatewaySim(SimBars.from_demo(syms, days=1), clock=mc, pacing=rules) as sim:
        pacer = HistoricalPacer(rules, clock=mc, sleep=mc.sleep)
        feed = IBFeed(cfg_for(sim, backfill_days=0), syms, cache, api=api, pacer=pacer)
        feed.client.ib.client.MaxRequests = 0  # the library's 45 msg/s throttle: not the subject
        try:
            await feed.start()
            assert feed.state is FeedState.LIVE and len(feed.streaming) == 60
            assert sorted(feed.pacer.waiting()) == ["S60", "S61"]
            wait = [e for e in feed.events if e.kind == "pacing"][-1]
            assert "(60 requests per 600 s)" in wait.message
            assert wait.message.endswith("the subscribed ones keep streaming")
            it = feed.batches()
            sim.advance()
            assert (await next_batch(it)).valid.sum() == 60
            mc.advance(601)
            await feed.settled()
            assert len(feed.streaming) == 62 and sim.pacing_violations == 0
        finally:
            await feed.stop()
