"""``avwap tui --feed ib`` end to end: the console on the real IB client library and the simulator.

The app is built exactly as the command line builds it (``build_app`` from parsed
arguments), runs headless under Pilot, and talks to ``GatewaySim`` on an ephemeral
127.0.0.1 port. Minutes close only when the test calls ``sim.advance()``; the
test waits for their effect by polling the app's state (bounded retries of
``pilot.pause``), never by sleeping a fixed time.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot

from ibsim import GatewaySim, SimBars
from storage.cache import Cache
from storage.feeds.base import FeedState
from storage.feeds.ib_live import IBLiveSession
from tui import fmt
from tui.cli import build_parser
from tui.commands.common import config_of, db_of
from tui.commands.tui_cmd import build_app, ib_factory
from tui.screens.console.screen import ConsoleScreen
from tui.screens.console.status_bar import StatusBar
from tui.screens.console.watchlist import Watchlist

SYMBOLS = ("AAPL", "MSFT", "NVDA")
SIZE = (160, 48)


@pytest.fixture
async def sim() -> AsyncIterator[GatewaySim]:
    async with GatewaySim(SimBars.from_demo([*SYMBOLS, "TSLA"], days=2)) as s:
        yield s


def ib_args(tmp_path: Path, port: int, *extra: str, api: str = "") -> argparse.Namespace:
    """``avwap tui --feed ib`` with a config whose [ib] port is wrong (``--ib-port`` wins)."""
    config = tmp_path / "config.toml"
    config.write_text(
        f"[ib]\nport = 1\nclient_id = 41\nbackfill_days = 1\napi = {api!r}\n"
        "reconnect_initial_s = 0.05\nreconnect_max_s = 0.2\n"
        "close_grace_s = 60.0\n"  # minutes close on data here, never on the wall clock
    )
    tickers = tmp_path / "live.txt"
    tickers.write_text("\n".join(SYMBOLS) + "\n")
    return build_parser().parse_args([
        "tui", "--feed", "ib", "--ib-port", str(port), "--config", str(config),
        "--db", str(tmp_path / "cache.duckdb"), "--list", str(tickers),
        "--warm-days", "1", "--history-days", "1", *extra,
    ])


def minute(ts_s: int) -> np.datetime64:
    return np.datetime64(ts_s, "s").astype("datetime64[m]")


async def until(pilot: Pilot[None], cond: Callable[[], bool], what: str,
                tries: int = 1500) -> None:
    """Let the app run until ``cond()`` holds (bounded: fails after ``tries`` turns)."""
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.01)
    pytest.fail(f"the console never got to: {what}")


def shown_minute(screen: ConsoleScreen) -> np.datetime64 | None:
    return None if screen.frame is None else screen.frame.snapshot.ts


def close_of(sim: GatewaySim, symbol: str, ts_s: int) -> float:
    bar = sim.bars.final_at(symbol, ts_s)
    assert bar is not None
    return bar.close


def assert_last_prices(wl: Watchlist, sim: GatewaySim, closing: int) -> None:
    """Every watchlist row's last price is the simulator's close of minute ``closing``."""
    assert wl.symbols == SYMBOLS
    for row in range(len(SYMBOLS)):
        sym = wl.row_symbol(row)
        close = close_of(sim, sym, closing)
        assert wl.cell_text(row, "last") == fmt.price(close)
        assert wl.cols["last"][SYMBOLS.index(sym)] == pytest.approx(close, rel=1e-6)


async def test_console_runs_live_on_ib(tmp_path: Path, sim: GatewaySim) -> None:
    args = ib_args(tmp_path, sim.port)
    cfg = config_of(args)
    cache = Cache(db_of(args, cfg))
    app, session = build_app(args, cfg, cache)
    assert session is not None and app.feed_kind == "ib"
    assert (session.config.port, session.config.client_id) == (sim.port, 41)
    app.render_interval = app.chart_interval = 0.0  # draw every minute at once
    session.bind(asyncio.get_running_loop())
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.console_screen
            bar, wl = screen.query_one(StatusBar), screen.query_one(Watchlist)
            ctl = app.controller

            # Backfilled into the empty cache, warmed, today's minutes stepped, live.
            await until(pilot, lambda: bar.status.state is FeedState.LIVE
                        and bar.status.warm is None and wl.symbols == SYMBOLS, "live")
            first_live = minute(sim.bars.now)
            assert ctl.feed.first_live_minute == first_live
            assert shown_minute(screen) == first_live - np.timedelta64(1, "m")
            assert bar.status.feed_kind == "ib" and bar.status.symbols == len(SYMBOLS)
            assert sorted(cache.latest(list(SYMBOLS))) == sorted(SYMBOLS)

            # A minute closes at the gateway: its close is the watchlist's last price.
            closing = sim.bars.now
            sim.advance()
            await until(pilot, lambda: shown_minute(screen) == minute(closing),
                        "the closed minute on screen")
            assert_last_prices(wl, sim, closing)
            assert bar.status.clock == fmt.exchange_time(minute(closing))

            # TWS restarts; two minutes close while the console is cut off.
            shown: list[FeedState] = []
            plain_set = bar.set

            def spy(**changes: object) -> None:
                plain_set(**changes)
                if not shown or shown[-1] is not bar.status.state:
                    shown.append(bar.status.state)

            bar.set = spy  # type: ignore[method-assign]
            gap = [sim.bars.now, sim.bars.now + 60]
            sim.drop()
            sim.advance(2)
            await until(pilot, lambda: FeedState.DOWN in shown and shown[-1] is FeedState.LIVE,
                        "reconnected")
            steps = [FeedState.DOWN, FeedState.CONNECTING, FeedState.BACKFILLING,
                     FeedState.LIVE]
            it = iter(shown)
            assert all(s in it for s in steps), shown  # in this order, maybe with repeats
            assert any("lost" in str(n.message) for n in app._notifications)

            # Live again: the missed minutes were filled in order, then the next one.
            closing = sim.bars.now
            sim.advance()
            await until(pilot, lambda: shown_minute(screen) == minute(closing),
                        "the first minute after the reconnect on screen")
            assert_last_prices(wl, sim, closing)
            chart = ctl.chart_series("MSFT")["close"]
            want = [close_of(sim, "MSFT", t) for t in [*gap, closing]]
            np.testing.assert_allclose(chart[-3:], want, rtol=1e-6)
            assert bar.status.state is FeedState.LIVE

            # Another ticker list: re-subscribed on the same connection, then live.
            other = tmp_path / "other.txt"
            other.write_text("MSFT\nTSLA\n")
            app.switch_list(str(other))
            await until(pilot, lambda: wl.symbols == ("MSFT", "TSLA")
                        and bar.status.warm is None, "the other list live")
            closing = sim.bars.now
            sim.advance()
            await until(pilot, lambda: shown_minute(screen) == minute(closing),
                        "the other list's next minute on screen")
            for row in range(2):
                sym = wl.row_symbol(row)
                assert wl.cell_text(row, "last") == fmt.price(close_of(sim, sym, closing))
            assert sim.subscriptions == ["MSFT", "TSLA"]
            assert sim.connections == 2  # the first one and the reconnect: no new one
            assert sim.order_messages == 0
    finally:
        await session.aclose()
        cache.close()
    assert session.state is FeedState.DONE


@pytest.mark.parametrize("api", ["ib_async", "ib_insync"])
async def test_list_switch_keeps_one_connection(tmp_path: Path, sim: GatewaySim, api: str) -> None:
    """A new ticker list re-subscribes on the same connection; no minute is lost or doubled."""
    args = ib_args(tmp_path, sim.port, api=api)
    cache = Cache(tmp_path / "cache.duckdb")
    session = ib_factory(config_of(args), cache, args)
    assert session.config.api == api
    session.bind(asyncio.get_running_loop())
    try:
        first = session(("AAPL", "MSFT"), None)
        history = await asyncio.to_thread(first.load)  # the Controller calls it off the loop
        assert history.symbols == ("AAPL", "MSFT")
        assert history.ts[-1] == minute(sim.bars.now) - np.timedelta64(1, "m")
        assert history.valid[:, -1].all()

        sim.advance()  # closes into the old list's shape, never handed to the engine
        second = session(("MSFT", "TSLA"), None)
        history = await asyncio.to_thread(second.load)
        cut = second.first_live_minute
        assert cut == minute(sim.bars.now)
        assert history.ts[-1] == cut - np.timedelta64(1, "m") and history.valid[:, -1].all()
        assert sim.subscriptions == ["MSFT", "TSLA"] and sim.connections == 1

        sim.advance()
        batch = await asyncio.wait_for(anext(aiter(second.batches())), 30)  # a hang guard
        assert batch.symbols == ("MSFT", "TSLA") and batch.ts == cut and batch.valid.all()
        assert second.replay is None  # live bars: no speed, pause or stepping
    finally:
        await session.aclose()
        cache.close()


def test_ib_port_override_and_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        ib_args(tmp_path, 0)
    args = ib_args(tmp_path, 4002)
    session = ib_factory(config_of(args), Cache(tmp_path / "c.duckdb"), args)
    assert isinstance(session, IBLiveSession)
    assert (session.config.port, session.config.host) == (4002, "127.0.0.1")
    assert session.fills_cache
    with pytest.raises(RuntimeError, match="bind"):
        session(SYMBOLS, None).load()
    session.cache.close()
