"""One cache, many processes (issue 27): real processes on one DuckDB file, no mocks.

The other party is ``cache_holder.py``, a process that holds the cache (a write
transaction or a read) until told on stdin to let go; it prints ``held`` once it
holds it, so no test sleeps or races.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from storage import demo
from storage.cache import Cache, bars_table

HERE = Path(__file__).resolve().parent
HOLDER = HERE / "cache_holder.py"


def _env(wait: float) -> dict[str, str]:
    return {**os.environ, "AVWAP_CACHE_WAIT": str(wait)}


def _holder(db: Path, mode: str, rows: int = 10) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER), str(db), mode, str(rows)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _let_go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "released"
    assert proc.wait(timeout=60) == 0


def _avwap(*args: str, wait: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(wait),
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shared.duckdb"
    with Cache(path) as cache:
        demo.seed_cache(cache, ("AAA", "BBB"), 1, end=demo.DEFAULT_END)
    return path


def test_a_command_that_cannot_get_the_cache_says_one_line_and_exits_2(db: Path) -> None:
    holder = _holder(db, "write")
    try:
        proc = _avwap("--db", str(db), "cache", "info", wait=0.5)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (out, err)
        lines = err.strip().splitlines()
        # What it waits for, then one error line; never a traceback or DuckDB's
        # lock error naming the Python binary.
        assert lines[0] == f"waiting for the cache: cache-holder (pid {holder.pid}) is writing"
        assert len(lines) == 2, lines
        assert lines[1].startswith(f"avwap: error: the cache {db} is busy: cache-holder")
        assert "AVWAP_CACHE_WAIT" in lines[1]
        assert "Traceback" not in err and "python" not in err.lower() and "lock" not in err
    finally:
        _let_go(holder)


def test_a_waiting_command_goes_on_when_the_holder_lets_go(db: Path) -> None:
    holder = _holder(db, "write", rows=7)
    proc = _avwap("--db", str(db), "cache", "info", wait=600)
    assert proc.stderr is not None
    line = proc.stderr.readline().strip()
    assert line == f"waiting for the cache: cache-holder (pid {holder.pid}) is writing"
    _let_go(holder)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "HOLD" in out  # the holder's committed bars are seen


def test_readers_share_the_cache(db: Path) -> None:
    holder = _holder(db, "read")
    try:
        proc = _avwap("--db", str(db), "cache", "info", wait=0)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "waiting" not in err
    finally:
        _let_go(holder)


def test_a_writer_killed_mid_transaction_leaves_the_cache_as_it_was(db: Path) -> None:
    with Cache(db) as cache:
        before = cache.bar_count()
    holder = _holder(db, "write-forever", rows=50_000)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    with Cache(db, wait=30) as cache:
        assert cache.bar_count() == before
        assert cache.check_unique() == 0
        r = cache.write_bars(_minutes("NEW", 5))
        assert r.written == 5 and cache.bar_count() == before + 5


def _minutes(symbol: str, n: int, start: str = "2024-03-04T14:30") -> object:
    ts = np.datetime64(start, "m") + np.arange(n)
    p = np.linspace(100, 101, n)
    return bars_table(np.full(n, symbol, dtype=object), ts, p, p + 1, p - 1, p, np.ones(n))


_WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {here!r})
from storage.cache import Cache
from test_sharing import _minutes
cache = Cache({db!r}, wait=120)
for i in range({n}):
    cache.write_bars(_minutes({sym!r} + str(i % 7), 1, f"2024-03-05T14:{{i // 7:02d}}"))
print("done", flush=True)
"""


def test_two_writers_at_once_lose_nothing(db: Path) -> None:
    root = str(HERE.parents[1])
    n = 35
    procs = [
        subprocess.Popen(
            [sys.executable, "-c",
             _WRITER.format(root=root, here=str(HERE), db=str(db), n=n, sym=sym)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for sym in ("W", "V")
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    with Cache(db) as cache:
        syms = [s for s in cache.symbols() if s[0] in "WV"]
        assert len(syms) == 14
        assert cache.read_bars(syms).num_rows == 2 * n
        assert cache.check_unique() == 0
