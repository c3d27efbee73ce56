"""Storage benchmark: bulk write and load_panel throughput, bytes per bar on disk.

650 symbols × 20 sessions of regular-hours minutes (5.07 M bars), written to a
fresh DuckDB file through ``Cache.write_bars`` (validation + dedupe + upsert),
then read back with ``load_panel``. Peers in the same run: the raw DuckDB
``INSERT … SELECT`` of the same Arrow table with no validation (the ceiling),
and the same insert into a table with ``PRIMARY KEY (symbol, ts)`` — the
design the cache does not use, because of what this measures.

Run: .venv/bin/python bench/storage.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import calendar
from storage.cache import Cache, bars_table

S, START, END = 650, dt.date(2025, 10, 24), dt.date(2025, 11, 20)


def make_bars() -> tuple[object, list[str]]:
    grid = calendar.minute_grid(START, END)
    t = len(grid.ts)
    rng = np.random.default_rng(0)
    syms = [f"S{i:03d}" for i in range(S)]
    px = 5 + 3000 * rng.random((S, 1)) * np.exp(np.cumsum(rng.normal(0, 1e-3, (S, t)), 1))
    close = np.round(px, 2).ravel()
    open_ = np.round(close * (1 + rng.normal(0, 3e-4, close.size)), 2)
    high = np.round(np.maximum(open_, close) + 0.01, 2)  # quotes are in cents
    low = np.round(np.minimum(open_, close) - 0.01, 2)
    vol = rng.integers(1, 100_000, close.size).astype(np.float64)
    table = bars_table(
        np.repeat(np.array(syms, dtype=object), t),
        np.tile(grid.ts, S),
        open_,
        high,
        low,
        close,
        vol,
    )
    return table, syms


def best_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    table, syms = make_bars()
    n = table.num_rows
    calendar.schedule()  # load the calendar once, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        write_times, raw_times = [], []
        for i in range(3):
            path = Path(tmp) / f"w{i}.duckdb"
            with Cache(path) as cache:
                t0 = time.perf_counter()
                result = cache.write_bars(table)
                write_times.append(time.perf_counter() - t0)
                assert result.written == n
            raw = Path(tmp) / f"raw{i}.duckdb"
            with Cache(raw) as cache, cache.transaction() as cur:
                cur.register("t", table)
                t0 = time.perf_counter()
                cur.execute("INSERT INTO bars SELECT * FROM t")
                raw_times.append(time.perf_counter() - t0)
        pk_path = Path(tmp) / "pk.duckdb"
        con = duckdb.connect(str(pk_path))
        con.execute(
            "CREATE TABLE bars (symbol VARCHAR, ts TIMESTAMPTZ, open DOUBLE, high DOUBLE,"
            " low DOUBLE, close DOUBLE, volume DOUBLE, PRIMARY KEY (symbol, ts))"
        )
        con.register("t", table)
        t0 = time.perf_counter()
        con.execute("INSERT INTO bars SELECT * FROM t")
        pk_s = time.perf_counter() - t0
        con.execute("CHECKPOINT")
        con.close()
        pk_size = os.path.getsize(pk_path)
        path = Path(tmp) / "w0.duckdb"
        with Cache(path) as cache:
            cache.checkpoint()
        size = os.path.getsize(path)
        with Cache(path, read_only=True) as cache:
            cache.load_panel(syms[:5], START, START)  # warm the process
            load_s = best_of(3, lambda: cache.load_panel(syms, START, END))
            panel = cache.load_panel(syms, START, END)
            assert panel.n_bars == n
    write_s = min(write_times)
    raw_s = min(raw_times)
    print(
        json.dumps(
            {
                "bars": n,
                "write_bars_per_s": round(n / write_s),
                "raw_insert_bars_per_s": round(n / raw_s),
                "write_ratio_to_raw_insert": round(raw_s / write_s, 3),
                "load_bars_per_s": round(n / load_s),
                "bytes_per_bar": round(size / n, 2),
                "primary_key_insert_bars_per_s": round(n / pk_s),
                "primary_key_bytes_per_bar": round(pk_size / n, 2),
                "goals": {"write_bars_per_s": 2e6, "load_bars_per_s": 1e7, "bytes_per_bar": 16},
            }
        )
    )


if __name__ == "__main__":
    main()
