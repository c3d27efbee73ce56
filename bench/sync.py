"""Sync benchmark: `avwap sync` of 5 M minute bars from PostgreSQL into a fresh cache.

Starts its own throwaway PostgreSQL (like the tests), seeds 650 symbols ×
7,692 minutes = 5.0 M bars with ``generate_series`` on the server (primary key
(symbol, ts), as a minute-bar table usually has), then in the same run:

* ``copy_rows_per_s``: the ceiling, the server's raw ``COPY table TO STDOUT
  (FORMAT binary)`` read by ``psql`` (C, libpq) into /dev/null;
* ``sync_rows_per_s``: ``avwap sync`` as a subprocess, wall time from start to
  exit (Python start-up, planning, validation and DuckDB commits included);
* ``peak_rss_mb``: the sync process's peak resident memory.

Goals: sync ≥ 1 M rows/s and ≥ 50 % of the COPY rate; peak memory < 500 MB.
Run: .venv/bin/python bench/sync.py    (the last line printed is the JSON)
"""

from __future__ import annotations

import json
import os
import resource
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

SYMBOLS, MINUTES = 650, 7692


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


def raw_copy_seconds(server: PgServer) -> float:
    env = {**os.environ, "PGPASSWORD": "", "PGCONNECT_TIMEOUT": "5"}
    cmd = [
        "psql",
        server.url(),
        "-q",
        "-c",
        "\\copy public.bars TO '/dev/null' (FORMAT binary)",
    ]
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    server = PgServer.start()
    try:
        t0 = time.perf_counter()
        rows = seed(server.dsn())
        print(f"seeded {rows:,} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        copy_s = raw_copy_seconds(server)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "config.toml"
            cfg.write_text('[pg]\ntable = "public.bars"\n')
            db = Path(tmp) / "cache.duckdb"
            env = {**os.environ, "AVWAP_PG_DSN": server.dsn(), "PYTHONPATH": str(ROOT)}
            cmd = [sys.executable, "-m", "tui.cli", "--config", str(cfg), "--db", str(db)]
            t0 = time.perf_counter()
            proc = subprocess.run(
                [*cmd, "sync", "--progress", "none"], env=env, capture_output=True, text=True
            )
            sync_s = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"sync failed: {proc.stderr.strip()}")
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            with Cache(db, read_only=True) as cache:
                cached = cache.bar_count()
            t0 = time.perf_counter()
            again = subprocess.run(
                [*cmd, "sync", "--progress", "none"], env=env, capture_output=True, text=True
            )
            again_s = time.perf_counter() - t0
            assert again.returncode == 0, again.stderr
    finally:
        server.stop()
    assert cached == rows, (cached, rows)
    sync_rate, copy_rate = rows / sync_s, rows / copy_s
    print(
        json.dumps(
            {
                "rows": rows,
                "sync_rows_per_s": round(sync_rate),
                "copy_rows_per_s": round(copy_rate),
                "ratio_to_copy": round(sync_rate / copy_rate, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "sync_seconds": round(sync_s, 2),
                "copy_seconds": round(copy_s, 2),
                "incremental_noop_seconds": round(again_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
