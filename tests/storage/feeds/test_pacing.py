"""The pacing queue on a virtual clock, and against the simulator's own pacing rules."""

from __future__ import annotations

import asyncio

from ibsim import GatewaySim, SimBars
from storage.feeds.ib import IBFeed
from storage.feeds.ib_client import IBClient
from storage.feeds.ib_config import IBConfig
from storage.feeds.pacing import HistoricalPacer, PacingRules, VirtualClock


async def _burst(pacer: HistoricalPacer, keys: list[tuple[str, str]]) -> list[float]:
    times: list[float] = []
    for contract, request in keys:
        async with pacer.slot(contract, request):
            times.append(pacer.clock())
    return times


async def test_sixty_per_ten_minutes() -> None:
    clock = VirtualClock()
    waits: list[str] = []
    pacer = HistoricalPacer(
        clock=clock, sleep=clock.sleep, on_wait=lambda s, why: waits.append(why)
    )
    times = await _burst(pacer, [(f"S{i}", f"r{i}") for i in range(130)])
    for i, t in enumerate(times):
        window = [u for u in times[: i + 1] if t - u < 600.0]
        assert len(window) <= 60
    assert times[59] == 0.0 and times[60] >= 600.0  # 60 go at once, the 61st waits
    assert times[-1] < 1300.0  # …but no longer than the rule requires
    assert waits and "60 requests" in waits[0]


async def test_same_contract_and_identical() -> None:
    clock = VirtualClock()
    pacer = HistoricalPacer(clock=clock, sleep=clock.sleep)
    times = await _burst(pacer, [("AAPL", f"r{i}") for i in range(12)])
    for i, t in enumerate(times):
        assert len([u for u in times[: i + 1] if t - u < 2.0]) <= 5
    clock.t = 100.0
    t_ident = await _burst(pacer, [("MSFT", "same"), ("MSFT", "same")])
    assert t_ident[1] - t_ident[0] >= 15.0


async def test_open_requests_limit() -> None:
    clock = VirtualClock()
    pacer = HistoricalPacer(PacingRules(max_open=3), clock=clock, sleep=clock.sleep)
    for i in range(3):
        await pacer.acquire(f"S{i}", i)
    fourth = asyncio.ensure_future(pacer.acquire("S3", 3))
    await asyncio.sleep(0)
    assert not fourth.done() and pacer.open == 3
    pacer.release()
    await asyncio.wait_for(fourth, 5)
    assert pacer.open == 3


async def test_burst_never_violates_ib_pacing(cache, api) -> None:
    """80 symbols backfilled at once: the simulator (same virtual clock) sees no violation."""
    symbols = [f"S{i:02d}" for i in range(80)]
    clock = VirtualClock(1000.0)
    bars = SimBars.from_demo(symbols, days=1)
    async with GatewaySim(bars, clock=clock) as sim:
        cfg = IBConfig.from_dict({"port": sim.port, "backfill_days": 0})
        pacer = HistoricalPacer(clock=clock, sleep=clock.sleep)
        feed = IBFeed(cfg, symbols, cache, api=api, pacer=pacer)
        # The virtual clock jumps the 10-minute wait at once; the library's wall-clock
        # message throttle would then release old requests "late" into the new window.
        feed.client.ib.client.MaxRequests = 0
        await feed.start()
        try:
            assert feed.streaming  # live first (the virtual wait may be over already)
            await asyncio.wait_for(feed.settled(), 30)
            assert sim.pacing_violations == 0
            assert all(feed.status[s] == "live" for s in symbols)
            waits = [e for e in feed.events if e.kind == "pacing"]
            assert waits and waits[0].until is not None and "60 requests" in waits[0].message
            assert clock.t - 1000.0 >= 600.0  # the 61st request waited out the window
        finally:
            await feed.stop()


async def test_simulator_flags_unpaced_burst(api) -> None:
    """The control: the same burst without the queue provokes error 162."""
    symbols = [f"S{i:02d}" for i in range(62)]
    clock = VirtualClock()
    async with GatewaySim(SimBars.from_demo(symbols, days=1), clock=clock) as sim:
        client = IBClient(api)
        codes: list[int] = []
        client.on_error(lambda req, code, msg, sym: codes.append(code))
        client.ib.client.MaxRequests = 0
        await client.connect("127.0.0.1", sim.port, 5, 5.0)
        try:
            for s in symbols:
                await client.history(client.stock(s), "60 S", keep_up_to_date=False, use_rth=True)
        finally:
            client.disconnect()
        assert sim.pacing_violations == 2 and codes.count(162) == 2
