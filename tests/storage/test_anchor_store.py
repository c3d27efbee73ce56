"""Custom anchors kept in the cache: add, list, delete, refusals, restarts, the CLI."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from storage import demo
from storage.anchors import (
    MAX_LABEL,
    AnchorError,
    add_anchor,
    anchor_counts,
    delete_anchor,
    get_anchor,
    list_anchors,
)
from storage.cache import Cache
from storage.schema import MIGRATIONS
from tui.cli import main

# Demo sessions end Friday 2025-11-21; the two sessions run 14:30-20:59 UTC.
FRI_10_15 = np.datetime64("2025-11-21T15:15")
THU_OPEN = np.datetime64("2025-11-20T14:30")


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "a.duckdb"
    with Cache(path) as cache:
        demo.seed_cache(cache, ("SPY", "AAPL"), 2, end=demo.DEFAULT_END)
    return path


def test_add_list_delete_and_survive_reopen(db) -> None:
    with Cache(db) as cache:
        a = add_anchor(cache, "aapl", FRI_10_15, "  gap\tup ")
        b = add_anchor(cache, "AAPL", THU_OPEN)
        c = add_anchor(cache, "SPY", np.datetime64("2025-11-21T15:15:42", "s"))  # its minute
        assert (a.symbol, a.ts, a.label) == ("AAPL", FRI_10_15, "gap up")
        assert c.ts == FRI_10_15 and len({a.id, b.id, c.id}) == 3
        assert anchor_counts(cache) == {"AAPL": 2, "SPY": 1}
    with Cache(db) as cache:  # a restart finds them, by symbol then time
        assert [x.id for x in list_anchors(cache)] == [b.id, a.id, c.id]
        assert list_anchors(cache, ["SPY"]) == [c]
        assert get_anchor(cache, a.id) == a
        info = cache.info()
        assert info["anchors"] == 3 and info["anchors_by_symbol"] == {"AAPL": 2, "SPY": 1}
        assert delete_anchor(cache, a.id) == a
        assert [x.id for x in list_anchors(cache)] == [b.id, c.id]
        with pytest.raises(AnchorError, match=f"no anchor with id {a.id}"):
            delete_anchor(cache, a.id)
        # the same minute may be anchored again once the old anchor is gone
        again = add_anchor(cache, "AAPL", FRI_10_15)
        assert again.id > c.id


@pytest.mark.parametrize(
    ("symbol", "ts", "label", "message"),
    [
        ("AAPL", THU_OPEN, "", "AAPL already has an anchor at 2025-11-20T14:30 UTC"),
        ("ZZZZ", FRI_10_15, "", "ZZZZ has no bars in the cache"),
        ("AAPL", np.datetime64("2025-11-19T20:00"), "", "outside AAPL's bars in the cache"),
        ("AAPL", np.datetime64("2025-11-21T21:00"), "", "outside AAPL's bars in the cache"),
        ("AAPL", "not a time", "", "not a time"),
        ("AAPL", np.datetime64("NaT"), "", "needs a time"),
        ("", FRI_10_15, "", "needs a symbol"),
        ("AAPL", FRI_10_15, "x" * (MAX_LABEL + 1), f"keep it to {MAX_LABEL}"),
    ],
)
def test_bad_anchors_are_refused_with_one_line(db, symbol, ts, label, message) -> None:
    with Cache(db) as cache:
        add_anchor(cache, "AAPL", THU_OPEN)
        with pytest.raises(AnchorError) as err:
            add_anchor(cache, symbol, ts, label)
        assert message in str(err.value) and "\n" not in str(err.value)
        assert len(list_anchors(cache)) == 1  # nothing half-written


def test_read_only_cache_lists_but_refuses_writes(db) -> None:
    with Cache(db) as cache:
        a = add_anchor(cache, "SPY", FRI_10_15)
    with Cache(db, read_only=True) as cache:
        assert list_anchors(cache) == [a]
        with pytest.raises(AnchorError, match="read-only"):
            add_anchor(cache, "SPY", THU_OPEN)
        with pytest.raises(AnchorError, match="read-only"):
            delete_anchor(cache, a.id)


def test_cache_from_before_anchors_is_migrated(tmp_path) -> None:
    """A version-2 cache opened read-only has no anchors (no error); opened for
    writing it gains the table and keeps its bars."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    for i, sql in enumerate(MIGRATIONS[:2], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [i])
    con.close()
    with Cache(path, read_only=True) as cache:
        assert list_anchors(cache) == [] and anchor_counts(cache) == {}
        assert cache.info()["anchors"] == 0
    with Cache(path) as cache:
        assert cache.info()["schema_version"] == len(MIGRATIONS)
        demo.seed_cache(cache, ("SPY",), 1, end=demo.DEFAULT_END)
        assert add_anchor(cache, "SPY", FRI_10_15).id == 1


def test_cli_add_list_delete_and_errors(db, capsys) -> None:
    assert main(["anchors", "add", "AAPL", "2025-11-21 10:15", "--label", "gap",
                 "--db", str(db)]) == 0
    assert "Anchor 1: AAPL at 2025-11-21 10:15 (gap)" in capsys.readouterr().out
    with Cache(db) as cache:  # exchange time: 10:15 ET is 15:15 UTC in November
        assert list_anchors(cache)[0].ts == FRI_10_15
    assert main(["anchors", "add", "SPY", "2025-11-20 14:30Z", "--db", str(db)]) == 0
    assert main(["anchors", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "2025-11-21 10:15" in out and "gap" in out and "2025-11-20 09:30" in out
    assert main(["cache", "info", "--db", str(db)]) == 0
    assert "2 (AAPL 1, SPY 1)" in capsys.readouterr().out
    for argv, message in (
        (["anchors", "add", "AAPL", "2025-11-21 10:15"], "already has an anchor"),
        (["anchors", "add", "AAPL", "tomorrow"], "not a time: 'tomorrow'"),
        (["anchors", "add", "QQQQ", "2025-11-21 10:15"], "QQQQ has no bars"),
        (["anchors", "delete", "99"], "no anchor with id 99"),
    ):
        assert main([*argv, "--db", str(db)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("avwap: error: ") and message in err and err.count("\n") == 1
    assert main(["anchors", "delete", "1", "--db", str(db)]) == 0
    assert main(["anchors", "list", "--symbols", "aapl", "--db", str(db)]) == 0
    assert "No anchors." in capsys.readouterr().out
