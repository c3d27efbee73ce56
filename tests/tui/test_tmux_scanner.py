"""The Scanner in a real terminal at 80x24: key 4, type a scan, see its matches, the scan
kept in scans.json beside the config, quit cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from _tmux import AVWAP, TMUX, keys, wait_for

from storage import demo
from storage.cache import Cache

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux not installed")


def test_scanner_at_80x24(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    cfg = tmp_path / "cfg"
    (cfg / "tickers").mkdir(parents=True)
    (cfg / "tickers" / "trio.txt").write_text("SPY\nAAPL\nMSFT\n")
    (cfg / "config.toml").write_text('tickers = "trio"\n[alerts]\ndesktop = "off"\n')
    with Cache(db) as c:
        demo.seed_cache(c, ["SPY", "AAPL", "MSFT"], 2)
        c.checkpoint()
    session = f"avwap-scan-{uuid.uuid4().hex[:8]}"
    cmd = (f"env AVWAP_CONFIG={cfg / 'config.toml'} {AVWAP} --db {db} tui --speed max "
           "--warm-days 1; echo AVWAP-EXIT=$?; sleep 30")
    assert TMUX is not None
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd],
                   check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        wait_for(session, lambda s: "AAPL" in s and "2025-11-21" in s, 150.0)
        keys(session, "4")
        wait_for(session, lambda s: "Scanner" in s and "name: expression" in s)
        keys(session, "-l", "pos: close > 0 | sort close")
        keys(session, "Enter")
        screen = wait_for(session, lambda s: all(x in s for x in ("SPY", "AAPL", "MSFT"))
                          and "pos" in s and "close > 0" in s)
        assert "close" in screen
        saved = json.loads((cfg / "scans.json").read_text())["scans"]
        assert saved == [{"name": "pos", "expression": "close > 0", "sort": "close",
                          "universe": "warm", "alert": False}]
        keys(session, "-l", "bad: rsi14 < 30")
        keys(session, "Enter")
        screen = wait_for(session, lambda s: "unknown name 'rsi14'" in s and "rsi_14" in s)
        # The line keeps q for typing (the footer does not offer it) until the focus has
        # left it: wait for the footer's "q Quit", the visible sign, before pressing q.
        assert "q Quit" not in screen
        keys(session, "Tab")
        wait_for(session, lambda s: "q Quit" in s)
        keys(session, "q")
        assert "AVWAP-EXIT=0" in wait_for(session, lambda s: "AVWAP-EXIT=" in s)
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], check=False, capture_output=True)
