"""The real ``avwap`` in tmux: key 2, a training started from the screen, its progress, cancel.

Synchronisation polls ``capture-pane`` for expected text with a bound, never a
fixed sleep (the same helpers as tests/tui/test_tmux.py).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from _tmux import AVWAP, TMUX, keys, wait_for

from storage import demo
from storage.cache import Cache

pytestmark = pytest.mark.skipif(TMUX is None or not AVWAP.exists(), reason="needs tmux + avwap")
SYMBOLS = ("SPY", "AAPL", "MSFT", "NVDA")


@pytest.mark.slow
def test_a_training_started_from_the_screen_shows_progress(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    cfg = tmp_path / "cfg"
    (cfg / "tickers").mkdir(parents=True)
    (cfg / "tickers" / "quad.txt").write_text("\n".join(SYMBOLS) + "\n")
    (cfg / "config.toml").write_text('tickers = "quad"\n')
    with Cache(db) as c:  # enough sessions for the default 20 days and 1,000 samples
        demo.seed_cache(c, SYMBOLS, 24, end=demo.DEFAULT_END)
        c.checkpoint()
    session = f"avwap-train-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TERM": "xterm-256color", "AVWAP_CONFIG": str(cfg / "config.toml"),
           "AVWAP_MODELS_DIR": str(tmp_path / "models")}
    cmd = f"{AVWAP} --db {db} tui --speed 60; echo AVWAP-EXIT=$?; sleep 60"
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd],
                   check=True, env=env)
    try:
        wait_for(session, lambda s: "list quad" in s and "AAPL" in s, timeout=120)
        keys(session, "2")
        screen = wait_for(session, lambda s: "Ticker list" in s and "Precheck" in s, timeout=120)
        assert "Start (ctrl+t)" in screen
        # The live precheck (a child process) measures a step: then Start is enabled.
        wait_for(session, lambda s: "Epoch ≈" in s, timeout=240)
        keys(session, "C-t")
        wait_for(session, lambda s: "Epoch 1/10" in s, timeout=240)
        keys(session, "C-x")
        # The child saves its checkpoint and exits; then the job ends and says so.
        wait_for(session, lambda s: "Training cancelled" in s, timeout=120)
        keys(session, "q")
        screen = wait_for(session, lambda s: "AVWAP-EXIT=" in s, timeout=60)
        assert "AVWAP-EXIT=0" in screen
        assert any((tmp_path / "models").iterdir()), "the cancelled run kept no checkpoint"
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], check=False, capture_output=True)
