"""Driving the real ``avwap`` in tmux: read the screen, wait for text, press keys.

Synchronisation is by polling ``capture-pane`` for expected text with a bounded
number of short polls, never by a fixed sleep.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TMUX = shutil.which("tmux")
AVWAP = Path(sys.executable).with_name("avwap")


def capture(session: str) -> str:
    assert TMUX is not None
    return subprocess.run([TMUX, "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=False).stdout


def wait_for(session: str, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if predicate(screen):
            return screen
        time.sleep(0.2)  # polling interval, not synchronisation
    raise AssertionError(f"timed out; the screen was:\n{screen}")


def keys(session: str, *k: str) -> None:
    assert TMUX is not None
    subprocess.run([TMUX, "send-keys", "-t", session, *k], check=True)
