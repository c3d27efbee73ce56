"""Key remapping: the config's ``[keys]`` table maps a binding id to new keys.

Why ids: every ``Binding`` in the console has an ``id`` (``sort.next``,
``replay.speed`` …) so a user can move an action to another key without the
code knowing about it; Textual's keymap applies the change everywhere that id is
bound. Example::

    [keys]
    "sort.next" = "ctrl+o"
    "list.next" = "n,tab"

Unknown ids and non-string keys are reported (as warnings the app shows), not
fatal: a stale config must not stop the console from starting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.binding import Binding, BindingType


def binding_ids(classes: Iterable[type]) -> dict[str, Binding]:
    """Every ``Binding`` with an id declared on ``classes`` (and their bases)."""
    out: dict[str, Binding] = {}
    for cls in classes:
        for klass in cls.__mro__:
            for b in klass.__dict__.get("BINDINGS", []):
                if isinstance(b, Binding) and b.id:
                    out.setdefault(b.id, b)
    return out


def keymap_from_section(section: dict[str, Any], known: Iterable[str]
                        ) -> tuple[dict[str, str], list[str]]:
    """(keymap, warnings) from a config ``[keys]`` table."""
    known_ids = set(known)
    keymap: dict[str, str] = {}
    warnings: list[str] = []
    for bid, keys in section.items():
        if bid not in known_ids:
            warnings.append(f"[keys] {bid!r} is not a binding id (see ? for the list)")
            continue
        if not isinstance(keys, str) or not keys.strip():
            warnings.append(f"[keys] {bid!r} must be a key string like \"ctrl+o\"")
            continue
        keymap[bid] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return keymap, warnings


def all_bindings(classes: Iterable[type]) -> list[BindingType]:
    return list(binding_ids(classes).values())
