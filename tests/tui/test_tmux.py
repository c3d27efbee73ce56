"""The real ``avwap`` in a real terminal (tmux): it starts, shows bars, takes keys, quits.

Synchronisation is by polling ``capture-pane`` for expected text with a bounded
number of short polls, never by a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from storage import demo
from storage.cache import Cache

TMUX = shutil.which("tmux")
AVWAP = Path(sys.executable).with_name("avwap")
pytestmark = pytest.mark.skipif(TMUX is None or not AVWAP.exists(), reason="needs tmux + avwap")


def capture(session: str) -> str:
    return subprocess.run([TMUX, "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=False).stdout


def wait_for(session: str, predicate, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if predicate(screen):
            return screen
        time.sleep(0.2)  # polling interval, not synchronisation
    raise AssertionError(f"timed out; the screen was:\n{screen}")


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
        screen = wait_for(session, lambda s: "AAPL" in s and "2025-11-21" in s)
        assert "Symbol" in screen and "list trio (3)" in screen
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
