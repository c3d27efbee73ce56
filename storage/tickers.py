"""Ticker lists: which symbols the console watches, read from small files.

Why a module of its own: a list is edited by hand (the shipped ones in the
repo's ``tickers/`` folder, the user's own under ``config_dir()/"tickers"``),
so a typo must not surface minutes later as an empty pane or a failed IB
request. Every list is validated on load, and every problem is one
``TickerListError`` whose message names the file and what is wrong with it
(the line and column of broken JSON, the index of a bad symbol, the
duplicated names), so the CLI and the TUI can show ``str(err)`` as is.

Two formats are read:

* JSON: ``{"name": "...", "description": "...", "symbols": ["SPY", ...]}``.
  ``symbols`` is required; ``name`` and ``description`` are optional strings.
* Text (any other suffix): one symbol per line and/or comma separated; ``#``
  starts a comment; blank lines are skipped.

Symbols are stripped and upper-cased; a valid symbol is 1 to 12 characters of
``A-Z 0-9 . - / ^`` (``BRK.B``, ``BRK/B``, ``^VIX``).

Lists are edited in place (``create_list``, ``add_symbols``, ``remove_symbols``,
``delete_list``; the console's ``+``/``-``/``N`` keys and ``avwap lists``): an
edit is written atomically as the user's ``<name>.json``, so editing a shipped
list makes a user copy that overrides it and the repo's ``tickers/`` files are
never written.

A list is addressed by its file stem (``curated`` for ``curated.json``), which
is also ``TickerList.name``, so ``load_list(tl.name)`` always finds it again.

Built-in lists are found relative to this package
(``Path(__file__).resolve().parent.parent / "tickers"``): that is the repo's
top-level ``tickers/`` folder, present in a checkout and in the editable
install ``make install`` does. A non-editable wheel would not carry it; the
built-ins then simply do not appear and user lists still work.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import atomic
from storage.config import config_dir
from storage.errors import TickerListError

SYMBOL_RE = re.compile(r"[A-Z0-9.\-/^]{1,12}")
TEXT_SUFFIXES = (".txt", ".csv", ".lst")
_USER_SUFFIXES = (*TEXT_SUFFIXES, ".json")  # later suffix wins for one stem


@dataclass(frozen=True)
class TickerList:
    """A validated list: unique upper-case symbols in file order."""

    name: str
    description: str
    symbols: tuple[str, ...]
    path: Path

    def __len__(self) -> int:
        return len(self.symbols)


def builtin_dir() -> Path:
    """The repo's ``tickers/`` folder that ships beside ``storage/``."""
    return Path(__file__).resolve().parent.parent / "tickers"


def user_tickers_dir() -> Path:
    """Where the user's own lists live: ``config_dir()/"tickers"``."""
    return config_dir() / "tickers"


def available_lists(user_dir: Path | None = None) -> dict[str, Path]:
    """Every list by name: the built-in ones, then the user's beside them.

    Built-ins are the ``*.json`` files in ``builtin_dir()``; user lists are the
    ``*.json``, ``*.txt``, ``*.csv`` and ``*.lst`` files in ``user_dir``
    (default ``config_dir()/"tickers"``). A user list with the same name as a
    built-in one overrides it (so a user can edit ``curated`` without touching
    the install); within the user folder, ``x.json`` wins over ``x.txt``.
    Names come from file stems and are returned sorted; a missing folder just
    contributes nothing. Files are not opened here: errors surface on load.
    """
    found: dict[str, Path] = {}
    bdir = builtin_dir()
    if bdir.is_dir():
        for p in sorted(bdir.glob("*.json")):
            found[p.stem] = p
    udir = user_tickers_dir() if user_dir is None else Path(user_dir).expanduser()
    if udir.is_dir():
        for suffix in _USER_SUFFIXES:
            for p in sorted(udir.glob(f"*{suffix}")):
                if p.is_file():
                    found[p.stem] = p
    return dict(sorted(found.items()))


def load_list(name_or_path: str | Path, user_dir: Path | None = None) -> TickerList:
    """Load and validate a list given by name (see ``available_lists``) or path.

    A ``Path``, or a string that is not a known list name and looks like a file
    (has a separator or a suffix, or exists), is read as a file; ``.json`` as
    JSON, anything else as text. Raises ``TickerListError`` on any problem.
    """
    path = _resolve(name_or_path, user_dir)
    if not path.is_file():
        raise TickerListError(f"{path}: ticker list file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise TickerListError(f"{path}: ticker list cannot be read: {reason}") from e
    if path.suffix.lower() == ".json":
        description, raw = _parse_json(path, text)
    else:
        description, raw = "", _parse_text(text)
    symbols = _validate(path, raw)
    return TickerList(name=path.stem, description=description, symbols=symbols, path=path)


def cycle_next(current: str | None, names: Sequence[str], step: int = 1) -> str:
    """The name after ``current`` in ``names``, wrapping (``step=-1`` goes back).

    An unknown or ``None`` current gives the first name; an empty ``names`` is
    a ``TickerListError`` since there is nothing to switch to.
    """
    if not names:
        raise TickerListError("no ticker lists are available to switch to")
    if current is None or current not in names:
        return names[0]
    return names[(list(names).index(current) + step) % len(names)]


@dataclass(frozen=True)
class DemoTraits:
    """How the demo market draws one symbol: its starting price and, when the
    table states them, its beta to the index factor, its own daily volatility and
    its (approximate) average daily volume in shares."""

    price: float
    beta: float | None = None
    daily_vol: float | None = None
    adv: float | None = None


#: The shipped table of demo traits (``symbol,price,beta,daily_vol,adv``; ``#`` comments).
PRICES_FILE = "prices.csv"


def demo_traits(path: Path | None = None) -> dict[str, DemoTraits]:
    """The demo market's per-symbol table (``tickers/prices.csv``), empty if absent.

    Why a file: a trader judges the demo by whether SPY trades near SPY's price;
    the table is data, edited like the lists, not code. A broken line is a
    ``TickerListError`` naming the file and line.
    """
    p = builtin_dir() / PRICES_FILE if path is None else path
    if not p.is_file():
        return {}
    out: dict[str, DemoTraits] = {}
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("symbol,"):
            continue
        parts = [x.strip() for x in line.split(",")] + ["", "", ""]
        try:
            price = float(parts[0 + 1])
            beta = float(parts[2]) if parts[2] else None
            vol = float(parts[3]) if parts[3] else None
            adv = float(parts[4]) if parts[4] else None
        except ValueError:
            raise TickerListError(
                f"{p}: line {lineno}: expected symbol,price[,beta,daily_vol,adv]") from None
        if not price > 0 or (vol is not None and not vol >= 0) or (
                adv is not None and not adv > 0):
            raise TickerListError(
                f"{p}: line {lineno}: price must be > 0, daily_vol >= 0 and adv > 0")
        out[parts[0].upper()] = DemoTraits(price, beta, vol, adv)
    return out


# ── editing lists (the console's ``+``/``-``/``N`` and ``avwap lists``) ─────────

#: A list name is a file stem: letters, digits, ``_`` and ``-``, starting with a
#: letter or digit (no path separators, no dots: ``../x`` or ``x.json`` cannot be one).
LIST_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,39}")


def check_list_name(name: str) -> str:
    """``name`` stripped, or a ``TickerListError`` saying what a list name may hold."""
    clean = name.strip()
    if not LIST_NAME_RE.fullmatch(clean):
        raise TickerListError(
            f"invalid list name {name!r}: use 1 to 40 characters from A-Z a-z 0-9 _ - "
            "starting with a letter or digit"
        )
    return clean


def check_symbol(symbol: str) -> str:
    """``symbol`` stripped and upper-cased, or a one-line ``TickerListError``."""
    sym = symbol.strip().upper()
    if not SYMBOL_RE.fullmatch(sym):
        raise TickerListError(
            f"invalid symbol {symbol!r}: use 1 to 12 characters from A-Z 0-9 . - / ^")
    return sym


def create_list(name: str, symbols: Sequence[str], description: str = "",
                user_dir: Path | None = None) -> TickerList:
    """A new user list ``name`` holding ``symbols`` (in order, duplicates once).

    Refused (``TickerListError``) when a list of that name exists (shipped or
    the user's), when the name or a symbol is invalid, or when ``symbols`` is
    empty: the loader refuses empty lists, so an empty file would only show up
    as a broken list.
    """
    name = check_list_name(name)
    if name in available_lists(user_dir):
        raise TickerListError(f"a ticker list named {name!r} already exists")
    syms = _unique(check_symbol(s) for s in symbols)
    if not syms:
        raise TickerListError(f"the new list {name!r} needs at least one symbol")
    return _save(_udir(user_dir), name, description, syms)


def add_symbols(name: str, symbols: Sequence[str], user_dir: Path | None = None) -> TickerList:
    """List ``name`` with ``symbols`` appended (those already in it are left where they are).

    The result is saved as the user's ``<name>.json``: a shipped list gets a user
    copy of the same name (which overrides it, see ``available_lists``) and the
    shipped file is never written. Nothing new to add: nothing is written.
    """
    tl = _editable(name, user_dir)
    new = [s for s in _unique(check_symbol(s) for s in symbols) if s not in tl.symbols]
    if not new:
        return tl
    return _save(_udir(user_dir), tl.name, tl.description, (*tl.symbols, *new), tl.path)


def remove_symbols(name: str, symbols: Sequence[str],
                   user_dir: Path | None = None) -> TickerList:
    """List ``name`` without ``symbols``, saved like ``add_symbols``.

    A symbol not in the list, or removing every symbol (a list needs one; delete
    the list instead), is a ``TickerListError``.
    """
    tl = _editable(name, user_dir)
    drop = _unique(check_symbol(s) for s in symbols)
    absent = [s for s in drop if s not in tl.symbols]
    if absent:
        raise TickerListError(f"{', '.join(absent)} not in the list {tl.name!r}")
    kept = tuple(s for s in tl.symbols if s not in drop)
    if not kept:
        raise TickerListError(
            f"cannot remove every symbol of {tl.name!r}: a list needs at least one "
            "(delete the list instead)")
    return _save(_udir(user_dir), tl.name, tl.description, kept, tl.path)


def delete_list(name: str, user_dir: Path | None = None) -> Path | None:
    """Delete the user's list ``name``; returns the shipped list it uncovers, if any.

    A shipped list itself cannot be deleted (``TickerListError``): only a user
    copy of it, which brings the shipped one back.
    """
    lists = available_lists(user_dir)
    if name not in lists:
        raise TickerListError(_unknown(name, lists))
    path = lists[name]
    if _is_builtin(path):
        raise TickerListError(
            f"{name!r} is a shipped list and cannot be deleted (only your copies can)")
    path.unlink()
    shipped = builtin_dir() / f"{name}.json"
    return shipped if shipped.is_file() else None


def _udir(user_dir: Path | None) -> Path:
    return user_tickers_dir() if user_dir is None else Path(user_dir).expanduser()


def _is_builtin(path: Path) -> bool:
    return path.resolve().parent == builtin_dir().resolve()


def _unique(symbols: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(symbols))


def _unknown(name: str, lists: dict[str, Path]) -> str:
    return f"no ticker list named {name!r} (available: {', '.join(lists) or 'none'})"


def _editable(name: str, user_dir: Path | None) -> TickerList:
    """The list ``name`` as loaded (names only, never a path: edits stay in the user dir)."""
    lists = available_lists(user_dir)
    if name not in lists:
        raise TickerListError(_unknown(name, lists))
    return load_list(lists[name])


def _save(udir: Path, name: str, description: str, symbols: tuple[str, ...],
          old: Path | None = None) -> TickerList:
    """Write ``<udir>/<name>.json`` atomically (a temp file renamed over it).

    Why atomic: a crash or a full disk mid-write must leave the old list, never
    half a JSON file the next start reports as broken. A user text list
    (``name.txt``) becomes JSON; the text file is renamed ``name.txt.bak`` so it
    neither shadows nor is shadowed silently, and the user keeps its comments.
    """
    if udir.resolve() == builtin_dir().resolve():
        raise TickerListError(f"{udir}: the shipped lists' folder is not a user tickers folder")
    path = udir / f"{name}.json"
    data = {"name": name, "description": description, "symbols": list(symbols)}
    try:
        udir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, data, indent=2)
        if old is not None and old != path and not _is_builtin(old) and old.is_file():
            os.replace(old, old.with_name(old.name + ".bak"))
    except OSError as e:
        raise TickerListError(f"{udir}: cannot save the list {name!r}: {e.strerror}") from e
    return TickerList(name=name, description=description, symbols=symbols, path=path)


# ── internals ────────────────────────────────────────────────────────────────


def _resolve(name_or_path: str | Path, user_dir: Path | None) -> Path:
    if isinstance(name_or_path, Path):
        return name_or_path.expanduser()
    lists = available_lists(user_dir)
    if name_or_path in lists:
        return lists[name_or_path]
    candidate = Path(name_or_path).expanduser()
    looks_like_file = (
        "/" in name_or_path or "\\" in name_or_path or candidate.suffix != "" or candidate.exists()
    )
    if looks_like_file:
        return candidate
    known = ", ".join(lists) or "none"
    raise TickerListError(
        f"no ticker list named {name_or_path!r} (available: {known}); "
        "give a list name or a path to a .json or text file"
    )


def _parse_json(path: Path, text: str) -> tuple[str, list[tuple[Any, str]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TickerListError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from e
    if not isinstance(data, dict):
        raise TickerListError(
            f'{path}: top level must be a JSON object with a "symbols" list, not {_json_type(data)}'
        )
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise TickerListError(f'{path}: "{key}" must be a string, not {_json_type(data[key])}')
    if "symbols" not in data:
        raise TickerListError(f'{path}: missing the "symbols" key (a list of ticker strings)')
    raw = data["symbols"]
    if not isinstance(raw, list):
        raise TickerListError(f'{path}: "symbols" must be a list of strings, not {_json_type(raw)}')
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise TickerListError(
                f'{path}: "symbols" must be a list of strings; item {i} is '
                f"{_json_type(item)} {json.dumps(item)}"
            )
    return data.get("description", ""), [(s, f"index {i}") for i, s in enumerate(raw)]


def _parse_text(text: str) -> list[tuple[Any, str]]:
    out: list[tuple[Any, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        for token in line.split("#", 1)[0].split(","):
            if token.strip():
                out.append((token.strip(), f"index {len(out)}, line {lineno}"))
    return out


def _validate(path: Path, raw: list[tuple[Any, str]]) -> tuple[str, ...]:
    if not raw:
        raise TickerListError(f"{path}: the list is empty; it needs at least one symbol")
    symbols: list[str] = []
    for token, where in raw:
        sym = token.strip().upper()
        if not SYMBOL_RE.fullmatch(sym):
            raise TickerListError(
                f"{path}: invalid symbol {token!r} at {where}: "
                "use 1 to 12 characters from A-Z 0-9 . - / ^"
            )
        symbols.append(sym)
    dups = [s for s, n in Counter(symbols).items() if n > 1]
    if dups:
        raise TickerListError(f"{path}: duplicate symbols: {', '.join(dups)}")
    return tuple(symbols)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
