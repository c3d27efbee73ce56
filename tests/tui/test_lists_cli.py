"""``avwap lists``: the CLI edits the same files as the console, bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.tickers import builtin_dir, load_list
from tui.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AVWAP_CONFIG", str(tmp_path / "config.toml"))
    return tmp_path / "tickers"


def test_create_add_remove_show_delete(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lists", "create", "swing", "aapl,msft", "--description", "mine"]) == 0
    assert json.loads((config / "swing.json").read_text())["symbols"] == ["AAPL", "MSFT"]
    assert main(["lists", "add", "swing", "NVDA", "tsla"]) == 0
    assert main(["lists", "remove", "swing", "MSFT"]) == 0
    assert load_list("swing", config).symbols == ("AAPL", "NVDA", "TSLA")
    capsys.readouterr()
    assert main(["lists", "show", "swing"]) == 0
    out = capsys.readouterr().out
    assert "swing: 3 symbols" in out and "AAPL NVDA TSLA" in out
    assert main(["lists"]) == 0
    out = capsys.readouterr().out
    assert "swing" in out and "curated" in out
    assert main(["lists", "delete", "swing"]) == 0
    assert not (config / "swing.json").exists()


def test_a_shipped_list_gets_a_copy(config: Path) -> None:
    before = (builtin_dir() / "curated.json").read_bytes()
    assert main(["lists", "add", "curated", "ZZTOP"]) == 0
    assert load_list("curated", config).symbols[-1] == "ZZTOP"
    assert (builtin_dir() / "curated.json").read_bytes() == before


@pytest.mark.parametrize("argv, fragment", [
    (["lists", "create", "bad name", "SPY"], "invalid list name 'bad name'"),
    (["lists", "add", "nope", "SPY"], "no ticker list named 'nope'"),
    (["lists", "add", "curated"], "needs one or more symbols"),
    (["lists", "add", "curated", "S$Y"], "invalid symbol 'S$Y'"),
    (["lists", "show"], "needs the NAME of a list"),
    (["lists", "delete", "curated"], "is a shipped list"),
])
def test_bad_input_is_one_line_exit_2(config: Path, capsys: pytest.CaptureFixture[str],
                                      argv: list[str], fragment: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("avwap: error: ") and fragment in err
