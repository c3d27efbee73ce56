"""IB feed under faults: reconnect time to LIVE-with-no-hole, and holes after a fault script.

32 symbols of demo bars served by the gateway simulator on 127.0.0.1 to the real
client library through ``IBFeed``. The simulator's market runs at one minute per
second (``TICK_S`` between forming-bar revisions, ``TICKS`` per minute) and the
feed's clock is the simulator's, so the feed sees consistent time however fast
the market goes. IB's pacing rules are enforced by the simulator on a virtual
clock the feed's pacing queue shares (a ten-minute wait costs no wall time and
is reported apart).

- ``reconnect_to_live_s``: kill, 3 s down, restart; from the restart until every
  symbol streams again and the cache holds every closed bar (default backoff
  ``reconnect_initial_s = 0.5`` doubling: the first attempt after the restart
  may come up to one backoff step late).
- ``holes_after_faults``: after a start where every request is refused (162)
  until each symbol is given up (their own retry timer brings them back), a
  reconnect whose first answer comes after a minute closed (the boundary
  fault), kill/restart, a 4 s freeze (SIGSTOP-like), 162 refusals for one
  symbol until the feed gives up plus the recovery that retries it, and a kill
  right after a restart: bars missing from the cache against the simulator's
  closed bars of the backfill window.

Run: .venv/bin/python bench/ib_faults.py [--api ib_insync] (also part of ib_feed.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ibsim import GatewaySim, SimBars
from storage.cache import Cache
from storage.feeds.base import FeedState
from storage.feeds.ib import IBFeed
from storage.feeds.ib_config import IBConfig
from storage.feeds.pacing import HistoricalPacer, VirtualClock

S, TICK_S, TICKS = 32, 0.2, 5
DEBUG = bool(os.environ.get("IB_FAULTS_DEBUG"))


class Market:
    """Runs the simulator's clock: a forming-bar revision every TICK_S, a minute per TICKS."""

    def __init__(self, sim: GatewaySim) -> None:
        self.sim = sim
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(TICK_S)
            n += 1
            if n % TICKS == 0:
                self.sim.advance()
            else:
                self.sim.tick()

    def __enter__(self) -> Market:
        self.task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()


def mismatches(
    sim: GatewaySim, cache: Cache, symbols: list[str], days: int, before_s: int | None = None
) -> tuple[int, int]:
    """(bars missing from the cache, cached bars with other values) in the last ``days``
    sessions, among bars that start before ``before_s`` (epoch s; default: all closed)."""
    want = sim.bars.closed_table(symbols)
    day = want.column("ts").to_numpy().astype("datetime64[D]")
    keep = np.isin(day, np.unique(day)[-days:])
    if before_s is not None:
        start = want.column("ts").to_numpy().astype("datetime64[s]").astype(np.int64)
        keep &= start < before_s
    w_sym = np.asarray(want.column("symbol").to_pylist(), dtype=object)[keep]
    w_ts = want.column("ts").to_numpy().astype("datetime64[m]")[keep]
    w_vals = np.stack([want.column(c).to_numpy()[keep] for c in
                       ("open", "high", "low", "close", "volume")], axis=1)
    got = cache.read_bars(symbols)
    g = {
        (s, t): v for s, t, v in zip(
            got.column("symbol").to_pylist(),
            got.column("ts").to_numpy().astype("datetime64[m]").tolist(),
            np.stack([got.column(c).to_numpy() for c in
                      ("open", "high", "low", "close", "volume")], axis=1).tolist(),
            strict=True,
        )
    }
    missing = wrong = 0
    for s, t, v in zip(w_sym.tolist(), w_ts.tolist(), w_vals.tolist(), strict=True):
        have = g.get((s, t))
        if have is None:
            missing += 1
            if DEBUG:
                print("missing", s, t, file=sys.stderr)
        elif have != v:
            wrong += 1
            if DEBUG:
                print("wrong", s, t, have, v, file=sys.stderr)
    return missing, wrong


def _setup(api: str, sim: GatewaySim, cache: Cache, symbols: list[str],
           clock: VirtualClock, **cfg: object) -> IBFeed:
    raw: dict[str, object] = {"port": sim.port, "backfill_days": 1}
    raw.update(cfg)
    pacer = HistoricalPacer(clock=clock, sleep=clock.sleep)
    # The feed's clock is the simulator's: its market runs 60x faster than the wall.
    feed = IBFeed(IBConfig.from_dict(raw), symbols, cache, api=api, pacer=pacer,
                  clock=lambda: float(sim.bars.server_time()))
    # The virtual pacing clock jumps a wait at once, which the library's wall-clock
    # message throttle (45 msg/s) cannot see: a request it holds back would reach the
    # simulator "later" than the queue admitted it. The simulator does not enforce the
    # message rate, so the throttle is off here (on in real use), as in ib_feed.py.
    feed.client.ib.client.MaxRequests = 0
    return feed


async def _whole(feed: IBFeed, sim: GatewaySim, cache: Cache, symbols: list[str],
                 timeout: float = 120.0) -> None:
    """Wait until every symbol streams and the cache holds every closed bar."""
    deadline = time.perf_counter() + timeout
    while True:
        await asyncio.wait_for(
            feed.wait_until(lambda: len(feed.streaming) == len(symbols)),
            max(0.1, deadline - time.perf_counter()),
        )
        await feed.settled()
        before = sim.bars.now - 60  # the minute that closed last may still be on the wire
        await feed.flush()
        whole = mismatches(sim, cache, symbols, 2, before)[0] == 0
        if whole and len(feed.streaming) == len(symbols):
            return
        if time.perf_counter() > deadline:
            raise TimeoutError("the feed did not become whole again")
        await asyncio.sleep(TICK_S / 4)


async def reconnect(api: str) -> dict[str, object]:
    symbols = [f"R{i:02d}" for i in range(S)]
    clock = VirtualClock(10_000.0)
    cache = Cache(Path(tempfile.mkdtemp()) / "reconnect.duckdb")
    async with GatewaySim(SimBars.from_demo(symbols, days=2), clock=clock) as sim:
        feed = _setup(api, sim, cache, symbols, clock)
        restored: list[float] = []
        feed.on_event(lambda e: restored.append(time.perf_counter())
                      if e.kind == "restored" else None)
        await feed.start()
        await feed.settled()
        clock.t += 601.0  # ten minutes later: IB's pacing window is free again
        with Market(sim):
            await asyncio.sleep(2 * TICK_S * TICKS)
            await sim.kill()
            await asyncio.sleep(3.0)  # three simulated minutes pass while it is down
            await sim.restart()
            t0 = time.perf_counter()
            await _whole(feed, sim, cache, symbols)
            took = time.perf_counter() - t0
        missing, wrong = mismatches(sim, cache, symbols, 2)
        waited = clock.t - 10_601.0
        await feed.stop()
    cache.close()
    return {
        "reconnect_symbols": S,
        "reconnect_to_live_s": round(took, 2),
        "reconnect_login_after_restart_s": round(restored[0] - t0, 2) if restored else None,
        "reconnect_pacing_wait_s": round(waited, 1),
        "reconnect_holes": missing,
        "reconnect_wrong_bars": wrong,
    }


async def _phase(feed: IBFeed, pred: Callable[[], bool], timeout: float = 60.0) -> None:
    await asyncio.wait_for(feed.wait_until(pred), timeout)


async def holes_after_faults(api: str) -> dict[str, object]:
    symbols = [f"H{i:02d}" for i in range(S)]
    clock = VirtualClock(20_000.0)
    cache = Cache(Path(tempfile.mkdtemp()) / "faults.duckdb")
    t_all = time.perf_counter()
    async with GatewaySim(SimBars.from_demo(symbols, days=2), clock=clock) as sim:
        feed = _setup(api, sim, cache, symbols, clock, stall_after_s=90.0,
                      request_timeout_s=0.5, connect_timeout_s=0.5)
        steps: list[str] = []
        gave_up = 0

        def count(e: object) -> None:
            nonlocal gave_up
            gave_up += getattr(e, "kind", "") == "gave_up"

        feed.on_event(count)  # feed.events keeps the last 500 only
        # 0. every request refused (162) at the start until each symbol is given up;
        #    their own retry timer (virtual clock) brings them back, no other fault.
        sim.refuse_pacing(3 * S)
        await feed.start()
        await _phase(feed, lambda: len(feed.streaming) == S)
        await feed.settled()
        steps.append("all refused at start")
        with Market(sim):
            # 0b. a minute closes inside the first answer of a reconnect (the feed's
            #     clock, read before the request, still calls it forming)
            sim.close_minute_in_answer(1)
            sim.drop()
            await _phase(feed, lambda: sim.boundaries == 0)
            await _whole(feed, sim, cache, symbols)
            steps.append("minute closed inside an answer")
            # 1. kill, down 2 s, restart
            await sim.kill()
            await asyncio.sleep(2.0)
            await sim.restart()
            await _whole(feed, sim, cache, symbols)
            steps.append("kill")
            # 2. the gateway freezes for 4 s (the watchdog must notice and reconnect)
            sim.freeze()
            await _phase(feed, lambda: feed.state in (FeedState.DOWN, FeedState.STALLED))
            await asyncio.sleep(4.0)
            sim.thaw()
            await _whole(feed, sim, cache, symbols)
            steps.append("freeze")
            # 3. pacing refusals until the feed gives up on H05, then a recovery retries it
            sim.refuse_pacing(3, "H05")
            sim.drop()
            await _phase(feed, lambda: any(e.kind == "gave_up" for e in feed.events))
            sim.broadcast_error(1101, "Connectivity between IB and TWS has been restored - "
                                "data lost.")
            await _whole(feed, sim, cache, symbols)
            steps.append("pacing 162")
            # 4. a kill right after a restart, while the feed re-subscribes
            await sim.kill()
            await asyncio.sleep(1.0)
            await sim.restart()
            await _phase(feed, lambda: feed.state is FeedState.BACKFILLING, 30.0)
            await sim.kill()
            await asyncio.sleep(1.0)
            await sim.restart()
            await _whole(feed, sim, cache, symbols)
            steps.append("kill during recovery")
        # The market stops; every minute it closed reaches the cache.
        await _phase(feed, lambda: feed.next_minute is not None
                     and int(feed.next_minute.astype(np.int64)) * 60 >= sim.bars.now)
        await feed.flush()
        missing, wrong = mismatches(sim, cache, symbols, 2)
        with contextlib.suppress(Exception):
            await feed.stop()
    cache.close()
    return {
        "faults": steps,
        "holes_after_faults": missing,
        "wrong_bars_after_faults": wrong,
        "faults_gave_up_notices": gave_up,
        "faults_wall_s": round(time.perf_counter() - t_all, 1),
    }


async def _both(api: str) -> dict[str, object]:
    out = await reconnect(api)
    out.update(await holes_after_faults(api))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="ib_async", choices=["ib_async", "ib_insync"])
    print(json.dumps(asyncio.run(_both(ap.parse_args().api))))
