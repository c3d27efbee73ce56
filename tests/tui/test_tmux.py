"""The real ``avwap`` in a real terminal (tmux): it starts, shows bars, takes keys, quits.

And it leaves cleanly however it is asked to: ``q`` and Ctrl-C with an IB
feed whose gateway is unreachable, SIGTERM, and its terminal going away (the
tmux session killed: SIGHUP; and with SIGHUP ignored, the hung-up tty); it
refuses to start without a terminal.

Synchronisation is by polling ``capture-pane`` (or the process table) for the
expected state with a bounded number of short polls, never by a fixed sleep.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from _tmux import AVWAP, TMUX, wait_for

from storage import demo
from storage.cache import Cache

pytestmark = pytest.mark.skipif(TMUX is None or not AVWAP.exists(), reason="needs tmux + avwap")


def test_avwap_runs_in_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    lst = tmp_path / "cfg" / "tickers"
    lst.mkdir(parents=True)
    (lst / "trio.txt").write_text("SPY\nAAPL\nMSFT\n")
    (tmp_path / "cfg" / "config.toml").write_text('tickers = "trio"\n')
    with Cache(db) as c:
        demo.seed_cache(c, ["SPY", "AAPL", "MSFT"], 2)
        c.checkpoint()
    session = f"avwap-{uuid.uuid4().hex[:8]}"
    env_cfg = f"AVWAP_CONFIG={tmp_path / 'cfg' / 'config.toml'}"
    cmd = (f"env {env_cfg} {AVWAP} --db {db} tui --speed max --warm-days 1; "
           "echo AVWAP-EXIT=$?; sleep 30")
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd],
                   check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        screen = wait_for(session, lambda s: "AAPL" in s and "2025-11-21" in s, 150.0)
        assert "Symbol" in screen and "list trio (3 symbols)" in screen
        subprocess.run([TMUX, "send-keys", "-t", session, "?"], check=True)
        wait_for(session, lambda s: "remap in the config" in s)
        subprocess.run([TMUX, "send-keys", "-t", session, "Escape"], check=True)
        wait_for(session, lambda s: "remap in the config" not in s)
        subprocess.run([TMUX, "send-keys", "-t", session, "q"], check=True)
        screen = wait_for(session, lambda s: "AVWAP-EXIT=" in s)
        assert "AVWAP-EXIT=0" in screen
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], check=False,
                       capture_output=True)


# -- leaving cleanly -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("tmuxdb") / "demo.duckdb"
    with Cache(db) as c:
        demo.seed_cache(c, ["SPY", "AAPL", "MSFT"], 2)
        c.checkpoint()
    return db


def free_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp_path: Path, args: str, *, size: tuple[int, int] = (80, 24),
          ignore_hup: bool = False) -> tuple[str, Path]:
    """Start ``avwap ARGS`` in a new tmux session; its pid is written to the returned file.

    The shell records its pid and ``exec``s avwap (so the pid is avwap's), then
    the pane's shell prints ``AVWAP-EXIT=<status>`` and lingers for the capture.
    """
    session = f"avwap-{uuid.uuid4().hex[:8]}"
    pid_file = tmp_path / f"{session}.pid"
    cfg = tmp_path / "config.toml"
    cfg.write_text('tickers = "curated"\n')
    inner = f"echo $$ > {pid_file}; exec env AVWAP_CONFIG={cfg} {AVWAP} {args}"
    trap = "trap '' HUP; " if ignore_hup else ""
    cmd = f"{trap}sh -c {shlex.quote(inner)}; echo AVWAP-EXIT=$?; sleep 30"
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", str(size[0]),
                    "-y", str(size[1]), cmd], check=True,
                   env={**os.environ, "TERM": "xterm-256color"})
    return session, pid_file


def pid_of(pid_file: Path, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text().strip():
            return int(pid_file.read_text())
        time.sleep(0.05)
    raise AssertionError("avwap never started")


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (exited, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running(pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"avwap (pid {pid}) still running {timeout} s later")


def kill_session(session: str) -> None:
    subprocess.run([TMUX, "kill-session", "-t", session], check=False, capture_output=True)


@pytest.mark.parametrize("key", ["q", "C-c"])
def test_quit_with_an_unreachable_ib_gateway(tmp_path: Path, small_db: Path, key: str) -> None:
    """Issue 17: `q` with --feed ib and no gateway hung for minutes; the first Ctrl-C was
    ignored. The console must be gone promptly after the first key."""
    session, pid_file = start(tmp_path, f"--db {small_db} tui --feed ib --ib-port {free_port()}")
    try:
        pid = pid_of(pid_file)
        wait_for(session, lambda s: "● DOWN" in s or "CONNECTING" in s or "WARMING" in s)
        subprocess.run([TMUX, "send-keys", "-t", session, key], check=True)
        # Gone after the first key (it used to hang for minutes, or ignore Ctrl-C). The
        # bound is generous: the exit waits for the MLX thread's current call, which on
        # a loaded machine can stretch past the 5 s this allowed before.
        wait_gone(pid, timeout=30.0)
        assert "AVWAP-EXIT=0" in wait_for(session, lambda s: "AVWAP-EXIT=" in s, 30.0)
    finally:
        kill_session(session)


@pytest.mark.parametrize("ignore_hup", [False, True], ids=["sighup", "hup-ignored"])
def test_killing_the_terminal_ends_the_console(tmp_path: Path, small_db: Path,
                                               ignore_hup: bool) -> None:
    """Issue 17: after `tmux kill-session` the console ran on at 80 % CPU. With SIGHUP
    it quits through the runtime's shutdown; with SIGHUP ignored (nohup), the hung-up
    tty is noticed within a second and it quits the same way."""
    session, pid_file = start(tmp_path, f"--db {small_db} tui --speed max --history-days 2",
                              ignore_hup=ignore_hup)
    try:
        pid = pid_of(pid_file)
        wait_for(session, lambda s: "Symbol" in s)  # drawn (warming or live)
    finally:
        kill_session(session)
    # Bounded by the MLX thread's current call (a first warm-up on a busy machine).
    wait_gone(pid, timeout=60.0)


def test_sigterm_quits_cleanly(tmp_path: Path, small_db: Path) -> None:
    session, pid_file = start(tmp_path, f"--db {small_db} tui --speed max --history-days 2")
    try:
        pid = pid_of(pid_file)
        wait_for(session, lambda s: "Symbol" in s)
        os.kill(pid, 15)
        wait_gone(pid, timeout=60.0)
        # 128 + SIGTERM, and the shell prompt is back on a normal screen.
        assert "AVWAP-EXIT=143" in wait_for(session, lambda s: "AVWAP-EXIT=" in s, 30.0)
    finally:
        kill_session(session)


def test_refuses_to_start_without_a_terminal(small_db: Path) -> None:
    """Issue 17: with stdout a pipe it wrote escape codes into it and spun."""
    proc = subprocess.run([str(AVWAP), "--db", str(small_db), "tui"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "avwap: error: the console needs a terminal, and stdin is not one; run `avwap tui` "
        "in a terminal (the other commands work in scripts)"]
