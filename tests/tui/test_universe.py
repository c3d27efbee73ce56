"""Instant list switching and replay navigation (issue 18).

A list is a view of the warm universe: switching to a list seen before warms
nothing (the tests count warm-ups, they never time them), a list with new
symbols warms only those and the replay goes on, and a replay can step one
minute, go back to its session's start and jump to a minute, with the engines
restored from their session checkpoints giving exactly the values of the first
pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tui.runtime.controller import Controller
from tui.runtime.replay_nav import JumpError, parse_jump
from tui.screens.console.watchlist import Watchlist

SIZE = (120, 36)


def count_warmups(ctl: Controller) -> dict[str, list[tuple[str, ...]]]:
    """Wrap the controller's two warm-up paths; the lists record what each warmed."""
    seen: dict[str, list[tuple[str, ...]]] = {"prepare": [], "grow": []}
    prepare, grow = ctl.prepare, ctl.grow

    def counting_prepare(tl, symbols, *a, **kw):  # type: ignore[no-untyped-def]
        seen["prepare"].append(tuple(symbols))
        return prepare(tl, symbols, *a, **kw)

    def counting_grow(symbols, panel):  # type: ignore[no-untyped-def]
        seen["grow"].append(tuple(symbols))
        return grow(symbols, panel)

    ctl.prepare = counting_prepare  # type: ignore[method-assign]
    ctl.grow = counting_grow  # type: ignore[method-assign]
    return seen


async def test_switching_back_to_a_warm_list_warms_nothing(make_app, ready, replay) -> None:
    app = make_app("half")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ctl = app.controller
        seen = count_warmups(ctl)
        await replay(pilot, 3)
        clock = ctl.groups[0].last_ts
        session = app.console_screen.session
        session.switch_list("mini")  # four new symbols: they warm, SPY/AAPL do not
        await ready(pilot)
        assert seen == {"prepare": [], "grow": [("MSFT", "NVDA", "TSLA", "JPM")]}
        for name, rows in (("half", ("SPY", "AAPL")), ("mini", ctl.view), ("half", None)):
            session.switch_list(name)
            await ready(pilot)
            if rows is not None:
                assert app.console_screen.query_one(Watchlist).symbols == rows
        assert seen == {"prepare": [], "grow": [("MSFT", "NVDA", "TSLA", "JPM")]}
        assert ctl.groups[0].last_ts == clock  # no replay restart, no step lost
        # The view's numbers are the universe's: the same minute, the same values.
        frame = app.console_screen.frame
        assert frame.snapshot.symbols == ("SPY", "AAPL")
        full = ctl.groups[0].snap
        np.testing.assert_array_equal(frame.snapshot.values, full.values)
        # The replay continues on every group in step.
        await replay(pilot, 2)
        assert ctl.groups[1].last_ts == ctl.groups[0].last_ts == clock + np.timedelta64(2, "m")


async def test_a_found_symbol_joins_as_a_guest_row(make_app, ready, replay) -> None:
    app = make_app("half")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 2)
        session = app.console_screen.session
        session.show_symbol("NVDA")
        await ready(pilot)
        rows = app.console_screen.query_one(Watchlist).symbols
        assert rows == ("SPY", "AAPL", "NVDA")
        assert session.guests == ("NVDA",)
        session.switch_list("half")  # a list switch drops the guests
        await ready(pilot)
        assert app.console_screen.query_one(Watchlist).symbols == ("SPY", "AAPL")


async def test_back_to_session_start_and_jump_give_the_first_pass_values(
        make_app, ready) -> None:
    app = make_app("mini", warm=1)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        ctl = app.controller
        first: dict[Any, np.ndarray] = {}
        for _ in range(12):
            frame = await session.step_next()
            first[frame.snapshot.ts] = frame.snapshot.values.copy()
        minutes = sorted(first)
        seen = count_warmups(ctl)
        frame = await session.back_to_session_start()
        assert frame.snapshot.ts == minutes[0]
        np.testing.assert_array_equal(frame.snapshot.values, first[minutes[0]])
        frame = await session.jump(minutes[7])
        assert frame.snapshot.ts == minutes[7]
        np.testing.assert_array_equal(frame.snapshot.values, first[minutes[7]])
        frame = await session.jump(minutes[3])  # back within the session
        np.testing.assert_array_equal(frame.snapshot.values, first[minutes[3]])
        frame = await session.step_one()  # one minute on
        assert frame.snapshot.ts == minutes[4]
        np.testing.assert_array_equal(frame.snapshot.values, first[minutes[4]])
        assert seen == {"prepare": [], "grow": []}  # no warm-up for any of it
        # Before the replay: said in one line, nothing moves.
        with pytest.raises(JumpError, match="before the replay's first session"):
            await session.jump(minutes[0] - np.timedelta64(1, "D"))
        assert ctl.groups[0].last_ts == minutes[4]


async def test_jump_and_back_keys(make_app, ready, replay) -> None:
    app = make_app("mini")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await replay(pilot, 5)
        start = app.console_screen.frame.snapshot.ts - np.timedelta64(4, "m")
        await pilot.press("b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.console_screen.frame.snapshot.ts == start
        await pilot.press("t")
        await pilot.pause()
        from textual.widgets import Input

        app.screen.query_one(Input).value = "10:00"  # 10:00 ET = 15:00 UTC on 2025-11-21
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.console_screen.frame.snapshot.ts == np.datetime64("2025-11-21T15:00")
        await pilot.press("full_stop")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.console_screen.frame.snapshot.ts == np.datetime64("2025-11-21T15:01")


def test_parse_jump_reads_exchange_time() -> None:
    now = np.datetime64("2025-11-21T15:00")  # 10:00 ET
    assert parse_jump("10:45", now) == np.datetime64("2025-11-21T15:45")
    assert parse_jump("2025-11-20", now) == np.datetime64("2025-11-20T14:30")
    assert parse_jump("2025-07-01 09:31", now) == np.datetime64("2025-07-01T13:31")  # EDT
    for bad in ("noon", "25:00", "2025-02-30"):
        with pytest.raises(JumpError):
            parse_jump(bad, now)


def test_a_grown_group_equals_a_fresh_warm_up(demo_db, user_dir) -> None:
    """Symbols that join mid-replay (warmed in chunks while the list steps, then caught
    up) have exactly the values of a console that warmed them from the start."""
    from tests.tui.conftest import make_controller

    grown = make_controller(demo_db, user_dir, warm=1)
    grown.warm_store = None  # both warm for real
    tl, present, missing = grown.resolve_list("half")
    grown.prepare(tl, present, missing)
    for _ in range(7):
        grown.step_next()
    feed = grown.source.companion(("MSFT", "NVDA"))
    feed.load()
    grow = grown.grow(feed.symbols, feed.panel)
    steps = 0
    while grow.advance(minutes=16) is not None:
        if steps < 3:  # live minutes interleave with the warm-up's chunks
            grown.step_next()
            steps += 1
    assert steps == 3
    fresh = make_controller(demo_db, user_dir, warm=1)
    fresh.warm_store = None
    tl2, present2, missing2 = fresh.resolve_list("mini")
    fresh.prepare(tl2, present2, missing2)
    for _ in range(10):
        frame = fresh.step_next()
    mine = grown.step_next()  # minute 11 for both
    frame = fresh.step_next()
    assert mine.snapshot.ts == frame.snapshot.ts
    a = take_rows(grown.universe.now, ("MSFT", "NVDA"))
    b = take_rows(fresh.universe.now, ("MSFT", "NVDA"))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.last, b.last)
    # the rows kept for a model made active: the grown symbols' joined the tape, equal
    # to those the fresh console kept (a model primes them without their history)
    pair = ("MSFT", "NVDA")
    n = grown.model.tape.length
    assert grown.model.tape.cover(pair).tolist() == fresh.model.tape.cover(pair).tolist() == [n, n]
    cols = np.arange(len(b.names))
    for x, y in zip(grown.model.tape.window(pair, cols, n), fresh.model.tape.window(pair, cols, n),
                    strict=True):
        np.testing.assert_array_equal(x, y)


def take_rows(snap, symbols):  # type: ignore[no-untyped-def]
    from tui.runtime.universe import take

    return take(snap, np.array([snap.symbols.index(s) for s in symbols]), tuple(symbols))


def test_a_group_catching_up_follows_the_replay_back(demo_db, user_dir) -> None:
    """The replay goes back to the session's start while new symbols catch up: they
    join at the replay's (earlier) minute with the values of a fresh warm-up."""
    from tests.tui.conftest import make_controller

    ctl = make_controller(demo_db, user_dir, warm=1)
    ctl.warm_store = None
    tl, present, missing = ctl.resolve_list("half")
    ctl.prepare(tl, present, missing)
    for _ in range(6):
        ctl.step_next()
    feed = ctl.source.companion(("MSFT",))
    feed.load()
    grow = ctl.grow(feed.symbols, feed.panel)
    while grow.advance(minutes=2) != 0.95:  # warmed; now stepping today's minutes
        pass
    first = ctl.replay.rewind_to(ctl.replay.session_start())
    ctl.feed.replay.seek(first)
    ctl.step_next()
    assert grow.group.last_ts > ctl.groups[0].last_ts  # the new symbols are ahead now
    while grow.advance(minutes=2) is not None:
        pass
    assert ctl.groups[1].last_ts == ctl.groups[0].last_ts
    fresh = make_controller(demo_db, user_dir, warm=1)
    fresh.warm_store = None
    tl2, present2, missing2 = fresh.resolve_list("mini")
    fresh.prepare(tl2, present2, missing2)
    fresh.step_next()
    assert fresh.universe.now.ts == ctl.universe.now.ts
    np.testing.assert_array_equal(take_rows(ctl.universe.now, ("MSFT",)).values,
                                  take_rows(fresh.universe.now, ("MSFT",)).values)
