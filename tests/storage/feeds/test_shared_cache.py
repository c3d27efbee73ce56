"""One cache, many processes (issue 27), with the console's live write path in the loop.

This process plays the console's feed: the real IB client against the simulator,
writing every closed minute to the cache (``storage.feeds``). Meanwhile `avwap
sync` from the real PostgreSQL the tests start, `avwap backtest` and `avwap
cache info` run as other processes on the same file. Minutes advance only while
one of them still runs (no sleeps), so they really overlap. Afterwards the cache
holds exactly the simulator's bars and the source's rows, and every command
exited 0. A second test kills the sync with SIGKILL after its first commit while
the feed keeps writing; a rerun completes it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from pg_server import expected_rows, seed_standard

from storage.cache import Cache

SYMBOLS = ["AAPL", "MSFT", "NVDA"]
ROOT = Path(__file__).resolve().parents[3]


def _source_rows(cache: Cache, symbols: list[str]) -> list[tuple]:
    t = cache.read_bars(symbols).to_pylist()
    return sorted(
        ((r["symbol"], r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
         for r in t),
        key=lambda r: (r[0], r[1]),
    )


def _env(dsn: str) -> dict[str, str]:
    return {**os.environ, "AVWAP_PG_DSN": dsn, "PYTHONPATH": str(ROOT), "COLUMNS": "200",
            "AVWAP_CACHE_WAIT": "300"}


def _cli(cfg: Path, db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "--config", str(cfg), "--db", str(db), *args]


async def _start(cmd: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *cmd, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def _minutes_while(sim, feed, next_batch, outputs, most: int = 20) -> int:  # type: ignore[no-untyped-def]
    """Advance the simulator a minute at a time while a command runs; the feed writes
    each. A minute at once, then one each time a command ends or a second passes
    (the pace of the minutes only, nothing is asserted on time), at most ``most``."""
    it = feed.batches()
    pending = set(outputs)
    n = 0
    while pending and n < most:
        sim.advance()
        await next_batch(it, timeout=60.0)
        n += 1
        _, pending = await asyncio.wait(pending, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
    return n


@pytest.fixture
def api() -> str:
    """One client library is enough here (the feed tests cover both)."""
    return "ib_async"


@pytest.fixture
def source(pg_dsn: str) -> str:
    seed_standard(pg_dsn, 400)
    return pg_dsn


async def test_console_sync_backtest_and_info_share_the_cache(
    source: str, sim, cache: Cache, make_feed, next_batch, same_bars, tmp_path: Path
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[pg]\ntable = "market.bars"\nchunk_rows = 300\n')
    feed = make_feed()
    await feed.start()
    await feed.flush()  # the backfill is in the cache: the backtest has bars
    env = _env(source)
    procs = {
        "sync": await _start(_cli(cfg, cache.path, "sync", "--progress", "plain"), env),
        "backtest": await _start(
            _cli(cfg, cache.path, "backtest", "--tickers", ",".join(SYMBOLS),
                 "--strategy", "orb"), env),
        "cache info": await _start(_cli(cfg, cache.path, "cache", "info"), env),
    }
    outputs = {name: asyncio.ensure_future(p.communicate()) for name, p in procs.items()}
    minutes = await _minutes_while(sim, feed, next_batch, outputs.values())
    assert minutes >= 1  # the feed wrote while the others ran
    for name, p in procs.items():
        _out, err = await outputs[name]
        assert p.returncode == 0, f"{name}: {err.decode()}"
        assert b"Traceback" not in err
    await feed.flush()
    assert same_bars(sim, cache, SYMBOLS)
    want = expected_rows(source)
    synced = sorted({r[0] for r in want})
    assert _source_rows(cache, synced) == want
    assert cache.check_unique() == 0


async def test_sync_killed_mid_write_while_the_feed_writes(
    source: str, sim, cache: Cache, make_feed, next_batch, same_bars, tmp_path: Path
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[pg]\ntable = "market.bars"\nchunk_rows = 100\n')
    feed = make_feed()
    await feed.start()
    env = _env(source)
    sync = await _start(_cli(cfg, cache.path, "sync", "--progress", "plain"), env)
    assert sync.stdout is not None
    it = feed.batches()
    while b"committed" not in await sync.stdout.readline():
        assert not sync.stdout.at_eof(), "the sync ended before its first commit"
    sim.advance()  # the feed writes a minute while the sync runs on
    await next_batch(it, timeout=60.0)
    sync.send_signal(signal.SIGKILL)
    await sync.wait()
    want = expected_rows(source)
    synced = sorted({r[0] for r in want})
    assert 0 < len(_source_rows(cache, synced)) < len(want)  # really cut mid-run
    sim.advance()
    await next_batch(it, timeout=60.0)
    rerun = await _start(_cli(cfg, cache.path, "sync", "--progress", "none"), env)
    _, err = await rerun.communicate()
    assert rerun.returncode == 0, err.decode()
    await feed.flush()
    assert _source_rows(cache, synced) == want
    assert same_bars(sim, cache, SYMBOLS)
    assert cache.check_unique() == 0


async def test_minutes_are_kept_while_another_process_holds_the_cache(
    sim, cache: Cache, make_feed, next_batch, same_bars
) -> None:
    feed = make_feed()
    await feed.start()
    await feed.flush()
    holder = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "tests" / "storage" / "cache_holder.py"), str(cache.path),
        "write", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert holder.stdin is not None and holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"held"
    it = feed.batches()
    writer = feed._writer  # the console's write path
    for _ in range(3):  # three minutes close while the other process writes
        attempt = asyncio.ensure_future(writer.next_attempt())
        sim.advance()
        await next_batch(it, timeout=60.0)
        writer.kick()
        _, kept, _ = await asyncio.wait_for(attempt, 60.0)
        assert kept  # busy: the minute is kept for later, the feed goes on
    assert not any(e.level == "error" for e in feed.events)
    holder.stdin.write(b"go\n")
    await holder.stdin.drain()
    assert (await holder.stdout.readline()).strip() == b"released"
    assert await holder.wait() == 0
    await feed.flush()  # written later, in order: nothing lost
    assert same_bars(sim, cache, SYMBOLS)
    assert cache.check_unique() == 0
