"""Issue 31, item 1: a minute that closes between the clock read and the history answer.

The simulator closes its forming minute inside the answer
(``close_minute_in_answer``): the feed's projection of the gateway clock, read
before the request, still calls that minute forming, but the answer already
holds the next one after it. The closed minute is known from the bars
themselves; it must reach the cache and the engine, at start-up and at a
reconnect, for every symbol of the answer.
"""

from __future__ import annotations

import numpy as np

from storage.feeds.base import FeedState

SYMS = ["AAPL", "MSFT", "NVDA"]


async def _batches_through(it, next_batch, last: int) -> list:
    out = []
    while not out or int(out[-1].ts.astype(np.int64)) < last:
        out.append(await next_batch(it))
    return out


async def test_minute_closing_inside_the_first_answer_at_start(sim, cache, make_feed, until,
                                                               next_batch, same_bars) -> None:
    boundary = sim.bars.now // 60  # forming when the feed reads the clock
    sim.close_minute_in_answer(1)
    feed = make_feed()
    await feed.start()
    await feed.settled()
    await feed.flush()
    assert sim.bars.now // 60 == boundary + 1  # the minute closed inside the first answer
    assert same_bars(sim, cache, SYMS)  # every symbol of every answer has it
    assert feed.warm_end == np.datetime64(boundary, "m")
    it = feed.batches()
    first = await next_batch(it)  # the engine gets it too, from every symbol
    assert int(first.ts.astype(np.int64)) == boundary and first.valid.all()


async def test_minute_closing_inside_the_answer_at_reconnect(sim, cache, make_feed, until,
                                                             next_batch, same_bars) -> None:
    feed = make_feed()
    await feed.start()
    await feed.settled()
    it = feed.batches()
    sim.drop()
    await until(feed, lambda: feed.state is FeedState.DOWN)
    sim.advance(3)  # the gateway's clock moved on while we were away
    sim.close_minute_in_answer(1)
    await until(feed, lambda: len(feed.streaming) == 3 and sim.boundaries == 0)
    await feed.settled()
    await feed.flush()
    assert same_bars(sim, cache, SYMS)
    last_closed = sim.bars.now // 60 - 1
    got = await _batches_through(it, next_batch, last_closed)
    ts = [int(b.ts.astype(np.int64)) for b in got]
    assert ts == list(range(ts[0], last_closed + 1))  # no minute skipped
    assert all(b.valid.all() for b in got)


async def test_every_backfill_is_checked_for_holes(sim, cache, make_feed, same_bars) -> None:
    """Not only after an outage: the start-up backfill is checked too (a short answer
    at the first start left a hole until the next start)."""
    sim.lose_bars("MSFT", 8)
    feed = make_feed()
    await feed.start()
    await feed.settled()
    await feed.flush()
    assert [e.symbols for e in feed.events if e.kind == "repair"] == [("MSFT",)]
    assert same_bars(sim, cache, SYMS)
