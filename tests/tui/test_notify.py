"""Desktop notifications (OSC 9 / OSC 777) and their config switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.config import load_config
from storage.errors import ConfigError
from storage.settings import ALERTS
from tui.notify import desktop_notify, sequence


def test_sequences_and_injection() -> None:
    assert sequence("osc9", "AVWAP alert", "SPY entered scan 'up'") == \
        "\x1b]9;AVWAP alert: SPY entered scan 'up'\x07"
    assert sequence("osc777", "A;B", "x") == "\x1b]777;notify;A,B;x\x1b\\"
    assert sequence("off", "t", "b") == ""
    evil = sequence("osc9", "t", "a\x07\x1b]0;pwned\x1b\\b")
    assert evil.count("\x07") == 1 and evil.count("\x1b") == 1  # only the sequence's own


class _App:
    is_headless = False

    def __init__(self) -> None:
        self.written: list[str] = []
        self._driver = self

    def write(self, text: str) -> None:
        self.written.append(text)


def test_written_to_the_terminal_unless_off_or_headless() -> None:
    app = _App()
    desktop_notify(app, "osc777", "t", "b")
    desktop_notify(app, "off", "t", "b")
    assert app.written == ["\x1b]777;notify;t;b\x1b\\"]
    app.is_headless = True
    desktop_notify(app, "osc9", "t", "b")
    assert len(app.written) == 1


def test_config_switch(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[alerts]\ndesktop = "off"\n')
    assert ALERTS.read(load_config(cfg).section("alerts"), "x")["desktop"] == "off"
    assert ALERTS.read({}, "x")["desktop"] == "osc9"
    cfg.write_text('[alerts]\ndesktop = "loud"\n')
    with pytest.raises(ConfigError, match="desktop must be 'osc9', 'osc777' or 'off'"):
        ALERTS.read(load_config(cfg).section("alerts"), "x")
