"""The ``avwap`` CLI: commands, --db everywhere, one clear line on errors."""

from __future__ import annotations

import subprocess
import sys

from storage.cache import Cache
from tui.cli import main


def test_help_lists_the_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for cmd in ("cache", "demo-data", "import-csv"):
        assert cmd in out


def test_demo_data_then_cache_info(tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    assert main(["--db", str(db), "demo-data", "--symbols", "AAA,BBB", "--days", "2"]) == 0
    assert main(["demo-data", "--db", str(db), "--symbols", "AAA", "--if-empty"]) == 0
    assert "already has bars" in capsys.readouterr().out
    assert main(["cache", "info", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "1,560" in out and "AAA" in out and "BBB" in out
    with Cache(db) as c:
        assert c.bar_count() == 2 * 2 * 390


def test_errors_are_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("db = [unclosed")
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--config", str(bad), "cache", "info"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not valid TOML" in lines[0] and str(bad) in lines[0]


def test_broken_ticker_list_is_named(tmp_path, capsys):
    lst = tmp_path / "mine.json"
    lst.write_text('{"name": "mine", "symbols": ["AAA", "AAA"]}')
    rc = main(["--db", str(tmp_path / "x.duckdb"), "demo-data", "--symbols", str(lst)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "mine.json" in err and "AAA" in err
