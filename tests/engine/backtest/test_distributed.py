"""A sweep split over 2 processes (``mlx.launch --backend ring -n 2`` on 127.0.0.1) saves
the run one process saves: the same trades, statistics, curves, best and neighbours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ring_ports import ring_starting_port

from storage.cache import Cache
from storage.results import list_runs, load_run
from tui.cli import main

LAUNCH = Path(sys.executable).with_name("mlx.launch")
ROOT = Path(__file__).resolve().parents[3]
# Five symbols split 3 + 2, and one without bars (skipped on the second rank).
TICKERS = "AAA,BBB,CCC,DDD,EEE,NOPE"


@pytest.mark.skipif(not LAUNCH.exists(), reason="mlx.launch is not installed")
def test_two_processes_save_the_one_process_run(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    assert main(["--db", str(db), "demo-data", "--symbols", TICKERS.rsplit(",", 1)[0],
                 "--days", "3"]) == 0
    args = ["--db", str(db), "backtest", "--strategy", "avwap-reversion", "--tickers", TICKERS,
            "--param", "k=1,2", "--param", "anchor=session,week", "--param", "stop_pct=0,0.3",
            "--no-entry-minutes", "30"]
    assert main(args) == 0
    proc = subprocess.run(
        [str(LAUNCH), "--backend", "ring", "-n", "2", "--hosts", "127.0.0.1",
         "--starting-port", str(ring_starting_port()), "--", sys.executable, "-m", "tui.cli",
         *args, "--distributed"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    with Cache(db) as c:
        runs = sorted(r["run_id"] for r in list_runs(c))
        assert len(runs) == 2, proc.stdout + proc.stderr  # mlx.launch exits 0 anyway
        one, two = (load_run(c, r) for r in runs)
    assert "Saved as run" in proc.stdout
    for key in ("strategy", "grid", "combos", "best", "neighbours", "symbols", "skipped",
                "settings", "code_version"):
        assert one.run[key] == two.run[key], key
    assert one.run["skipped"] == ["NOPE"]
    for name in ("stats", "trades", "equity"):
        a, b = getattr(one, name), getattr(two, name)
        assert a.num_rows == b.num_rows > 0, name
        keys = [k for k in a.column_names if k not in ("value", "pnl", "ret")] or a.column_names
        a, b = a.sort_by([(k, "ascending") for k in keys]), b.sort_by([(k, "ascending")
                                                                        for k in keys])
        for col in a.column_names:
            x, y = a[col].to_numpy(zero_copy_only=False), b[col].to_numpy(zero_copy_only=False)
            if x.dtype.kind == "f":
                np.testing.assert_array_equal(x, y, err_msg=f"{name}.{col}")
            else:
                assert (x == y).all(), f"{name}.{col}"
