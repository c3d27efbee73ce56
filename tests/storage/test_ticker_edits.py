"""Editing ticker lists: create, add, remove, delete; shipped lists stay untouched.

The shipped files are compared byte for byte before and after every edit of a
shipped list, because "the repo's tickers/ folder is never written" is the
promise the console's ``+``/``-`` keys rely on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.errors import TickerListError
from storage.tickers import (
    add_symbols,
    available_lists,
    builtin_dir,
    check_list_name,
    create_list,
    delete_list,
    load_list,
    remove_symbols,
)


@pytest.fixture
def udir(tmp_path: Path) -> Path:
    return tmp_path / "tickers"  # not created yet: the first edit makes it


@pytest.fixture
def shipped() -> dict[Path, bytes]:
    """Every shipped file's bytes, to check after the test that none changed."""
    return {p: p.read_bytes() for p in sorted(builtin_dir().iterdir()) if p.is_file()}


def assert_untouched(shipped: dict[Path, bytes]) -> None:
    now = {p: p.read_bytes() for p in sorted(builtin_dir().iterdir()) if p.is_file()}
    assert now == shipped


def one_line_error(fn, *args, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(TickerListError) as info:
        fn(*args, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_create_add_remove_round_trip(udir: Path) -> None:
    tl = create_list("swing", ["aapl", " msft ", "AAPL"], "my swing names", user_dir=udir)
    assert tl.symbols == ("AAPL", "MSFT")  # upper-cased, stripped, duplicates once
    assert tl.path == udir / "swing.json"
    data = json.loads(tl.path.read_text())
    assert data == {"name": "swing", "description": "my swing names",
                    "symbols": ["AAPL", "MSFT"]}
    assert load_list("swing", udir).symbols == ("AAPL", "MSFT")

    tl = add_symbols("swing", ["nvda", "MSFT", "brk.b"], udir)
    assert tl.symbols == ("AAPL", "MSFT", "NVDA", "BRK.B")  # MSFT stays where it was
    assert load_list("swing", udir).symbols == tl.symbols
    assert load_list("swing", udir).description == "my swing names"

    tl = remove_symbols("swing", ["msft"], udir)
    assert tl.symbols == ("AAPL", "NVDA", "BRK.B")
    assert load_list("swing", udir).symbols == tl.symbols
    assert not list(udir.glob(".*.tmp"))  # the atomic write's temp file is gone


def test_add_nothing_new_writes_nothing(udir: Path) -> None:
    tl = create_list("one", ["SPY"], user_dir=udir)
    inode = tl.path.stat().st_ino  # a save renames a new file over it: a new inode
    assert add_symbols("one", ["spy"], udir).symbols == ("SPY",)
    assert tl.path.stat().st_ino == inode
    assert add_symbols("one", ["QQQ"], udir).symbols == ("SPY", "QQQ")
    assert tl.path.stat().st_ino != inode


def test_editing_a_shipped_list_writes_a_user_copy(udir: Path,
                                                   shipped: dict[Path, bytes]) -> None:
    curated = load_list(builtin_dir() / "curated.json")
    new = "ZZTOP" if "ZZTOP" not in curated.symbols else "ZZTOQ"
    tl = add_symbols("curated", [new], udir)
    assert tl.path == udir / "curated.json"
    assert tl.symbols == (*curated.symbols, new)
    assert tl.description == curated.description
    assert available_lists(udir)["curated"] == udir / "curated.json"  # the copy overrides
    assert_untouched(shipped)

    first = curated.symbols[0]
    tl = remove_symbols("curated", [first], udir)
    assert first not in tl.symbols and new in tl.symbols
    assert_untouched(shipped)

    # Deleting the copy brings the shipped list back; the shipped one cannot be deleted.
    assert delete_list("curated", udir) == builtin_dir() / "curated.json"
    assert load_list("curated", udir).symbols == curated.symbols
    msg = one_line_error(delete_list, "curated", udir)
    assert "shipped list" in msg
    assert_untouched(shipped)


def test_a_user_text_list_becomes_json_and_keeps_the_original(udir: Path) -> None:
    udir.mkdir()
    (udir / "mine.txt").write_text("# my names\nSPY, QQQ\n")
    tl = add_symbols("mine", ["IWM"], udir)
    assert tl.path == udir / "mine.json"
    assert load_list("mine", udir).symbols == ("SPY", "QQQ", "IWM")
    assert not (udir / "mine.txt").exists()
    assert (udir / "mine.txt.bak").read_text() == "# my names\nSPY, QQQ\n"


@pytest.mark.parametrize("name", ["", "a b", "../evil", "x.json", "-dash", "a/b", "x" * 41])
def test_bad_list_names_are_one_line(udir: Path, name: str) -> None:
    msg = one_line_error(create_list, name, ["SPY"], user_dir=udir)
    assert "invalid list name" in msg and repr(name) in msg
    assert not udir.exists()


def test_good_list_names(udir: Path) -> None:
    assert check_list_name(" swing_2025-b ") == "swing_2025-b"


@pytest.mark.parametrize("sym", ["", "SP Y", "TOOLONGSYMBOL1", "A$B"])
def test_bad_symbols_are_one_line(udir: Path, sym: str) -> None:
    msg = one_line_error(create_list, "fine", [sym], user_dir=udir)
    assert "invalid symbol" in msg and repr(sym) in msg
    create_list("fine", ["SPY"], user_dir=udir)
    before = (udir / "fine.json").read_bytes()
    assert "invalid symbol" in one_line_error(add_symbols, "fine", ["OK", sym], udir)
    assert "invalid symbol" in one_line_error(remove_symbols, "fine", [sym], udir)
    assert (udir / "fine.json").read_bytes() == before  # nothing half-applied


def test_refusals_name_the_problem(udir: Path, shipped: dict[Path, bytes]) -> None:
    assert "already exists" in one_line_error(create_list, "curated", ["SPY"], user_dir=udir)
    assert "at least one symbol" in one_line_error(create_list, "empty", [], user_dir=udir)
    assert "no ticker list named 'nope'" in one_line_error(add_symbols, "nope", ["SPY"], udir)
    assert "no ticker list named" in one_line_error(add_symbols, "../curated", ["SPY"], udir)
    create_list("pair", ["SPY", "QQQ"], user_dir=udir)
    assert "IWM not in the list 'pair'" in one_line_error(remove_symbols, "pair", ["IWM"], udir)
    assert "a list needs at least one" in one_line_error(
        remove_symbols, "pair", ["SPY", "QQQ"], udir)
    assert load_list("pair", udir).symbols == ("SPY", "QQQ")
    assert_untouched(shipped)


def test_a_broken_list_is_not_edited(udir: Path) -> None:
    udir.mkdir()
    (udir / "bad.json").write_text('{"symbols": [')
    msg = one_line_error(add_symbols, "bad", ["SPY"], udir)
    assert "invalid JSON" in msg
    assert (udir / "bad.json").read_text() == '{"symbols": ['


def test_the_shipped_folder_is_never_a_user_folder(shipped: dict[Path, bytes]) -> None:
    msg = one_line_error(create_list, "sneaky", ["SPY"], user_dir=builtin_dir())
    assert "shipped lists' folder" in msg
    assert not (builtin_dir() / "sneaky.json").exists()
    assert_untouched(shipped)
