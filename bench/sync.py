"""Sync benchmark: `avwap sync` of 5 M minute bars from PostgreSQL, against raw COPY.

Starts its own throwaway PostgreSQL (like the tests), seeds 650 symbols ×
7,692 minutes = 5.0 M bars with ``generate_series`` on the server (primary key
(symbol, ts), as a minute-bar table usually has), then in the same run:

* ``copy_rows_per_s``: the peer, one raw binary ``COPY (the sync's own SELECT)
  TO STDOUT`` read by ``psql`` (C, libpq) into /dev/null;
* ``sync_rows_per_s``: ``avwap sync`` as a subprocess into a fresh cache, wall
  time from start to exit (Python start-up, planning, validation, DuckDB
  commits and the final checkpoint included), default ``max_connections`` (2,
  one stream per two cores: ``streams``);
  COPY and sync run in interleaved pairs and ``ratio_to_copy`` is the median of
  the pairs' ratios (the machine is shared; a pair sees the same load);
* ``startup_s``: ``avwap sync --help`` (the interpreter and imports alone);
* ``peak_rss_mb``: the sync process's peak resident memory (``wait4``);
* ``noop_incremental_s``: an incremental run with nothing new, in process (the
  sync's own work), with the (symbol, ts) index; ``noop_incremental_noindex_s``:
  the same after the primary key is dropped (the server must scan the table);
  ``noop_incremental_cli_s``: the same as a subprocess, start-up included;
* ``console_write_p99_ms`` (issue 27): the console's per-minute write while a
  first sync of the same 5 M rows runs into the same cache file as another
  process. This process plays the console: a minute of 500 symbols every
  ``CONSOLE_EVERY_S`` (a minute compressed: enough samples during one sync),
  written with the IB feed writer's policy and waits (``storage.feeds.ib_writer``);
  the figure is the p99 of a fresh minute's write (committed, or kept for later
  when the sync holds the file: it never waits longer than
  ``FIRST_WAIT_S``), with ``console_kept_minutes`` (kept at first),
  ``console_lag_max_s`` (the longest a minute waited to be in the cache) and a
  check that every minute is in the cache at the end.

Goals: ratio_to_copy >= 0.5, peak_rss_mb <= 400, noop_incremental_s <= 0.5 (issue 16),
console_write_p99_ms <= 50 (issue 27).
Run: .venv/bin/python bench/sync.py    (the last line printed is the JSON)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "storage"))

import psycopg  # noqa: E402
from pg_server import PgServer  # noqa: E402

from storage.cache import Cache  # noqa: E402
from storage.pg_config import PgSource  # noqa: E402
from storage.pg_source import PgSession  # noqa: E402
from storage.pg_sync import Selection, plan_streams, run_sync, stream_count  # noqa: E402

SYMBOLS, MINUTES = 650, 7692
PAIRS = 2
CONSOLE_SYMBOLS = 500
CONSOLE_EVERY_S = 0.25


async def console_while_sync(db: Path, cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """The console's minute writes while ``cmd`` (a sync into ``db``) runs (module doc).

    The IB writer's policy, timed per attempt: a fresh minute (with any kept
    rows before it) tries for ``FIRST_WAIT_S`` and is kept when the sync holds
    the file; every ``RETRY_AFTER_S`` with rows kept, a retry queues for up to
    ``RETRY_WAIT_S`` (the sync lets go after its chunk). Writes run on a thread,
    as the writer's do (``asyncio.to_thread``).
    """
    import numpy as np

    from storage.cache import CacheBusy, bars_table
    from storage.feeds.ib_writer import FIRST_WAIT_S, RETRY_AFTER_S, RETRY_WAIT_S

    cache = Cache(db)  # created first: the sync and the console share one file
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    syms = np.array([f"LIVE{i:03d}" for i in range(CONSOLE_SYMBOLS)], dtype=object)
    t0 = np.datetime64("2030-01-02T14:30", "m")
    firsts: list[float] = []
    kept_minutes = 0
    pending: list[tuple[int, float]] = []  # (minute, handed-over time) not yet in the cache
    lags: list[float] = []
    last_retry = time.perf_counter()
    n = 0

    async def attempt(wait: float) -> tuple[float, bool]:
        ts = np.concatenate([np.full(len(syms), t0 + m) for m, _ in pending])
        sym = np.tile(syms, len(pending))
        p = np.full(len(ts), 100.0)
        table = bars_table(sym, ts, p, p + 1, p - 1, p, np.full(len(ts), 1000.0))
        start = time.perf_counter()
        try:
            await asyncio.to_thread(cache.write_bars, table, source="ib", wait=wait)
        except CacheBusy:
            return (time.perf_counter() - start) * 1e3, True
        done = time.perf_counter()
        lags.extend(done - t for _, t in pending)
        pending.clear()
        return (done - start) * 1e3, False

    while proc.returncode is None:
        pending.append((n, time.perf_counter()))
        n += 1
        ms, kept = await attempt(FIRST_WAIT_S)
        firsts.append(ms)
        kept_minutes += kept
        if pending and time.perf_counter() - last_retry >= RETRY_AFTER_S:
            last_retry = time.perf_counter()
            await attempt(RETRY_WAIT_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), CONSOLE_EVERY_S)
    err = (await proc.stderr.read()).decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"sync beside the console failed ({proc.returncode}): {err.strip()}")
    while pending:
        await attempt(RETRY_WAIT_S)
    landed = cache.read_bars(list(syms)).num_rows
    cache.close()
    assert landed == n * CONSOLE_SYMBOLS, (landed, n)
    return {
        "console_write_p99_ms": round(float(np.percentile(firsts, 99)), 1),
        "console_write_p50_ms": round(float(np.percentile(firsts, 50)), 1),
        "console_minutes": n,
        "console_kept_minutes": kept_minutes,
        "console_lag_max_s": round(max(lags), 2),
    }


def seed(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            "CREATE TABLE public.bars (symbol text, ts timestamptz, open float8, high float8,"
            " low float8, close float8, volume bigint)"
        )
        con.execute(
            """
            INSERT INTO public.bars
            SELECT 'S' || lpad(s::text, 3, '0'),
                   timestamptz '2024-01-02 14:30Z' + m * interval '1 minute',
                   round((100 + s + sin(m) )::numeric, 2), round((101.5 + s)::numeric, 2),
                   round((98.5 + s)::numeric, 2), round((100 + s + cos(m))::numeric, 2),
                   1000 + (m * 7919) %% 50000
            FROM generate_series(0, %s - 1) AS s, generate_series(0, %s - 1) AS m
            """,
            (SYMBOLS, MINUTES),
        )
        con.execute("ALTER TABLE public.bars ADD PRIMARY KEY (symbol, ts)")
        con.execute("VACUUM ANALYZE public.bars")
        row = con.execute("SELECT count(*) FROM public.bars").fetchone()
    assert row is not None
    return int(row[0])


def copy_seconds(server: PgServer, query: str) -> float:
    """One raw binary COPY of ``query`` by psql into /dev/null."""
    cmd = ["psql", server.url(), "-q", "-c", f"\\copy ({query}) TO '/dev/null' (FORMAT binary)"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of this child alone, stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[-4:])} failed ({proc.returncode}): {err.strip()}")
    return seconds, usage.ru_maxrss / 1024, err


def main() -> None:
    load_before = os.getloadavg()[0]
    server = PgServer.start()
    out: dict[str, object] = {}
    try:
        t0 = time.perf_counter()
        rows = seed(server.dsn())
        print(f"seeded {rows:,} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        tmp = Path(tempfile.mkdtemp(prefix="avwap-bench-sync-"))
        cfg = tmp / "config.toml"
        cfg.write_text('[pg]\ntable = "public.bars"\n')
        db = tmp / "cache.duckdb"
        env = {**os.environ, "AVWAP_PG_DSN": server.dsn(), "PYTHONPATH": str(ROOT)}
        cli = [sys.executable, "-m", "tui.cli", "--config", str(cfg), "--db", str(db), "sync"]
        src = PgSource.from_section({"table": "public.bars"}, env={"AVWAP_PG_DSN": server.dsn()})

        # The sync's own SELECT of a first run, as one stream (the peer's query).
        with Cache(tmp / "plan.duckdb") as cache, PgSession(src) as session:
            one = PgSource.from_section(
                {"table": "public.bars", "max_connections": 1},
                env={"AVWAP_PG_DSN": server.dsn()},
            )
            query = plan_streams(cache, session, one, Selection())[0].sql

        startup_s, _, _ = run_child([*cli, "--help"], env)
        copies, syncs, ratios, peaks = [], [], [], []
        for _ in range(PAIRS):
            copies.append(copy_seconds(server, query))
            if db.exists():
                db.unlink()
            seconds, peak, _ = run_child([*cli, "--progress", "none"], env)
            syncs.append(seconds)
            peaks.append(peak)
            ratios.append(copies[-1] / seconds)
            print(f"pair: copy {copies[-1]:.2f} s, sync {seconds:.2f} s", file=sys.stderr)
        with Cache(db, read_only=True) as cache:
            cached = cache.bar_count()
        assert cached == rows, (cached, rows)

        with Cache(db) as cache:
            t0 = time.perf_counter()
            noop = run_sync(cache, src, Selection())
            noop_s = time.perf_counter() - t0
        noop_cli_s, _, _ = run_child([*cli, "--progress", "none"], env)
        shared = tmp / "shared.duckdb"
        shared_cli = [*cli[:-2], str(shared), "sync", "--progress", "none"]
        console = asyncio.run(console_while_sync(shared, shared_cli, env))
        print(f"console beside a sync: {console}", file=sys.stderr)
        with psycopg.connect(server.dsn(), autocommit=True) as con:
            con.execute("ALTER TABLE public.bars DROP CONSTRAINT bars_pkey")
            con.execute("ANALYZE public.bars")
        with Cache(db) as cache:
            t0 = time.perf_counter()
            noop_noindex = run_sync(cache, src, Selection())
            noop_noindex_s = time.perf_counter() - t0
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        server.stop()

    copy_s = statistics.median(copies)
    sync_s = statistics.median(syncs)
    out = {
        "rows": rows,
        "sync_rows_per_s": round(rows / sync_s),
        "copy_rows_per_s": round(rows / copy_s),
        "ratio_to_copy": round(statistics.median(ratios), 3),
        "pair_ratios": [round(r, 3) for r in ratios],
        "streams": stream_count(src),
        "cpu_count": os.cpu_count(),
        "peak_rss_mb": round(max(peaks), 1),
        "sync_seconds": [round(s, 2) for s in syncs],
        "copy_seconds": [round(s, 2) for s in copies],
        "startup_s": round(startup_s, 2),
        "noop_incremental_s": round(noop_s, 3),
        "noop_incremental_rows_read": noop.rows_read,
        "noop_incremental_noindex_s": round(noop_noindex_s, 3),
        "noop_incremental_noindex_rows_read": noop_noindex.rows_read,
        "noop_incremental_cli_s": round(noop_cli_s, 2),
        **console,
        # The machine is shared: the 1-minute load average at start and end.
        "load_avg_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
