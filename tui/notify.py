"""Desktop notifications for alerts, through the terminal (OSC 9 or OSC 777).

Why escape sequences: the console runs in a terminal, often over SSH or in
tmux, where no desktop notification service is reachable; terminals that
support it (iTerm2, WezTerm, kitty, Windows Terminal: OSC 9; foot, urxvt,
Ghostty, VTE-based: OSC 777) turn the sequence into the desktop's own
notification. Which one is the config's ``[alerts] desktop`` (``osc9``,
``osc777`` or ``off``); the console writes it beside its bell.
"""

from __future__ import annotations

import re
from typing import Any

KINDS = ("osc9", "osc777", "off")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sequence(kind: str, title: str, body: str) -> str:
    """The escape sequence for one notification ("" for ``off``); control characters
    (which could end the sequence early or inject another) are removed."""
    title, body = _CONTROL.sub(" ", title), _CONTROL.sub(" ", body)
    if kind == "osc9":
        return f"\x1b]9;{title}: {body}\x07"
    if kind == "osc777":
        return f"\x1b]777;notify;{title.replace(';', ',')};{body}\x1b\\"
    return ""


def desktop_notify(app: Any, kind: str, title: str, body: str) -> None:
    """Write the notification to the app's terminal (nothing when headless, as the bell)."""
    seq = sequence(kind, title, body)
    driver = getattr(app, "_driver", None)  # Textual's own bell writes through it too
    if seq and not getattr(app, "is_headless", True) and driver is not None:
        driver.write(seq)
