"""The ``avwap`` CLI: commands, --db everywhere, one clear line on errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


# ── issue 17: one line and exit 2 for every bad input; data printed as written ──


def _one_error_line(capsys, rc: int, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("avwap: error: "), err
    for f in fragments:
        assert f in err, err
    return err


def test_import_csv_bad_files_are_one_line(tmp_path, capsys):
    db = str(tmp_path / "c.duckdb")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _one_error_line(capsys, main(["--db", db, "import-csv", str(empty)]), "empty")
    _one_error_line(capsys, main(["--db", db, "import-csv", str(tmp_path)]), "directory")
    rc = main(["--db", db, "import-csv", "--tz", "Mars/Olympus", str(empty)])
    _one_error_line(capsys, rc, "Mars/Olympus")


def test_read_commands_never_create_a_cache_in_a_missing_directory(tmp_path, capsys):
    db = tmp_path / "nowhere" / "c.duckdb"
    _one_error_line(capsys, main(["--db", str(db), "cache", "info"]), "no such directory")
    _one_error_line(capsys, main(["--db", str(db), "demo-data", "--symbols", "AAA"]),
                    "no such directory")
    assert not db.parent.exists()
    missing = tmp_path / "absent.duckdb"
    _one_error_line(capsys, main(["--db", str(missing), "cache", "info"]), "no such cache file")
    assert not missing.exists()


def test_demo_data_reports_what_it_really_wrote(tmp_path, capsys):
    db = str(tmp_path / "c.duckdb")
    rc = main(["--db", db, "demo-data", "--symbols", "AAA,B@D", "--days", "2",
               "--end", "2024-11-29"])
    out = " ".join(capsys.readouterr().out.split())
    assert rc == 0
    assert "Wrote 600 demo bars for 1 symbol (2 sessions, 2024-11-27 to 2024-11-29)" in out
    assert "Skipped 1 invalid symbol: 'B@D'" in out
    rc = main(["--db", db, "demo-data", "--symbols", "AAA", "--end", "2099-01-02"])
    _one_error_line(capsys, rc, "2099-01-02", "last known session")


def test_indicators_unknown_family_names_the_valid_ones(capsys):
    _one_error_line(capsys, main(["indicators", "--family", "bogus"]), "bogus", "momentum")
    assert main(["indicators", "--family", "avwap"]) == 0
    assert capsys.readouterr().out.strip().endswith(" outputs")


def test_data_in_cli_tables_is_printed_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one table row per line
    db = str(tmp_path / "c.duckdb")
    f = tmp_path / "boom.csv"
    f.write_text(
        "ts,symbol,open,high,low,close,volume\n"
        "2024-01-02T14:30Z,AAA,1,2,0.5,3,10\n"
        "2024-01-02T14:31Z,AAA,[bold red]boom[/bold red],2,0.5,1,10\n"
    )
    assert main(["--db", db, "import-csv", str(f)]) == 0
    capsys.readouterr()
    assert main(["--db", db, "cache", "rejected"]) == 0
    out = capsys.readouterr().out
    assert "[low," in out and "[bold red]boom" in out


def test_unknown_config_keys_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('dbb = "x"\n[pgg]\ntable = "t"\n')
    rc = main(["--config", str(cfg), "--db", str(tmp_path / "c.duckdb"), "demo-data"])
    _one_error_line(capsys, rc, "dbb", "pgg")


def test_a_key_remap_onto_another_actions_key_names_both():
    import pytest

    import tui.app  # noqa: F401  (defines the app and its screens' bindings)
    from storage.errors import ConfigError
    from tui.keys import binding_ids, keymap_from_section

    ids = list(binding_ids())
    with pytest.raises(ConfigError, match=r"'list.next' = 'o' takes the key of 'sort.next'"):
        keymap_from_section({"list.next": "o"}, ids)
    keymap, warnings = keymap_from_section({"list.next": "o", "sort.next": "x"}, ids)
    assert keymap == {"list.next": "o", "sort.next": "x"} and warnings == []


def test_the_indicator_reference_lists_every_registry_output():
    # docs/indicators.md said 126 outputs while the registry had 150 (the auto anchors).
    from pathlib import Path

    from tui.commands.indicators_cmd import rows

    doc = (Path(__file__).resolve().parents[2] / "docs" / "indicators.md").read_text()
    listed = {line.split("`")[1] for line in doc.splitlines() if line.startswith("| `")}
    names = {r[0] for r in rows()}
    assert listed == names and f"\n{len(names)} outputs.\n" in doc


# ── issue 28: a typo in the list the console opens with is one line ──


def test_unknown_opening_list_is_named_with_the_lists_that_exist(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text('tickers = "curatd"\n')
    db = str(tmp_path / "x.duckdb")
    err = _one_error_line(capsys, main(["--config", str(cfg), "--db", db, "tui"]),
                          "'curatd'", "tickers", "curated", "all")
    assert str(cfg) in err
    err = _one_error_line(capsys, main(["--config", str(cfg), "--db", db, "tui",
                                        "--list", "nope"]), "--list = 'nope'", "curated")
    assert not (tmp_path / "x.duckdb").exists()  # refused before the cache was opened


def test_an_absent_default_cache_points_at_the_demo_cache(tmp_path, capsys, monkeypatch):
    """`make demo` writes data/demo.duckdb; a bare `avwap backtests` reads the default
    cache. With no default cache yet, both kinds of command say where the demo's is."""
    import tui.commands.common as common

    default = tmp_path / "data-home" / "cache.duckdb"
    demo_db = tmp_path / "checkout" / "data" / "demo.duckdb"
    cfg = tmp_path / "config.toml"
    cfg.write_text("")
    monkeypatch.setattr(common, "default_db_path", lambda: default)
    monkeypatch.setattr(common, "make_demo_db", lambda: demo_db)
    monkeypatch.setattr("storage.config.default_db_path", lambda: default)
    assert common.demo_cache_hint(default) == ""  # no demo cache: nothing to point at
    demo_db.parent.mkdir(parents=True)
    with Cache(demo_db) as c:
        c.checkpoint()
    err = _one_error_line(capsys, main(["--config", str(cfg), "cache", "info"]),
                          "no such cache file", f"--db {demo_db}")
    assert str(default) in err
    default.parent.mkdir(parents=True)
    assert main(["--config", str(cfg), "backtests"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("avwap: hint: ") and f"--db {demo_db}" in err


def test_cli_tables_never_cut_a_value(capsys):
    """Piped, every description is printed whole; at 80 columns a column folds instead
    of ending in '…', and a no-wrap name (what `models use` needs) stays on one line."""
    import io

    from rich.table import Table

    from tui.commands.common import CliConsole
    from tui.commands.indicators_cmd import rows

    assert main(["indicators"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    lines = out.splitlines()
    for row in rows(None):
        line = next(ln for ln in lines if ln.startswith(f"│ {row[0]} "))
        assert all(cell in line for cell in row), (row, line)
    name = "curated-20261207-with-a-long-suffix-the-user-must-type-again"
    table = Table("active", "name", "created", "evaluation")
    table.columns[1].no_wrap = True
    table.add_row("*", name, "2026-12-07 10:11:12", "no edge over the fixed set " * 3)
    buf = io.StringIO()
    CliConsole(file=buf, width=80).print(table)
    text = buf.getvalue()
    assert "…" not in text and name in text
    body = [ln.split("│") for ln in text.splitlines() if ln.startswith("│")]
    folded = "".join(cells[4].strip() for cells in body)  # the evaluation column, line by line
    assert folded.replace(" ", "") == ("no edge over the fixed set " * 3).replace(" ", "")


def test_train_checks_its_counts_before_the_cache(tmp_path, capsys):
    """`train --days 0` names the bad count, not the cache it never got to open."""
    missing = str(tmp_path / "none.duckdb")
    for argv in (["train", "--days", "0"], ["precheck", "--lookback", "-5"],
                 ["train", "--epochs", "x"], ["train", "--top-k", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["--db", missing, *argv])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {argv[1]}: must be a whole number" in err and "cache" not in err
