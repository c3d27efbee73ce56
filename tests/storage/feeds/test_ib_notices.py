"""Issue 19, defects 6 and 7 and the smaller notices: forming minutes, pacing refusals,
toasts said once, "connectivity restored", another client on our clientId, a forced
library that is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ibsim import ManualClock
from storage.feeds.base import FeedState
from storage.feeds.ib_client import ClientIdInUse, IBClient, load_api
from storage.feeds.pacing import HistoricalPacer, VirtualClock

SYMS = ["AAPL", "MSFT", "NVDA"]


async def test_symbols_beyond_the_lines_never_store_a_forming_minute(
    sim, cache, make_feed, next_batch, same_bars
) -> None:
    """Defect 6: NVDA (beyond 2 lines) is backfilled, marked not live, and its forming
    minute is neither cached nor emitted as final."""
    feed = make_feed(market_data_lines=2)
    await feed.start()
    await feed.settled()
    assert feed.status["NVDA"] == "not live" and "NVDA" not in feed.streaming
    ev = [e for e in feed.events if e.kind == "not_live"]
    assert len(ev) == 1 and ev[0].symbols == ("NVDA",) and ev[0].level == "warning"
    await feed.flush()
    forming = np.datetime64(sim.bars.now, "s").astype(object)
    assert cache.read_bars(["NVDA"], start=forming).num_rows == 0
    assert same_bars(sim, cache, ["NVDA"])  # every closed minute, final values only
    it = feed.batches()
    sim.advance()
    batch = await next_batch(it)
    assert batch.valid.tolist() == [True, True, False]  # never stepped as if live


async def test_pacing_refusals_retry_give_up_and_come_back(sim, cache, make_feed, until,
                                                           same_bars) -> None:
    """Defect 7: 162 is retried with backoff, then "gave up on NVDA"; a recovery before
    its own retry timer retries it at once; refused attempts do not count against the
    feed's pacing budget."""
    mc = ManualClock(50.0)
    pacer = HistoricalPacer(clock=mc, sleep=mc.sleep)
    sim.refuse_pacing(3, "NVDA")
    feed = make_feed(pacer=pacer)
    await feed.start()
    await mc.wait_sleeping()
    mc.advance(15)
    await mc.wait_sleeping()
    mc.advance(30)
    await until(feed, lambda: feed.status.get("NVDA") == "gave up")
    await feed.settled()
    assert feed.status["NVDA"] == "gave up" and feed.streaming == ("AAPL", "MSFT")
    retries = [e.message for e in feed.events if e.kind == "pacing" and e.symbol == "NVDA"]
    assert len(retries) == 2 and "(15 s backoff)" in retries[0] and "(30 s backoff)" in retries[1]
    gave_up = [e for e in feed.events if e.kind == "gave_up"]
    assert len(gave_up) == 1 and gave_up[0].message.startswith("gave up on NVDA")
    assert gave_up[0].level == "warning" and gave_up[0].until == feed.gave_up_retry_at
    assert sim.refused == 3 and pacer.counted == 2  # only the two accepted requests count

    sim.broadcast_error(1101, "Connectivity between IB and TWS has been restored - data lost.")
    await until(feed, lambda: "NVDA" in feed.streaming)
    await feed.settled()
    await feed.flush()
    assert feed.status["NVDA"] == "live" and feed.gave_up_retry_at is None
    assert same_bars(sim, cache, SYMS)


async def test_symbol_errors_said_once_and_restored_shown(sim, make_feed, until) -> None:
    """200/354 are told once per session, not at every recovery; "restored" is shown."""
    sim.deny("NVDA", 354)
    feed = make_feed(["AAPL", "NOPE", "NVDA", "MSFT"])
    await feed.start()
    for _ in range(2):
        sim.broadcast_error(1100, "Connectivity between IB and TWS has been lost.")
        await until(feed, lambda: feed.state is FeedState.DOWN)
        sim.broadcast_error(1102, "Connectivity between IB and TWS has been restored.")
        await until(feed, lambda: feed.state is FeedState.LIVE)
    sim.drop()
    await until(feed, lambda: feed.state is FeedState.DOWN)
    await until(feed, lambda: feed.state is FeedState.LIVE)
    await feed.settled()
    errors = [e.symbol for e in feed.events if e.level == "error" and e.symbol]
    assert sorted(errors) == ["NOPE", "NVDA"]
    restored = [e for e in feed.events if e.kind == "restored"]
    assert len(restored) == 3 and all(e.level == "warning" for e in restored)
    assert any("1102" in e.message for e in restored)
    assert any(e.message.startswith("reconnected") for e in restored)


async def test_client_id_in_use_names_another_client(sim, make_feed, api) -> None:
    feed = make_feed()
    await feed.start()
    other = IBClient(api)
    with pytest.raises(ClientIdInUse, match="another console or API client"):
        await other.connect("127.0.0.1", sim.port, feed.client_id, 5.0)
    other.disconnect()


def test_forced_library_that_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ib_async", None)  # only ib_insync is importable
    with pytest.raises(ImportError, match="ib_async is not installed"):
        load_api("ib_async")
    assert load_api("").__name__ == "ib_insync"


async def test_1102_keeps_the_streams(sim, make_feed, until, next_batch) -> None:
    """IB kept the data (1102): the streams go on, nothing is re-requested or paced."""
    feed = make_feed()
    await feed.start()
    it = feed.batches()
    sent = sim.received[20]  # historical requests so far
    sim.broadcast_error(1100, "Connectivity between IB and TWS has been lost.")
    await until(feed, lambda: feed.state is FeedState.DOWN)
    sim.broadcast_error(1102, "Connectivity between IB and TWS has been restored - data kept.")
    await until(feed, lambda: feed.state is FeedState.LIVE)
    await feed.settled()
    sim.advance()
    assert (await next_batch(it)).valid.all()
    assert sim.received[20] == sent and feed.streaming == tuple(SYMS)


async def test_repeated_unexpected_failures_end_in_a_stated_terminal_error(
    sim, make_feed, until
) -> None:
    """Never a silent dead state: five unexpected failures in a row are a terminal error."""
    feed = make_feed()

    async def broken() -> None:
        raise RuntimeError("bug in a recovery step")

    feed._round = broken  # type: ignore[method-assign]
    await feed.start()  # returns: the feed will not go live
    assert feed.terminal is not None and "bug in a recovery step" in feed.terminal
    assert feed.state is FeedState.DOWN and feed.supervisor.ended
    assert [e.kind for e in feed.events if e.level == "error"] == ["terminal"]
    assert len([e for e in feed.events if e.kind == "retry"]) == 4


async def test_one_symbol_failing_does_not_stop_the_others(sim, make_feed, until) -> None:
    # NVDA's retry repeats its first request (nothing was cached): IB's identical-request
    # rule makes it wait 15 s, on a virtual clock here.
    vc = VirtualClock(10.0)
    sim.pacing = None
    feed = make_feed(pacer=HistoricalPacer(clock=vc, sleep=vc.sleep))
    take = feed._take

    def flaky(sym: str, bars: object, live: bool, end: int | None = None) -> None:
        if sym == "NVDA":
            raise ValueError("cannot read this answer")
        take(sym, bars, live, end)

    feed._take = flaky  # type: ignore[method-assign]
    await feed.start()
    await feed.settled()
    assert feed.status["NVDA"] == "error" and feed.streaming == ("AAPL", "MSFT")
    assert any(e.symbol == "NVDA" and "cannot read this answer" in e.message
               for e in feed.events if e.level == "error")
    feed._take = take  # type: ignore[method-assign]
    sim.broadcast_error(1101, "Connectivity between IB and TWS has been restored - data lost.")
    await until(feed, lambda: "NVDA" in feed.streaming)  # retried at the next recovery
