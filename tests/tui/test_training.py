"""The Training screen: form validation, precheck, a real tiny training, cancel, crash, quit.

The prechecks and trainings are the real ``avwap precheck --json`` and
``avwap train --progress-json`` in child processes, on the demo cache; waits
are on the runtime's jobs (``Runtime.wait``), never on the clock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from textual.widgets import Log

from models.selector import Selector
from storage.events import Build, Done, encode
from tui.runtime.jobs import JobState
from tui.screens.common.confirm import Confirm
from tui.screens.console.indicators_pane import IndicatorsPane
from tui.screens.training.form import TrainForm
from tui.screens.training.models_view import ModelDetail, ModelsTable
from tui.screens.training.request import TrainRequest
from tui.screens.training.run_view import RunView
from tui.screens.training.screen import TrainingScreen

SIZE = (160, 48)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The console's demo cache with one session more: a training window of three
    sessions (training, validation, test) then has a session of history before it."""
    from storage import demo
    from storage.cache import Cache

    path = tmp_path_factory.mktemp("db") / "demo4.duckdb"
    with Cache(path) as cache:
        demo.seed_cache(cache, ("SPY", "AAPL", "MSFT", "NVDA", "TSLA", "JPM"), 4,
                        end=demo.DEFAULT_END)  # the console fixture's symbols
        cache.checkpoint()
    return path


@pytest.fixture(autouse=True)
def models_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("AVWAP_MODELS_DIR", str(root))
    return root


async def open_training(pilot, *, debounce: float = 0.0, min_samples: int = 10,
                        **fields: str) -> TrainingScreen:
    app = pilot.app
    app.animation_level = "none"  # snapshots: tab underlines and bars drawn at rest
    await pilot.pause()
    await app.console_screen.session.settled()
    await pilot.press("2")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, TrainingScreen)
    screen.debounce_s, screen.min_samples = debounce, min_samples
    form = screen.query_one(TrainForm)
    for key, text in {"days": "3", "epochs": "2", **fields}.items():
        form.set_value(key, text)
    await pilot.pause()
    return screen


async def prechecked(pilot, screen: TrainingScreen) -> dict:
    """The report of the precheck for the form as it is now (earlier ones are dropped)."""
    for _ in range(100):  # each edit restarts the precheck: wait out the superseded ones
        await pilot.pause()
        await pilot.app.runtime.wait("precheck")
        await pilot.pause()
        if screen.report is not None:
            return screen.report
    raise AssertionError("the precheck reported nothing")


async def test_each_bad_field_is_marked_and_start_stays_disabled(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        form = screen.query_one(TrainForm)
        bad = {"days": ("0", "days must be from 1"), "interval": ("391", "from 1 to 390"),
               "epochs": ("ten", "whole number"), "lookback": ("1000", "shorter than 2 days"),
               "name": ("no spaces", "letters, digits"), "top_k": ("0", "top-k must be")}
        for key, (text, why) in bad.items():
            form.set_value(key, text)
            await pilot.pause()
            assert why in screen.errors[key], (key, screen.errors)
            hint = str(screen.query_one(f"#h-{key}").render())
            assert why in hint and hint.startswith("✗")
            assert screen.query_one("#start").disabled
            form.set_value(key, {"days": "2", "interval": "15", "epochs": "2", "lookback": "120",
                                 "name": "ok-name", "top_k": "10"}[key])
            await pilot.pause()
            assert key not in screen.errors
        assert screen.request is not None


async def test_a_broken_list_is_marked(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        form = screen.query_one(TrainForm)
        from textual.widgets import Select

        form.query_one(Select).value = "broken"
        await pilot.pause()
        assert "list" in screen.errors and screen.request is None
        assert screen.query_one("#start").disabled


async def test_below_the_minimum_start_is_disabled_with_the_remedies(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, min_samples=100_000)
        report = await prechecked(pilot, screen)
        assert report["ok"] is False and report["exact"] < 100_000
        assert "Insufficient samples for training" in report["error"]
        for remedy in ("more days", "a lower interval", "more tickers"):
            assert remedy in report["error"]
        assert screen.query_one("#start").disabled
        summary = str(screen.query_one("#pc-summary").render())
        assert "Insufficient samples" in summary and "estimate" in summary


@pytest.mark.slow
async def test_a_tiny_training_from_the_screen_ends_listed_and_usable(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, name="tiny")
        report = await prechecked(pilot, screen)
        assert report["ok"] and report["test"] > 0
        # the purge drops training samples whose labels reach a later window
        assert report["exact"] >= report["train"] + report["val"] + report["test"]
        assert report["epoch_s"] > 0
        assert not screen.query_one("#start").disabled
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.query_one("#cancel").disabled is False
        job = await app.runtime.wait("train")
        await pilot.pause()
        assert job is not None and job.state is JobState.DONE, (job and job.error)
        run = screen.query_one(RunView)
        assert len(run.loss) == 2 and run.finished == "done"
        assert run.eval is not None and run.eval["verdict"]
        assert run.query_one("#run-eval").display
        table = screen.query_one(ModelsTable)
        assert [m.name for m in table.models] == ["tiny"]
        cfg = screen.query_one(ModelDetail).show(table.models[0].path)
        assert cfg["name"] == "tiny" and cfg["top_k"] == 10
        # Make it active: a model with no edge asks first; then the console's
        # Indicators pane switches to its picks and says it has no edge.
        edge = table.models[0].edge
        screen.use_model("tiny")
        await pilot.pause()
        if edge:
            assert isinstance(app.screen, Confirm) and edge in app.screen.question
            await pilot.press("y")
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(ModelsTable).models[0].active
        await pilot.press("1")
        await app.console_screen.session.step_next()
        frame = await app.console_screen.session.step_next()
        app.console_screen.show_frame(frame)
        await pilot.pause()
        title = app.console_screen.query_one(IndicatorsPane).title
        assert "model tiny" in title and (not edge or f"— {edge}" in title)


async def test_cancel_mid_run_keeps_a_usable_checkpoint(make_app, models_root: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, name="long", epochs="500")
        await prechecked(pilot, screen)
        await pilot.press("ctrl+t")
        run = screen.query_one(RunView)
        for _ in range(3000):  # until the first epoch's checkpoint is written
            await pilot.pause(0.05)
            if run.loss:
                break
        assert run.loss, "no epoch finished"
        await pilot.press("ctrl+x")
        job = await app.runtime.wait("train")
        await pilot.pause()
        assert job is not None and job.state is JobState.CANCELLED
        assert len(run.loss) < 500
        assert [m.name for m in screen.query_one(ModelsTable).models] == ["long"]
        assert Selector.load(models_root / "long").top_k == 10


async def test_a_crashed_training_shows_its_error(make_app, monkeypatch) -> None:
    def crash(self, db, **kw):
        return [sys.executable, "-c", "import sys; print('boom: out of memory', "
                "file=sys.stderr); sys.exit(1)"]

    monkeypatch.setattr(TrainRequest, "train_argv", crash)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        screen.report = {"ok": True}  # the precheck's verdict, without running one
        await pilot.press("ctrl+t")
        job = await app.runtime.wait("train")
        await pilot.pause()
        assert job is not None and job.state is JobState.FAILED
        run = screen.query_one(RunView)
        assert run.finished == "exit code 1: boom: out of memory"
        assert "boom: out of memory" in str(run.query_one("#run-status").render())


async def test_a_bad_progress_line_is_one_error_line_and_the_run_goes_on(make_app,
                                                                       monkeypatch) -> None:
    """The child's lines go through the one decoder: a line that is no known event is
    one log line naming it; the good lines around it still drive the view."""
    lines = [
        encode(Build(tickers=2, days=3)),
        '{"event": "step", "epoch": 1}',
        encode(Done(name="fake", path="/nowhere/fake", interrupted=False)),
    ]

    def child(self, db, **kw):
        return [sys.executable, "-c", f"print({chr(10).join(lines)!r})"]

    monkeypatch.setattr(TrainRequest, "train_argv", child)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        screen.report = {"ok": True}
        await pilot.press("ctrl+t")
        job = await app.runtime.wait("train")
        await pilot.pause()
        assert job is not None and job.state is JobState.DONE
        run = screen.query_one(RunView)
        logged = [str(line) for line in run.query_one(Log).lines]
        assert logged[0] == "build: 2 symbols × 3 days"
        bad = [line for line in logged if "bad progress line" in line]
        assert bad == ["error: bad progress line: 'step' lacks 'step', 'steps', 'global_step', "
                       "'loss': {\"event\": \"step\", \"epoch\": 1}"]
        assert run.finished == "done"


async def test_two_trainings_at_once_are_refused(make_app, monkeypatch) -> None:
    monkeypatch.setattr(TrainRequest, "train_argv", lambda self, db, **kw: [
        sys.executable, "-c", "import signal; signal.pause()"])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        screen.report = {"ok": True}
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.query_one("#start").disabled
        screen.action_start()
        await pilot.pause()
        assert any("already running" in str(n.message) for n in app._notifications), [
            str(n.message) for n in app._notifications]
        app.runtime.cancel("train")
        await app.runtime.wait("train")


async def test_quit_during_a_training_asks_first(make_app, monkeypatch) -> None:
    monkeypatch.setattr(TrainRequest, "train_argv", lambda self, db, **kw: [
        sys.executable, "-c", "import signal; signal.pause()"])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        screen.report = {"ok": True}
        await pilot.press("ctrl+t")
        await pilot.pause()
        job = app.runtime.job("train")
        assert job is not None and job.state is JobState.RUNNING
        for _ in range(600):  # until the export is done and the child runs
            await pilot.pause(0.05)
            if job.pid is not None:
                break
        assert job.pid is not None
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        # the question names the training (it said "A train is running", the job's id)
        name = screen.request.name
        assert app.screen.question.startswith(f"The training {name} is running."), \
            app.screen.question
        await pilot.press("escape")  # stay
        await pilot.pause()
        assert job.state is JobState.RUNNING and app.is_running
        await pilot.press("q")
        await pilot.pause()
        pid = job.pid
        await pilot.press("s")  # stop it, then quit
        # The quit waits at most a second for the child to end on SIGINT; a busy machine
        # can take longer, and the job is CANCELLED only once it has ended.
        await app.runtime.wait("train")
        assert job.state is JobState.CANCELLED
    # Told to stop (SIGINT), the child ends by itself: gone within a bounded wait.
    assert await exited(pid), "the training child kept running after 'stop'"


async def exited(pid: int, polls: int = 400) -> bool:
    """Poll (bounded, 50 ms apart) until process ``pid`` has exited."""
    import asyncio
    import os

    for _ in range(polls):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # already reaped by asyncio's child watcher
            return True
        if done:
            return True
        await asyncio.sleep(0.05)  # polling interval, not synchronisation
    return False


def write_model(root: Path, name: str, acc: float) -> None:
    """A model folder as training leaves it (fixed dates, for snapshots)."""
    ck = root / name / "ckpt-0000002"
    ck.mkdir(parents=True)
    (root / name / "checkpoint.json").write_text(json.dumps(
        {"best": "ckpt-0000002", "last": "ckpt-0000002"}))
    (ck / "config.json").write_text(json.dumps({
        "name": name, "created": "2025-11-22T10:00:00+00:00", "tickers": ["SPY", "AAPL"],
        "start": "2025-11-03", "end": "2025-11-21", "lookback": 120, "horizon": 15,
        "top_k": 10, "interval": 15, "days": 15, "val_days": 3, "seed": 0,
        "samples": {"train": 900, "val": 300}, "features": ["a"] * 152, "outputs": ["b"] * 131}))
    (ck / "metrics.json").write_text(json.dumps([
        {"epoch": 1, "loss": 0.70, "val_loss": 0.69, "selection_accuracy": acc - 0.05,
         "sparsity": 0.6},
        {"epoch": 2, "loss": 0.66, "val_loss": 0.67, "selection_accuracy": acc,
         "sparsity": 0.8}]))
    beats = acc >= 0.4  # the better one has an edge over every baseline with skill
    rows = [{"name": "model", "precision": acc, "gate": False}] + [
        {"name": b, "precision": acc - 0.01, "gate": True, "model_minus": m if beats else -m,
         "model_beats": beats}
        for b, m in (("random k (nonzero)", 0.012), ("best fixed k-set", 0.021),
                     ("logistic", 0.008))]
    verdict = ("The model beats every baseline" if beats else
               "The model does NOT beat: random k (nonzero), best fixed k-set, logistic")
    (root / name / "evaluation.json").write_text(json.dumps(
        {"verdict": verdict, "rows": rows, "beats_all": beats,
         "null": {"p_value": 0.004 if beats else 0.61}}))


def test_training_screen_idle(snap_compare, make_app) -> None:
    async def before(pilot) -> None:
        await open_training(pilot, debounce=1e6)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_training_screen_during_a_run(snap_compare, make_app) -> None:
    events = [
        {"event": "build", "tickers": 6, "days": 2},
        {"event": "start", "name": "demo", "epochs": 4, "steps_per_epoch": 10,
         "batch_size": 256, "train_samples": 2560, "val_samples": 600, "features": 152,
         "outputs": 131, "resumed_at": None},
        *({"event": "epoch", "epoch": e, "epochs": 4, "global_step": 10 * e,
           "loss": 0.70 - 0.02 * e, "val_loss": 0.69 - 0.01 * e,
           "selection_accuracy": 0.30 + 0.03 * e, "sparsity": 0.5 + 0.1 * e,
           "mean_weight": 0.4, "eta_s": 30.0 * (4 - e), "best": True} for e in (1, 2, 3)),
        {"event": "step", "epoch": 4, "step": 5, "steps": 10, "global_step": 35, "loss": 0.61},
    ]

    async def before(pilot) -> None:
        screen = await open_training(pilot, debounce=1e6)
        run = screen.query_one(RunView)
        run.reset("Starting demo…")
        for ev in events:
            run.apply(ev)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_models_browser(snap_compare, make_app, models_root: Path) -> None:
    write_model(models_root, "curated-a", 0.41)
    write_model(models_root, "curated-b", 0.38)
    (models_root / "active.json").write_text(json.dumps({"name": "curated-b"}))

    async def before(pilot) -> None:
        screen = await open_training(pilot, debounce=1e6)
        await pilot.press("ctrl+o")
        table = screen.query_one(ModelsTable)
        screen.query_one(ModelDetail).show(table.models[0].path)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


async def test_a_list_without_data_gets_the_precheck_message(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        from textual.widgets import Select

        screen.query_one(TrainForm).query_one(Select).value = "nodata"
        await pilot.pause()
        screen._run_precheck()
        summary = ""
        for _ in range(100):  # a precheck started at mount may finish first
            await pilot.pause()
            await app.runtime.wait("precheck")
            await pilot.pause()
            summary = str(screen.query_one("#pc-summary").render())
            if "no bars" in summary:
                break
        # The job that wrote the summary is the newest one: one read in an earlier
        # pass may be the mount's precheck, cancelled (a race seen under load).
        job = await app.runtime.wait("precheck")
        assert job is not None and job.state is JobState.FAILED
        assert "no bars for these symbols" in summary and "avwap demo-data" in summary
        assert screen.query_one("#start").disabled


async def test_a_model_without_edge_asks_before_it_is_made_active(make_app,
                                                                 models_root: Path) -> None:
    write_model(models_root, "weak", 0.38)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        await pilot.press("ctrl+o")
        await pilot.pause()
        table = screen.query_one(ModelsTable)
        assert table.models[0].edge == "no edge over random k, fixed set, logistic"
        row = [str(c) for c in table.get_row("weak")]
        assert "-0.012 ✗" in row and "-0.021 ✗" in row and "0.610" in row
        screen.use_model("weak")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert "no edge over random k, fixed set, logistic" in app.screen.question
        await pilot.press("escape")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert not (models_root / "active.json").exists()  # not made active unasked


async def test_delete_refuses_only_the_model_being_trained(make_app, monkeypatch,
                                                          models_root: Path) -> None:
    monkeypatch.setattr(TrainRequest, "train_argv", lambda self, db, **kw: [
        sys.executable, "-c", "import signal; signal.pause()"])
    write_model(models_root, "long", 0.4)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6, name="long-b")
        screen.report = {"ok": True}
        await pilot.press("ctrl+t")
        await pilot.pause()
        screen._delete("long-b")  # the one being trained
        await pilot.pause()
        assert any("being trained" in str(n.message) for n in app._notifications)
        screen._delete("long")  # another model whose name is a prefix of it: asks
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await pilot.pause()
        assert not (models_root / "long").exists()
        app.runtime.cancel("train")
        await app.runtime.wait("train")


# ── issue 28: a free name by default, name errors on the field, Start waits ──


async def test_a_blank_name_is_a_free_one_and_a_taken_name_is_marked(make_app,
                                                                     models_root: Path) -> None:
    import datetime as dt

    base = f"mini-{dt.date.today():%Y%m%d}"
    write_model(models_root, base, 0.4)  # a first training of the day
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6, name="")
        assert screen.request is not None and screen.request.name == f"{base}-2"
        screen.query_one(TrainForm).set_value("name", base)
        await pilot.pause()
        assert screen.request is None and "exists" in screen.errors["name"]
        hint = str(screen.query_one("#h-name").render())
        assert hint.startswith("✗") and base in hint and "--name" not in hint


async def test_editing_the_name_keeps_the_precheck_and_start_waits_for_a_running_one(
        make_app, monkeypatch, models_root: Path, tmp_path: Path) -> None:
    from storage import demo
    from storage.cache import Cache

    monkeypatch.setattr(TrainRequest, "train_argv", lambda self, db, **kw: [
        sys.executable, "-c", "import signal; signal.pause()"])
    db = tmp_path / "longer.duckdb"  # enough sessions for every slice of a training
    with Cache(db) as cache:
        demo.seed_cache(cache, ["SPY", "AAPL", "MSFT", "NVDA", "TSLA", "JPM"], 12,
                        end=demo.DEFAULT_END)
    app = make_app(db=db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, name="first", days="10")
        report = await prechecked(pilot, screen)
        assert report["ok"], report
        job = app.runtime.job("precheck")
        form = screen.query_one(TrainForm)
        form.set_value("name", "second")  # the samples are the same: no new precheck
        form.set_value("epochs", "3")
        await pilot.pause()
        assert app.runtime.job("precheck") is job and screen.report is not None
        assert not screen.query_one("#start").disabled
        screen.debounce_s = 1e6
        form.set_value("days", "11")  # new samples: their precheck is pending
        await pilot.pause()
        assert screen.report is None
        await pilot.press("ctrl+t")  # Start waits instead of refusing
        await pilot.pause()
        assert app.runtime.job("train") is None
        assert any("still running" in str(n.message) for n in app._notifications)
        screen._precheck_timer.stop()
        screen._run_precheck()
        assert (await prechecked(pilot, screen))["ok"]
        await pilot.pause()
        train = app.runtime.job("train")
        assert train is not None and train.state is JobState.RUNNING
        app.runtime.cancel("train")
        await app.runtime.wait("train")


async def test_escape_leaves_a_field_and_ctrl_o_goes_back_to_run(make_app) -> None:
    from textual.widgets import Input, TabbedContent

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_training(pilot, debounce=1e6, name="quit-test")
        name = screen.query_one("#f-name", Input)
        name.focus()
        await pilot.press("end", "x")
        assert name.value == "quit-testx"  # typing goes into the field
        await pilot.press("escape")
        assert screen.focused is None
        await pilot.press("ctrl+o")
        assert screen.query_one(TabbedContent).active == "tab-models"
        await pilot.press("ctrl+o")
        assert screen.query_one(TabbedContent).active == "tab-run"
        await pilot.press("q")  # the app's key again, not a letter in Name
        await pilot.pause()
        assert name.value == "quit-testx"
