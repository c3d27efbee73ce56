"""Number, text and time formatting shared by every pane (and by the tests that read panes).

One place decides how a price, a percentage or a σ distance looks, so a test can
format the engine's Snapshot value the same way and compare strings exactly.

It is also the one place where text from data (symbols, list names, file
contents, error reasons, docs) becomes safe to show: ``safe`` escapes it for
markup, so ``close outside [low, high]`` or a CSV value ``[bold red]boom[/]``
reach the screen as written. Notifications, titles, labels, options and table
cells that go through a markup parser take their data text through ``safe``
(``tui.screens.console.screen.notify_plain`` wraps ``App.notify``); widgets that
draw ``Segment``s/``Text`` directly never parse markup.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np
from textual.markup import escape as _escape_markup

from storage.calendar import EXCHANGE_TZ
from storage.types import as_dt64

DASH = "—"
_TZ = ZoneInfo(EXCHANGE_TZ)


def safe(text: object) -> str:
    """``text`` escaped so a markup parser (Textual's or Rich's) shows it as written.

    Both parsers read ``[`` + a tag name as markup and ``\\[`` as a literal
    bracket, so one escape serves notifications, labels, options and Rich tables.
    """
    return _escape_markup(str(text))


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 symbol``, ``2 symbols``, ``1,000 symbols`` (``many`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _bad(x: float) -> bool:
    return x is None or not math.isfinite(x)


def price(x: float) -> str:
    if _bad(x):
        return DASH
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.4f}"


def pct(x: float) -> str:
    return DASH if _bad(x) else f"{x:+.2f}%"


def sigma(x: float) -> str:
    return DASH if _bad(x) else f"{x:+.2f}σ"


def ratio(x: float) -> str:
    return DASH if _bad(x) else f"{x:.2f}"


def volume(x: float) -> str:
    if _bad(x):
        return DASH
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def value(x: float) -> str:
    """A generic indicator value: 4 significant-ish digits, grouped."""
    if _bad(x):
        return DASH
    ax = abs(x)
    if ax >= 1e6:
        return volume(x)
    if ax >= 100:
        return f"{x:,.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.4f}"


def exchange_time(ts: np.datetime64 | None) -> str:
    """A UTC bar start as exchange wall time ``YYYY-MM-DD HH:MM ET``."""
    if ts is None:
        return "--:--"
    utc = as_dt64(ts).astype("datetime64[s]").astype(object)
    local = utc.replace(tzinfo=dt.UTC).astimezone(_TZ)
    return local.strftime("%Y-%m-%d %H:%M ET")
