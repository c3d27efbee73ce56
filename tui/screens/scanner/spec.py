"""What the trader types for a scan: ``name: expression | sort NAME | universe U | alert``.

Textual-free, so the console's tests and help read it the same way. The
universe is ``warm`` (default: every warm symbol), ``all`` (the same: the
console evaluates the warm universe) or a ticker list's name: the scan keeps the
name and follows the list as it is edited (``tui.runtime.scans.ListSymbols``).
A scan's name is letters, digits, ``_``, ``-`` and ``.`` (it is a key in
``scans.json`` and on screen; ``/`` is the Scanner's "new scan" key).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tui.runtime.scans import Scan

NAME = re.compile(r"[A-Za-z0-9_.\-]+")


class SpecError(ValueError):
    """A scan line the Scanner cannot read (one line for the trader)."""


def parse_spec(text: str, default_name: str,
               resolve: Callable[[str], tuple[str, ...]]) -> Scan:
    """``text`` as a ``Scan``; ``resolve`` checks a list name (its symbols, or an error)."""
    head, *opts = [p.strip() for p in text.split("|")]
    name, sep, expr = head.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        name, expr = default_name, head
    name, expr = name.strip(), expr.strip()
    if not NAME.fullmatch(name):
        raise SpecError(f"scan name {name!r}: use letters, digits, '_', '-' or '.'")
    if not expr:
        raise SpecError("type an expression, e.g. up: close > avwap_session_up2 and rvol > 2")
    sort, universe, alert = "", "warm", False
    uni: str | tuple[str, ...] = universe
    for opt in opts:
        key, _, val = opt.partition(" ")
        val = val.strip()
        if key == "alert" and not val:
            alert = True
        elif key == "sort" and val:
            sort = val
        elif key == "universe" and val:
            if val not in ("warm", "all"):
                resolve(val)  # a list that does not exist is refused now, in one line
            uni = val
        else:
            raise SpecError(f"{opt!r}: options are '| sort NAME', '| universe warm|all|LIST' "
                            "and '| alert'")
    return Scan(name, expr, sort, uni, alert)
