"""``avwap sync`` as a subprocess: SIGKILL and Ctrl-C mid-run, faults, exit codes.

Mid-run is made certain without timing: the child's stdout is a pipe shrunk
to one page, and the test stops reading after the first committed chunk, so
the child blocks on its next progress line long before the end of the data.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from pg_server import PASSWORD, expected_rows, seed_standard

from storage.cache import Cache, bars_table
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
F_SETPIPE_SZ = 1031
MINUTES = 2000  # 6 symbols: 12,000 rows, 60 chunks of 200


def cache_rows(db: Path) -> list[tuple]:
    with Cache(db, read_only=True) as cache:
        t = cache.read_bars().to_pylist()
    return sorted(
        (
            (r["symbol"], r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
            for r in t
        ),
        key=lambda r: (r[0], r[1]),
    )


def write_config(tmp: Path, table: str = "market.bars", extra: str = "") -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[pg]\ntable = "{table}"\nchunk_rows = 200\n{extra}')
    return cfg


def avwap(tmp: Path, dsn: str, *args: str, cfg: Path | None = None) -> list[str]:
    cfg = cfg or write_config(tmp)
    return [
        sys.executable,
        "-m",
        "tui.cli",
        "--config",
        str(cfg),
        "--db",
        str(tmp / "cache.duckdb"),
        "sync",
        "--progress",
        "plain",
        *args,
    ]


def env_with(dsn: str) -> dict[str, str]:
    # COLUMNS: wide enough that the summary table does not wrap a cell.
    return {**os.environ, "AVWAP_PG_DSN": dsn, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def start_blocked(cmd: list[str], env: dict[str, str], err: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err.open("wb"), env=env, cwd=ROOT)
    assert proc.stdout is not None
    fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, 4096)
    return proc


def wait_first_commit(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if b"committed" in line:
            return
    pytest.fail(f"sync ended (code {proc.wait()}) before committing a chunk")


@pytest.fixture
def seeded(pg_dsn: str) -> str:
    seed_standard(pg_dsn, MINUTES)
    return pg_dsn


def test_sigkill_mid_run_then_rerun_gives_exactly_the_source(seeded: str, tmp_path: Path) -> None:
    proc = start_blocked(avwap(tmp_path, seeded), env_with(seeded), tmp_path / "err")
    wait_first_commit(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    want = expected_rows(seeded)
    partial = cache_rows(tmp_path / "cache.duckdb")
    assert 0 < len(partial) < len(want)  # really killed mid-run
    rerun = subprocess.run(avwap(tmp_path, seeded), env=env_with(seeded), capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    assert cache_rows(tmp_path / "cache.duckdb") == want
    with Cache(tmp_path / "cache.duckdb", read_only=True) as cache:
        assert cache.check_unique() == 0


def test_ctrl_c_stops_after_the_chunk_and_says_so(seeded: str, tmp_path: Path) -> None:
    err = tmp_path / "err"
    proc = start_blocked(avwap(tmp_path, seeded), env_with(seeded), err)
    wait_first_commit(proc)
    proc.send_signal(signal.SIGINT)
    proc.communicate()
    assert proc.returncode == 130
    message = err.read_text()
    assert "stopped by Ctrl-C" in message and "committed" in message
    kept = cache_rows(tmp_path / "cache.duckdb")
    want = expected_rows(seeded)
    assert 0 < len(kept) < len(want)
    assert kept == [r for r in want if r in set(kept)]  # what was kept is right
    rerun = subprocess.run(avwap(tmp_path, seeded), env=env_with(seeded), capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    assert cache_rows(tmp_path / "cache.duckdb") == want


def test_summary_table(seeded: str, tmp_path: Path) -> None:
    r = subprocess.run(
        avwap(tmp_path, seeded, "--symbols", "AAA,O'REILLY"),
        env=env_with(seeded),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "Sync summary" in r.stdout and "invalid symbol: 2" in r.stdout
    assert "AAA" in r.stdout and "total" in r.stdout


# ── faults: one line naming the problem, exit 2, cache unchanged, no password ──


def run_fault(tmp: Path, dsn: str, cfg: Path | None = None) -> tuple[int, str]:
    """In-process (start-up is the slow part of a subprocess): same ``main`` and streams."""
    db = tmp / "cache.duckdb"
    with Cache(db) as cache:  # a cache with content that must survive
        one = np.array([1.0])
        stamp = np.array(["2024-01-02T14:30"], "datetime64[us]")
        cache.write_bars(bars_table(["KEEP"], stamp, one, one, one, one, one))
        before = (cache.bar_count(), cache.info()["rejected"])
    out, err = io.StringIO(), io.StringIO()
    old_env = os.environ.get("AVWAP_PG_DSN")
    os.environ["AVWAP_PG_DSN"] = dsn
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(avwap(tmp, dsn, cfg=cfg)[3:])
    finally:
        if old_env is None:
            os.environ.pop("AVWAP_PG_DSN", None)
        else:
            os.environ["AVWAP_PG_DSN"] = old_env
    with Cache(db, read_only=True) as cache:
        assert (cache.bar_count(), cache.info()["rejected"]) == before
    assert PASSWORD not in out.getvalue() + err.getvalue()
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert len(lines) == 1, err.getvalue()
    return code, lines[0]


def test_unreachable_server(pg_server, tmp_path: Path) -> None:
    dsn = pg_server.dsn().replace(f"port={pg_server.port}", "port=1")
    code, line = run_fault(tmp_path, dsn)
    assert code == 2 and "cannot connect to PostgreSQL" in line and "refused" in line


def test_wrong_password(pg_server, tmp_path: Path) -> None:
    dsn = pg_server.url(password="Wr0ng-Pa55")
    code, line = run_fault(tmp_path, dsn)
    assert code == 2 and "password authentication failed" in line
    assert "Wr0ng-Pa55" not in line


def test_missing_table(pg_dsn: str, tmp_path: Path) -> None:
    code, line = run_fault(tmp_path, pg_dsn)
    assert code == 2 and "market.bars does not exist" in line


def test_missing_column(pg_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE public.minute_bars (ticker text, datetime timestamptz, o float8)")
    columns = '[pg.columns]\nsymbol = "ticker"\nts = "datetime"\nopen = "o"\n'
    cfg = write_config(tmp_path, "public.minute_bars", columns)
    code, line = run_fault(tmp_path, pg_dsn, cfg)
    assert code == 2 and "has no column high (for high)" in line


def test_bad_identifier_in_config(pg_dsn: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "bars; DROP TABLE x")
    code, line = run_fault(tmp_path, pg_dsn, cfg)
    assert code == 2 and "not a valid identifier" in line


def _stderr_line(proc: subprocess.Popen[bytes], marker: bytes) -> bytes:
    assert proc.stderr is not None
    for line in proc.stderr:
        if marker in line:
            return line
    pytest.fail(f"no stderr line with {marker!r} (exit {proc.wait()})")


def test_second_ctrl_c_aborts_at_once_and_leaves_the_cache_consistent(
    seeded: str, tmp_path: Path
) -> None:
    """Two Ctrl-C mid-run, the child blocked on its output (so it is surely still
    running when the second one comes): exit 130 at once, no traceback."""
    want = expected_rows(seeded)
    for phase in (b"committed",):
        proc = subprocess.Popen(
            avwap(tmp_path, seeded),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env_with(seeded),
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stderr is not None
        fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, 4096)
        for line in proc.stdout:
            if phase in line:
                break
        proc.send_signal(signal.SIGINT)
        _stderr_line(proc, b"stopping after the current chunk")
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        proc.stdout.close()
        assert proc.wait() == 130
        assert b"Traceback" not in rest and b"aborted by a second Ctrl-C" in rest
        kept = cache_rows(tmp_path / "cache.duckdb") if (tmp_path / "cache.duckdb").exists() else []
        assert set(kept) <= set(want)
        with Cache(tmp_path / "cache.duckdb") as cache:
            assert cache.check_unique() == 0
    rerun = subprocess.run(avwap(tmp_path, seeded), env=env_with(seeded), capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    assert cache_rows(tmp_path / "cache.duckdb") == want


def test_ctrl_c_while_connecting_stops_cleanly_and_says_so(seeded: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        avwap(tmp_path, seeded),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_with(seeded),
        cwd=ROOT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if b"connecting" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert b"stopped by Ctrl-C" in err and b"Traceback" not in err
