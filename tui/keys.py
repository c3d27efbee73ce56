"""Key remapping: the config's ``[keys]`` table maps a binding id to new keys.

Why ids: every ``Binding`` in the console has an ``id`` (``sort.next``,
``replay.speed`` …) so a user can move an action to another key without the
code knowing about it; Textual's keymap applies the change everywhere that id is
bound. Example::

    [keys]
    "sort.next" = "ctrl+o"
    "list.next" = "n,tab"

Unknown ids and non-string keys are reported (as warnings the app shows), not
fatal: a stale config must not stop the console from starting. A remap onto a
key another action already answers to in the same place is a ``ConfigError``
naming both actions: it would silently unbind (or, from a focused widget,
shadow) the other one. The same place: the same screen or widget class, an
app-wide binding, or a widget and a screen of the same folder (a screen's
folder holds the widgets it composes, and the focused widget's keys come
before its screen's: the watchlist's ``o`` would hide a screen key remapped to
``o``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from textual.app import App
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen

from storage.errors import ConfigError


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def binding_ids(classes: Iterable[type] | None = None) -> dict[str, Binding]:
    """Every ``Binding`` with an id declared on ``classes`` (and their bases).

    With no ``classes``: every app, screen and widget class defined so far (all
    subclasses of Textual's ``DOMNode``), so a new screen's keys are remappable
    without being listed anywhere.
    """
    out: dict[str, Binding] = {}
    for cls in (classes if classes is not None else _subclasses(DOMNode)):
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
    clashes = key_clashes(keymap)
    if clashes:
        raise ConfigError("[keys] " + "; ".join(clashes))
    return keymap, warnings


def _scopes() -> dict[str, set[type]]:
    """Binding id -> the classes declaring it (an ``App`` subclass: active everywhere)."""
    out: dict[str, set[type]] = {}
    for cls in _subclasses(DOMNode):
        for b in cls.__dict__.get("BINDINGS", []):
            if isinstance(b, Binding) and b.id:
                out.setdefault(b.id, set()).add(cls)
    return out


def _folder(cls: type) -> str:
    return cls.__module__.rpartition(".")[0]


def _together(a: type, b: type) -> bool:
    """Whether keys declared on ``a`` and on ``b`` can be active at once (see the docstring)."""
    if a is b or issubclass(a, App) or issubclass(b, App):
        return True
    if issubclass(a, Screen) == issubclass(b, Screen):
        return False  # two screens, or two widgets side by side
    return _folder(a) == _folder(b)


def key_clashes(keymap: dict[str, str]) -> list[str]:
    """Messages for each remapped key another action in the same scope already uses."""
    bindings = binding_ids(_subclasses(DOMNode))
    scopes = _scopes()
    effective = {
        bid: {k.strip() for k in keymap.get(bid, b.key).split(",") if k.strip()}
        for bid, b in bindings.items()
    }
    out: list[str] = []
    seen: set[frozenset[str]] = set()
    for bid in keymap:
        mine = scopes.get(bid, set())
        for other, keys in effective.items():
            theirs = scopes.get(other, set())
            shared = any(_together(a, b) for a in mine for b in theirs)
            clash = sorted(effective[bid] & keys)
            pair = frozenset((bid, other))
            if other != bid and shared and clash and pair not in seen:
                seen.add(pair)
                out.append(
                    f"{bid!r} = {', '.join(clash)!r} takes the key of {other!r}; "
                    f"remap {other!r} too or choose another key"
                )
    return out


def all_bindings(classes: Iterable[type]) -> list[BindingType]:
    return list(binding_ids(classes).values())
