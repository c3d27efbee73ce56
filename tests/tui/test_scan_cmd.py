"""``avwap scan`` end to end on a demo cache: the printed matches are the batch scan's at
the minute asked, and a bad expression is one line and exit 2 with the suggestion."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.expr.batch import scan_panel
from storage.cache import Cache
from tui.cli import main
from tui.commands.expr_doc import markdown
from tui.runtime.replay_nav import parse_jump

SYMS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "demo.duckdb"
    assert main(["--db", str(path), "demo-data", "--symbols", ",".join(SYMS),
                 "--days", "14"]) == 0
    return path


def _printed(out: str) -> set[str]:
    return {s for s in SYMS if re.search(rf"\b{s}\b", out)}


def _expected(db: Path, text: str, at: str | None) -> set[str]:
    with Cache(db) as c:
        last = max(cv.last for cv in c.coverage(SYMS) if cv.last is not None)
        when = parse_jump(at, last) if at else np.datetime64(last, "m")
        panel = c.load_panel(SYMS, "2025-10-01", str(when.astype("datetime64[D]")))
    t = int(np.searchsorted(panel.ts, when, side="right"))
    hits = scan_panel(panel, [text])[0][:, :t]
    valid = panel.valid[:, :t]
    bars = np.where(valid, np.arange(t), -1).max(axis=1)
    return {s for i, s in enumerate(panel.symbols) if bars[i] >= 0 and hits[i, bars[i]]}


@pytest.mark.parametrize(("text", "at"), [
    ("close > avwap_session", None),
    ("rvol > 0.9 and close > avwap_session_dn1", None),
    ("close > avwap_session", "10:45"),
    ("close < ema_9 or rsi_14 > 55", "2025-11-20 14:02"),
])
def test_matches_are_the_batch_scan(db: Path, capsys: Any, text: str, at: str | None) -> None:
    argv = ["--db", str(db), "scan", text, "--tickers", ",".join(SYMS)]
    assert main([*argv, *(["--at", at] if at else [])]) == 0
    out = capsys.readouterr().out
    want = _expected(db, text, at)
    assert _printed(out) == want, out
    assert f"{len(want)} match" in out


def test_a_cross_at_a_minute(db: Path, capsys: Any) -> None:
    """Some minute of the last session has a cross; the scan at that minute prints it."""
    text = "close crosses above avwap_session"
    with Cache(db) as c:
        panel = c.load_panel(SYMS, "2025-11-21", "2025-11-21")
    hits = scan_panel(panel, [text])[0]
    t = int(np.nonzero(hits.any(axis=0))[0][0])
    local = (panel.ts[t] - np.timedelta64(5, "h")).astype(object)  # EST in November
    at = f"{local:%H:%M}"
    assert main(["--db", str(db), "scan", text, "--tickers", ",".join(SYMS), "--at", at]) == 0
    out = capsys.readouterr().out
    assert _printed(out) == {s for i, s in enumerate(SYMS) if hits[i, t]}


@pytest.mark.parametrize(("text", "message"), [
    ("close > avwap_sesion_up2 and rvol > 2",
     "unknown name 'avwap_sesion_up2' (did you mean avwap_session_up2"),
    ("close crosses avwap_session", "expected 'above' or 'below' after 'crosses'"),
    ("close + 1", "the signal must be a condition"),
    ("", "give an expression"),
])
def test_bad_expression_is_one_line_exit_2(db: Path, capsys: Any, text: str,
                                           message: str) -> None:
    assert main(["--db", str(db), "scan", text, "--tickers", "AAA"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("avwap: error: ") and message in err, err
    assert err.count("\n") == 1


def test_the_reference_is_generated_from_the_registry() -> None:
    from engine.registry import output_names

    doc = markdown()
    assert all(f"`{n}`" in doc for n in output_names())
    text = (Path(__file__).resolve().parents[2] / "docs" / "expressions.md").read_text()
    assert text == doc, "regenerate: avwap scan --markdown > docs/expressions.md"
