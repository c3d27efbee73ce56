"""Ticker lists: the shipped lists are sound, and every broken file says why.

Each error case checks that the message names the file and the specific
problem, because that message is all a user sees in the CLI or the TUI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.errors import TickerListError
from storage.tickers import (
    SYMBOL_RE,
    TickerList,
    available_lists,
    builtin_dir,
    cycle_next,
    load_list,
)


@pytest.fixture
def empty_user_dir(tmp_path: Path) -> Path:
    d = tmp_path / "user_tickers"
    d.mkdir()
    return d


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def raises_with(path: Path, *fragments: str) -> None:
    with pytest.raises(TickerListError) as info:
        load_list(path)
    msg = str(info.value)
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"


# ── the shipped lists ────────────────────────────────────────────────────────


def test_builtin_dir_is_repo_tickers_folder() -> None:
    assert builtin_dir().is_dir()
    assert (builtin_dir() / "curated.json").is_file()
    assert (builtin_dir() / "all.json").is_file()


def test_builtin_lists_load(empty_user_dir: Path) -> None:
    names = available_lists(empty_user_dir)
    assert {"curated", "all"} <= set(names)
    for name in ("curated", "all"):
        tl = load_list(name, user_dir=empty_user_dir)
        assert isinstance(tl, TickerList)
        assert tl.name == name
        assert tl.description
        assert tl.path == names[name]


def test_curated_has_32_and_is_subset_of_all(empty_user_dir: Path) -> None:
    curated = load_list("curated", user_dir=empty_user_dir)
    every = load_list("all", user_dir=empty_user_dir)
    assert len(curated.symbols) == 32
    assert 600 <= len(every.symbols) <= 700
    assert len(set(every.symbols)) == len(every.symbols)
    assert set(curated.symbols) <= set(every.symbols)
    for sym in ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "TSLA", "JPM", "XOM"):
        assert sym in curated.symbols
    for sym in ("DIA", "XLF", "XLE", "XLK", "SMH", "TLT", "GLD", "BRK.B", "BF.B"):
        assert sym in every.symbols


def test_shipped_files_are_already_normalized() -> None:
    for p in sorted(builtin_dir().glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        assert data["name"] == p.stem
        for sym in data["symbols"]:
            assert sym == sym.strip().upper() and SYMBOL_RE.fullmatch(sym), (p, sym)


# ── user lists beside the built-in ones ─────────────────────────────────────


def test_user_lists_appear_beside_builtin(empty_user_dir: Path) -> None:
    write_json(empty_user_dir / "mine.json", {"symbols": ["aapl", "msft"]})
    (empty_user_dir / "scalps.txt").write_text("TSLA\nNVDA\n", encoding="utf-8")
    names = available_lists(empty_user_dir)
    assert {"curated", "all", "mine", "scalps"} <= set(names)
    assert list(names) == sorted(names)
    assert load_list("mine", user_dir=empty_user_dir).symbols == ("AAPL", "MSFT")
    assert load_list("scalps", user_dir=empty_user_dir).symbols == ("TSLA", "NVDA")


def test_user_list_overrides_builtin_of_same_name(empty_user_dir: Path) -> None:
    mine = write_json(empty_user_dir / "curated.json", {"symbols": ["SPY"]})
    assert available_lists(empty_user_dir)["curated"] == mine
    tl = load_list("curated", user_dir=empty_user_dir)
    assert tl.symbols == ("SPY",)
    assert tl.path == mine


def test_missing_user_dir_gives_only_builtins(tmp_path: Path) -> None:
    names = available_lists(tmp_path / "does-not-exist")
    assert set(names) == {p.stem for p in builtin_dir().glob("*.json")}


def test_unknown_name_lists_what_is_available(empty_user_dir: Path) -> None:
    with pytest.raises(TickerListError, match=r"no ticker list named 'nope'.*curated"):
        load_list("nope", user_dir=empty_user_dir)


# ── formats ──────────────────────────────────────────────────────────────────


def test_json_by_path_normalizes_case_and_space(tmp_path: Path) -> None:
    p = write_json(
        tmp_path / "x.json",
        {"name": "x", "description": "d", "symbols": [" spy ", "brk.b", "^vix", "BRK/B"]},
    )
    tl = load_list(p)
    assert tl == TickerList(
        name="x", description="d", symbols=("SPY", "BRK.B", "^VIX", "BRK/B"), path=p
    )
    assert load_list(str(p)).symbols == tl.symbols


def test_text_format_lines_commas_and_comments(tmp_path: Path) -> None:
    p = tmp_path / "watch.txt"
    p.write_text("# my watchlist\nspy, qqq,iwm\n\nAAPL  # apple\n  msft\nnvda,\n", encoding="utf-8")
    tl = load_list(p)
    assert tl.symbols == ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA")
    assert tl.name == "watch"
    assert tl.description == ""


def test_cycle_next_wraps_and_handles_unknown() -> None:
    names = ["all", "curated", "mine"]
    assert cycle_next("all", names) == "curated"
    assert cycle_next("mine", names) == "all"
    assert cycle_next("all", names, step=-1) == "mine"
    assert cycle_next("gone", names) == "all"
    assert cycle_next(None, names) == "all"
    with pytest.raises(TickerListError):
        cycle_next("all", [])


# ── every error names the file and the problem ──────────────────────────────


def test_missing_file(tmp_path: Path) -> None:
    raises_with(tmp_path / "nope.json", "not found")


def test_missing_file_given_as_string(tmp_path: Path) -> None:
    p = tmp_path / "nope.txt"
    with pytest.raises(TickerListError, match="not found") as info:
        load_list(str(p))
    assert str(p) in str(info.value)


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{\n  "symbols": ["SPY",\n    ]\n}\n', encoding="utf-8")
    raises_with(p, "invalid JSON", "line 3", "column 5")


def test_top_level_not_object(tmp_path: Path) -> None:
    raises_with(write_json(tmp_path / "l.json", ["SPY"]), "top level", "not a list")


def test_missing_symbols_key(tmp_path: Path) -> None:
    raises_with(write_json(tmp_path / "m.json", {"name": "m"}), 'missing the "symbols"')


def test_symbols_not_a_list(tmp_path: Path) -> None:
    raises_with(write_json(tmp_path / "s.json", {"symbols": "SPY,QQQ"}), "not a string")


def test_symbols_item_not_a_string(tmp_path: Path) -> None:
    p = write_json(tmp_path / "n.json", {"symbols": ["SPY", 42]})
    raises_with(p, "list of strings", "item 1", "number 42")


def test_name_not_a_string(tmp_path: Path) -> None:
    p = write_json(tmp_path / "nm.json", {"name": 3, "symbols": ["SPY"]})
    raises_with(p, '"name" must be a string')


@pytest.mark.parametrize("suffix, content", [(".json", '{"symbols": []}'), (".txt", "# none\n")])
def test_empty_list(tmp_path: Path, suffix: str, content: str) -> None:
    p = tmp_path / f"e{suffix}"
    p.write_text(content, encoding="utf-8")
    raises_with(p, "empty")


@pytest.mark.parametrize(
    "bad, index",
    [
        ("", 1),
        ("   ", 1),
        ("AA PL", 1),
        ('SP"Y', 1),
        ("SP'Y", 1),
        ("ABCDEFGHIJKLM", 1),
        ("$SPY", 1),
        ("É", 1),
    ],
)
def test_invalid_symbol_named_with_index(tmp_path: Path, bad: str, index: int) -> None:
    p = write_json(tmp_path / "i.json", {"symbols": ["SPY", bad, "QQQ"]})
    raises_with(p, "invalid symbol", repr(bad), f"index {index}")


def test_invalid_symbol_in_text_names_line(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("SPY\nQQQ, AA PL\n", encoding="utf-8")
    raises_with(p, "invalid symbol", "'AA PL'", "index 2", "line 2")


def test_duplicates_are_named(tmp_path: Path) -> None:
    p = write_json(tmp_path / "d.json", {"symbols": ["SPY", "aapl", "QQQ", "AAPL", "spy"]})
    raises_with(p, "duplicate symbols", "SPY", "AAPL")


def test_duplicates_in_text(tmp_path: Path) -> None:
    p = tmp_path / "d.txt"
    p.write_text("SPY, QQQ\nspy\n", encoding="utf-8")
    raises_with(p, "duplicate symbols: SPY")


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "b.txt"
    p.write_bytes(b"SPY\n\xff\xfe\n")
    raises_with(p, "cannot be read", "UTF-8")


def test_user_list_error_names_user_file(empty_user_dir: Path) -> None:
    p = empty_user_dir / "broken.json"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(TickerListError, match="invalid JSON at line 1") as info:
        load_list("broken", user_dir=empty_user_dir)
    assert str(p) in str(info.value)


# ── the demo market's price table (tickers/prices.csv) ───────────────────────


def test_the_price_table_is_not_a_ticker_list_and_parses():
    from storage.tickers import PRICES_FILE, demo_traits

    assert (builtin_dir() / PRICES_FILE).is_file()
    assert "prices" not in available_lists()
    traits = demo_traits()
    assert traits["SPY"].beta == 1.0 and 300 < traits["SPY"].price < 1000
    assert traits["AAPL"].beta is None  # drawn from the symbol's seed
    assert all(t.price > 0 for t in traits.values())


def test_a_broken_price_line_names_the_file_and_line(tmp_path):
    from storage.tickers import demo_traits

    f = tmp_path / "prices.csv"
    f.write_text("symbol,price,beta,daily_vol\nAAA,12.5,,\nBBB,twelve,,\n")
    with pytest.raises(TickerListError, match=r"prices\.csv: line 3"):
        demo_traits(f)
    f.write_text("AAA,-1,,\n")
    with pytest.raises(TickerListError, match="price must be > 0"):
        demo_traits(f)
    f.write_text("AAA,10,,,0\n")
    with pytest.raises(TickerListError, match="adv > 0"):
        demo_traits(f)
