"""``avwap backtest --request JSON --progress-json``: the Backtests screen's child.

Every stdout line is one ``storage.events`` event (decoded by the one decoder),
progress first and ``backtest_done`` last naming the run it saved; a request
that is not one is a single ``avwap: error:`` line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storage import events
from storage.cache import Cache
from storage.results import load_run
from tui.cli import main
from tui.screens.backtests.request import BacktestRequest


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("child") / "demo.duckdb"
    assert main(["--db", str(path), "demo-data", "--symbols", "AAA,BBB", "--days", "3"]) == 0
    return path


def test_progress_lines_are_typed_events(db: Path, capsys: Any) -> None:
    capsys.readouterr()
    req = BacktestRequest("avwap-reversion", {"k": [1, 2]}, ("AAA", "BBB", "NOPE"),
                          None, None, {"slippage_bps": 1.0})
    assert main(["--db", str(db), "backtest", "--request", req.to_json(),
                 "--progress-json"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    evs = [events.decode(line) for line in lines]
    assert evs and all(isinstance(e, events.BacktestStep) for e in evs[:-1]) and len(evs) > 1
    assert all(0.0 <= e.fraction <= 1.0 for e in evs[:-1] if isinstance(e, events.BacktestStep))
    done = evs[-1]
    assert isinstance(done, events.BacktestDone) and done.skipped == ["NOPE"]
    with Cache(db) as c:
        saved = load_run(c, done.run_id)
    assert saved.run["strategy"] == "avwap-reversion"
    assert done.trades == len(saved.trades)


@pytest.mark.parametrize(("request_json", "message"), [
    ("not json", "--request is not a backtest request"),
    (json.dumps({"strategy": "orb"}), "--request is not a backtest request"),
    (BacktestRequest("orb", {}, ("AAA",), None, None, {"warp": 9}).to_json(),
     "--request settings:"),
])
def test_a_bad_request_is_one_line_exit_2(db: Path, capsys: Any, request_json: str,
                                          message: str) -> None:
    capsys.readouterr()
    assert main(["--db", str(db), "backtest", "--request", request_json,
                 "--progress-json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("avwap: error: ") and message in err, err
    assert err.count("\n") == 1
