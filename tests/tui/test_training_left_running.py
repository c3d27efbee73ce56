"""A training left running at quit (issue 28 item 3): said on quit, found again after a restart.

The "training" here is a real child process writing the JSON lines of
``avwap train --progress-json`` to its log; it waits on a FIFO the test opens
when it wants the training to end (no sleeping, no clock).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tui.test_training import SIZE, demo_db, open_training, write_model  # noqa: F401 (fixture)
from tui.runtime.jobs import JobState
from tui.screens.common.confirm import Confirm
from tui.screens.training import running
from tui.screens.training.models_view import TRAINING, TRAINING_MARK, ModelsTable
from tui.screens.training.request import TrainRequest
from tui.screens.training.run_view import RunView


@pytest.fixture(autouse=True)
def models_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("AVWAP_MODELS_DIR", str(root))
    return root


CHILD = r"""
import json, sys
name, fifo, log = sys.argv[1:4]
def emit(ev):
    with open(log, "a") as f:
        f.write(json.dumps(ev) + "\n")
emit({"event": "start", "name": name, "epochs": 2, "steps_per_epoch": 4, "batch_size": 32,
      "train_samples": 100, "val_samples": 20, "features": 3, "outputs": 2})
emit({"event": "epoch", "epoch": 1, "epochs": 2, "global_step": 4, "loss": 0.7,
      "val_loss": 0.69, "selection_accuracy": 0.3, "sparsity": 0.5, "mean_weight": 0.4,
      "best": True})
open(fifo).read()  # until the test lets the training end
emit({"event": "done", "name": name, "path": "/models/" + name, "interrupted": False})
"""


async def test_a_training_left_running_is_followed_after_a_restart(make_app, models_root: Path,
                                                                   tmp_path: Path) -> None:
    write_model(models_root, "m1", 0.41)
    (models_root / "m1" / "evaluation.json").unlink()  # mid-run: "not evaluated (interrupted)"
    fifo, log = tmp_path / "go", models_root / "m1" / running.LOG
    os.mkfifo(fifo)
    temp = models_root / "m1" / ".bars.duckdb"
    temp.write_bytes(b"bars")
    child = subprocess.Popen([sys.executable, "-c", CHILD, "m1", str(fifo), str(log)])
    try:
        running.record(models_root / "m1", child.pid, log, (temp,))
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_training(pilot, debounce=1e6)
            table = screen.query_one(ModelsTable)
            row = table.get_row("m1")
            assert str(row[-1]) == TRAINING, row
            assert str(row[0]) == TRAINING_MARK  # shown even where Verdict is hidden (80x24)
            run = screen.query_one(RunView)
            for _ in range(400):  # the follower reads the lines the child wrote
                await pilot.pause(0.02)
                if run.loss:
                    break
            assert run.loss == [0.7] and run.epochs == 2
            assert not screen.query_one("#cancel").disabled  # it can be cancelled from here
            with open(fifo, "w") as f:  # let the training end
                f.write("go")
            job = await app.runtime.wait("train")
            await pilot.pause()
            assert job is not None and job.state is JobState.DONE
            assert run.finished == "done"
            assert "Done: m1 saved to" in str(screen.query_one("#run-status").render())
            assert not (models_root / "m1" / running.RUNNING).exists()
            assert not temp.exists(), "the child's temporary file stayed"
            assert str(table.get_row("m1")[-1]) != TRAINING
    finally:
        child.kill()
        child.wait()


async def test_leave_it_running_says_which_where_and_records_it(make_app, monkeypatch,
                                                               models_root: Path) -> None:
    monkeypatch.setattr(TrainRequest, "train_argv", lambda self, db, **kw: [
        sys.executable, "-c", "import signal; signal.pause()", self.name])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6, name="left")
        screen.report = {"ok": True}
        await pilot.press("ctrl+t")
        await pilot.pause()
        job = app.runtime.job("train")
        assert job is not None
        for _ in range(600):  # until the export is done and the child runs
            await pilot.pause(0.05)
            if job.pid is not None:
                break
        pid = job.pid
        assert pid is not None
        rec = running.read(models_root / "left")
        assert rec is not None and rec.pid == pid and rec.alive
        assert str(screen.query_one(ModelsTable).get_row("left")[-1]) == TRAINING
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("l")  # leave it running, then quit
        await pilot.pause()
    try:
        assert len(app.left_running) == 1
        line = app.left_running[0]
        assert "training left" in line and f"pid {pid}" in line
        assert str(models_root / "left" / running.LOG) in line
        assert running.read(models_root / "left") is not None and running.pid_alive(pid, "left")
        assert json.loads((models_root / "left" / running.RUNNING).read_text())["pid"] == pid
    finally:
        os.kill(pid, signal.SIGKILL)
