"""The Training screen (key 2): set up, precheck, launch, watch and cancel the selector's training.

Left, the form (the seeds' defaults, a hint or an error per field). Right, two
tabs: *Run* — the live precheck, Start/Cancel, and the run as it happens;
*Models* — every trained model, its config and curves, made active or deleted
from here. Long work runs through the app's runtime: each precheck and each
training is a child process (``avwap precheck --json``, ``avwap train
--progress-json``, the same code as the CLI) on the console's own cache (shared
by every process, ``storage.sharing``), so a crash or a heavy epoch never
freezes the console, whose live panes keep updating meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Select, Static, TabbedContent, TabPane

from models import checkpoint as ck
from models.registry import ACTIVE, active_name, list_models, models_dir, use
from storage import events
from storage.errors import AvwapError
from storage.tickers import available_lists, load_list
from tui.messages import JobFinished, JobProgress
from tui.runtime.jobs import JobState, ProcessJob, cli_argv
from tui.runtime.runtime import JobRefused
from tui.screens.common.commands import NamedCommands
from tui.screens.common.confirm import Confirm
from tui.screens.training import running
from tui.screens.training.form import TrainForm
from tui.screens.training.jobs import PrecheckOnCache, RunOnCache
from tui.screens.training.models_view import ModelDetail, ModelsTable
from tui.screens.training.precheck_view import PrecheckView
from tui.screens.training.request import TrainRequest, parse_form, same_samples
from tui.screens.training.run_view import RunView

if TYPE_CHECKING:
    from tui.app import AvwapApp

PRECHECK, TRAIN = "precheck", "train"
#: Fewest samples worth training on (``avwap train``'s default).
MIN_SAMPLES = 1000
#: The training child's niceness: on a 2-core laptop its MLX threads would
#: otherwise take the core the live console needs every minute.
TRAIN_NICE = 10


class TrainingCommands(NamedCommands):
    """Palette entries: "train: start", "train: cancel", "model: use NAME"."""

    def _commands(self) -> list[tuple[str, Any, str]]:
        screen = self.screen
        if not isinstance(screen, TrainingScreen):
            return []
        cmds: list[tuple[str, Any, str]] = [
            ("train: start", screen.action_start, "Start training with the form's settings"),
            ("train: cancel", screen.action_cancel, "Stop after the current step (keeps the best)"),
        ]
        for m in screen.query_one(ModelsTable).models:
            cmds.append((f"model: use {m.name}", lambda n=m.name: screen.use_model(n),
                         "Make this model the active one (the Indicators pane shows its picks)"))
        return cmds


class TrainingScreen(Screen[None]):
    """Form, precheck, run and models (see the module docstring)."""

    COMMANDS: ClassVar = {TrainingCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "start", "Start", id="train.start"),
        Binding("ctrl+x", "cancel", "Cancel", id="train.cancel", priority=True),
        Binding("ctrl+o", "models", "Models ⇄ Run", id="train.models"),
        Binding("escape", "leave_field", "Leave field", id="train.leave_field", show=False),
    ]
    #: ``-narrow`` where the right-hand tabs cannot hold a model's config and curves
    #: side by side: they are stacked, the curves under the
    #: config, at 8 rows (the Run tab's least), in a detail that scrolls.
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 (Textual's own attribute, not a ClassVar)
        (0, "-narrow"),
        (TrainForm.WIDTH + ModelDetail.CONFIG_WIDTH + ModelDetail.CURVES_MIN, "-wide")]
    DEFAULT_CSS = """
    TrainingScreen.-narrow #md-row { layout: vertical; height: auto; }
    TrainingScreen.-narrow #md-config { width: 1fr; height: auto; overflow-y: hidden; }
    TrainingScreen.-narrow #md-curves { height: 8; }
    TrainingScreen #train-right { width: 1fr; }
    TrainingScreen #train-buttons { height: 3; }
    TrainingScreen #train-buttons Button { margin-right: 1; }
    TrainingScreen #models-table { height: 1fr; min-height: 5; }
    TrainingScreen #models-hidden { height: auto; color: $text-muted; display: none; }
    """
    #: Seconds the form must stay unchanged before a precheck starts.
    debounce_s = 0.8
    #: Fewest samples worth training on (tests lower it for tiny data).
    min_samples = MIN_SAMPLES

    def __init__(self) -> None:
        super().__init__()
        self.request: TrainRequest | None = None
        self.report: dict[str, Any] | None = None
        self.errors: dict[str, str] = {}
        self._precheck_timer: Timer | None = None
        self._precheck_for: TrainRequest | None = None
        self._start_when_checked = False  # Start was pressed while the precheck ran
        self._training_name: str | None = None  # the model the running training writes

    @property
    def avwap_app(self) -> AvwapApp:
        return self.app  # type: ignore[return-value]

    @property
    def models_root(self) -> Path:
        return models_dir()

    def compose(self) -> ComposeResult:
        app = self.avwap_app
        lists = list(available_lists(app.controller.user_dir))
        with Horizontal():
            yield TrainForm(lists, app.list_name, id="train-form")
            with Vertical(id="train-right"), TabbedContent(id="train-tabs"):
                # the run view scrolls, the precheck and the buttons at its top, when the
                # window is too low for all of it (80x24): the evaluation, the verdict
                # and the log stay reachable
                with TabPane("Run", id="tab-run"), RunView(id="run"):
                    yield PrecheckView(id="precheck")
                    with Horizontal(id="train-buttons"):
                        yield Button("Start (ctrl+t)", id="start", variant="success",
                                     disabled=True)
                        yield Button("Cancel (ctrl+x)", id="cancel", variant="error",
                                     disabled=True)
                with TabPane("Models", id="tab-models"):
                    yield Static("", id="models-hidden")
                    yield ModelsTable(id="models-table")
                    yield ModelDetail(id="model-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ModelsTable).load(self.models_root)
        self._validate(self.query_one(TrainForm))
        self._follow_left_running()

    def _follow_left_running(self) -> None:
        """A training an earlier console left running: follow it in the Run tab.

        A live one is followed until it ends; one that ended meanwhile is read
        once, so its end is shown; either way its record goes when it is over.
        """
        rt = self.avwap_app.runtime
        if rt.job(TRAIN) is not None:
            return
        found = running.find(self.models_root)
        live = [r for r in found if r.alive]
        run = live[0] if live else (found[-1] if found else None)
        if run is None:
            return
        for other in found:
            if other is not run and not other.alive:
                running.clear(self.models_root / other.name, other)
        self._training_name = run.name
        job = running.FollowJob(TRAIN, run)
        job.label = f"training {run.name}"
        try:
            rt.start(job, watcher=self)
        except JobRefused:
            return
        what = "left running by an earlier console" if run.alive else "ended while no console ran"
        self.query_one(RunView).reset(f"Following {run.name} (pid {run.pid}, {what})…")
        self.query_one(RunView).show_progress()
        self._update_buttons()

    # -- the form and the precheck ---------------------------------------------
    @on(TrainForm.Changed)
    def _form_changed(self, event: TrainForm.Changed) -> None:
        self._validate(self.query_one(TrainForm))

    def _validate(self, form: TrainForm) -> None:
        symbols: tuple[str, ...] | None = None
        list_error = None
        if form.list_name:
            try:
                symbols = load_list(form.list_name, self.avwap_app.controller.user_dir).symbols
            except AvwapError as e:
                list_error = str(e)
        default_name = f"{form.list_name or 'model'}-{dt.date.today():%Y%m%d}"
        root = self.models_root
        self.request, self.errors = parse_form(
            form.values(), form.list_name, symbols, list_error, default_name,
            taken=lambda name: (root / name / ck.POINTER).exists()
            or (root / name / running.RUNNING).exists())
        form.show_errors(self.errors)
        if same_samples(self._precheck_for, self.request) and self._precheck_timer is None:
            # Name, epochs, top-k or seed changed: the samples, and so the precheck
            # (passed, failed or still running), are the same.
            self._update_buttons()
            return
        self.report = None
        self._start_when_checked = False
        self._update_buttons()
        if self._precheck_timer is not None:
            self._precheck_timer.stop()
            self._precheck_timer = None
        if self.request is None:
            self.query_one(PrecheckView).invalid()
            return
        self.query_one(PrecheckView).pending("checking the cache…")
        if self.debounce_s > 0:
            self._precheck_timer = self.set_timer(self.debounce_s, self._run_precheck)
        else:
            self.call_later(self._run_precheck)

    def _run_precheck(self) -> None:
        self._precheck_timer = None
        req = self.request
        if req is None:
            return
        rt = self.avwap_app.runtime
        rt.cancel(PRECHECK)
        if rt.job(PRECHECK) is not None and not rt.job(PRECHECK).state.finished:  # type: ignore
            self._precheck_timer = self.set_timer(0.2, self._run_precheck)  # after it ends
            return
        self._precheck_for = req
        job = PrecheckOnCache(PRECHECK, self.avwap_app.controller.cache, req.tickers, req.days,
                              lambda db: req.precheck_argv(db, self.min_samples))
        try:
            rt.start(job, watcher=self)
        except JobRefused as e:
            self.query_one(PrecheckView).failed(str(e))

    def _update_buttons(self) -> None:
        training = self._training()
        ok = self.request is not None and bool(self.report and self.report.get("ok"))
        self.query_one("#start", Button).disabled = training or not ok
        self.query_one("#cancel", Button).disabled = not training

    def _precheck_running(self) -> bool:
        """A precheck of the form's samples is debouncing or running."""
        job = self.avwap_app.runtime.job(PRECHECK)
        running = job is not None and job.state is JobState.RUNNING
        return self.request is not None and (self._precheck_timer is not None or (
            running and same_samples(self._precheck_for, self.request)))

    def _training(self) -> bool:
        job = self.avwap_app.runtime.job(TRAIN)
        return job is not None and job.state is JobState.RUNNING

    # -- job messages ----------------------------------------------------------
    def on_job_progress(self, msg: JobProgress) -> None:
        if msg.name == PRECHECK:
            if isinstance(msg.event, events.Report) and same_samples(self._precheck_for,
                                                                     self.request):
                self.report = msg.event.report
                self.query_one(PrecheckView).show(self.report)
                self._update_buttons()
                if self._start_when_checked:
                    self._start_when_checked = False
                    self.action_start()
        elif msg.name == TRAIN:
            self.query_one(RunView).apply(msg.event)
            if isinstance(msg.event, events.Checkpoint):  # its created date, accuracy…
                self.query_one(ModelsTable).load(self.models_root)

    def on_job_finished(self, msg: JobFinished) -> None:
        if msg.name == PRECHECK:
            if msg.state == JobState.FAILED.value and self.report is None \
                    and same_samples(self._precheck_for, self.request):
                self.query_one(PrecheckView).failed(msg.error or "precheck failed")
                if self._start_when_checked:
                    self._start_when_checked = False
                    self.notify("Not started: the precheck failed (see its message).",
                                severity="warning")
            return
        if msg.name != TRAIN:
            return
        run = self.query_one(RunView)
        job = self.avwap_app.runtime.job(TRAIN)
        if msg.state == JobState.FAILED.value:
            tail = list(job.log)[-3:] if isinstance(job, ProcessJob) else []
            run.failed(msg.error or "training failed")
            for line in tail:
                run.log_line(line)
            self.notify(escape(msg.error or "training failed"), title="Training failed",
                        severity="error", timeout=10)
        elif msg.state == JobState.CANCELLED.value:
            self.notify("Training cancelled; the best checkpoint so far is kept.", timeout=6)
        else:
            self.notify("Training finished.", timeout=4)
        if self._training_name is not None and not (job is not None and job.detached):
            running.clear(self.models_root / self._training_name)  # its record and temp files
        self.query_one(ModelsTable).load(self.models_root)
        self._update_buttons()

    # -- actions ---------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_start(self) -> None:
        req = self.request
        if req is None:
            self.notify("Fix the marked fields first.", severity="warning")
            return
        if self._training():
            self.notify("A training is already running: cancel it first.", severity="warning")
            return
        if self.report is None and self._precheck_running():
            # Start waits for the precheck of these samples instead of refusing.
            self._start_when_checked = True
            self.notify("The precheck is still running: the training starts when it passes.")
            return
        if not (self.report and self.report.get("ok")):
            self.notify("The precheck has not passed (see its message).", severity="warning")
            return
        self._launch(req.name, req.tickers, req.days,
                     lambda db: req.train_argv(db, min_samples=self.min_samples))

    def _launch(self, name: str, symbols: tuple[str, ...] | list[str], days: int,
                argv_for: Any, end: dt.date | None = None) -> None:
        # The child's progress lives in its model's folder, not the console's temporary
        # one: it may outlive the console ("leave it running"), and whoever sees it end
        # (this console, or a later one following it) removes its record.
        model_dir = self.models_root / name
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.notify(escape(f"Cannot start {name}: {e}"), severity="error")
            return
        self._training_name = name
        log = model_dir / running.LOG
        job = RunOnCache(TRAIN, self.avwap_app.controller.cache, list(symbols), days, argv_for,
                         end=end, output=log, nice=TRAIN_NICE)
        job.ask_at_quit = True
        job.label = f"training {name}"
        job.on_spawn = lambda pid: self._spawned(model_dir, pid, log, ())
        try:
            self.avwap_app.runtime.start(job, watcher=self)
        except JobRefused as e:
            self.notify(escape(str(e)), severity="warning")
            return
        self.query_one(RunView).reset(f"Starting {name}…")
        self.query_one(RunView).show_progress()
        self.query_one(TabbedContent).active = "tab-run"
        self._update_buttons()

    def _spawned(self, model_dir: Path, pid: int, log: Path, temp: tuple[Path, ...]) -> None:
        """The training child runs: recorded beside its model (a later console finds it)."""
        try:
            running.record(model_dir, pid, log, temp)
        except OSError as e:
            self.notify(escape(f"A restarted console will not find this training: {e}"),
                        severity="warning")
        self.query_one(ModelsTable).load(self.models_root)  # listed as training…

    def action_cancel(self) -> None:
        if not self.avwap_app.runtime.cancel(TRAIN):
            self.notify("No training is running.", timeout=3)
            return
        self.notify("Stopping after the current step…", timeout=3)

    def action_models(self) -> None:
        """The Models tab, or from it back to the Run tab (there was no key back)."""
        tabs = self.query_one(TabbedContent)
        if tabs.active == "tab-models":
            tabs.active = "tab-run"
            self.set_focus(None)
            return
        tabs.active = "tab-models"
        self.query_one(ModelsTable).focus()

    def action_leave_field(self) -> None:
        """Escape leaves a form field, so the screen's keys (``q``, ``1``…) work again
        (``q`` used to type itself into Name)."""
        if isinstance(self.focused, Input | Select):
            self.set_focus(None)

    # -- models ----------------------------------------------------------------
    @on(ModelsTable.Fitted, "#models-table")
    def _models_fitted(self, msg: ModelsTable.Fitted) -> None:
        """The line above the table names the columns too wide to show whole."""
        line = self.query_one("#models-hidden", Static)
        line.update(Text(f"Hidden at this width: {', '.join(msg.hidden)} (widen the "
                         "window to see them)") if msg.hidden else "")
        line.display = bool(msg.hidden)

    @on(ModelsTable.Chosen)
    def _model_chosen(self, msg: ModelsTable.Chosen) -> None:
        if msg.action == "open":
            try:
                self.query_one(ModelDetail).show(self.models_root / msg.name)
            except (OSError, ValueError, AvwapError) as e:
                self.notify(escape(f"{msg.name}: {e}"), severity="error")
        elif msg.action == "use":
            self.use_model(msg.name)
        elif msg.action == "delete":
            self._delete(msg.name)
        elif msg.action == "resume":
            self._resume(msg.name)

    def use_model(self, name: str) -> None:
        """Make ``name`` active; a model without an edge over the baselines asks first."""
        known = self.query_one(ModelsTable).models or list_models(self.models_root)
        info = next((m for m in known if m.name == name), None)
        if info is None or not info.edge:
            self.run_worker(self._use(name), group="model-use", exclusive=True)
            return

        def answered(answer: str | None) -> None:
            if answer == "use":
                self.run_worker(self._use(name), group="model-use", exclusive=True)

        self.app.push_screen(Confirm(
            f"{name}: {info.edge} on its test days, so its picks are no better than a "
            "baseline's. Make it the console's model anyway?",
            {"y": ("use", "use it anyway (the Indicators pane will say it has no edge)")}),
            answered)

    async def _use(self, name: str) -> None:
        app = self.avwap_app
        try:  # loading checks the weights against the registry: MLX, so on its thread
            path = await app.runtime.executor.run(use, self.models_root, name)
        except AvwapError as e:
            self.notify(escape(str(e)), title="Cannot use the model", severity="error",
                        timeout=10)
            return
        self.query_one(ModelsTable).load(self.models_root)
        app.model_activated(path)
        self.notify(escape(f"Model {name} is active: the Indicators pane shows its picks."),
                    timeout=5)

    def _delete(self, name: str) -> None:
        rec = running.read(self.models_root / name)
        if (self._training() and name == self._training_name) or (rec and rec.alive):
            self.notify(f"{name} is being trained: cancel it first.", severity="warning")
            return

        def answered(answer: str | None) -> None:
            if answer != "delete":
                return
            root = self.models_root
            if active_name(root) == name:
                (root / ACTIVE).unlink(missing_ok=True)
                self.avwap_app.model_activated(None)
            shutil.rmtree(root / name, ignore_errors=True)
            self.query_one(ModelsTable).load(root)
            self.notify(escape(f"Deleted {name}."), timeout=3)

        self.app.push_screen(Confirm(f"Delete the model {name}? Its checkpoints go too.",
                                     {"y": ("delete", "delete it")}), answered)

    def _resume(self, name: str) -> None:
        path = self.models_root / name
        try:
            cfg = json.loads((ck.resolve(path, "last") / "config.json").read_text("utf-8"))
        except (OSError, ValueError, AvwapError) as e:
            self.notify(escape(f"Cannot resume {name}: {e}"), severity="error")
            return
        end = dt.date.fromisoformat(str(cfg["end"]))

        def argv_for(db: str) -> list[str]:
            return [*cli_argv(), "--db", db, "train", "--resume", name, "--progress-json"]

        self._launch(name, list(cfg.get("tickers", [])), int(cfg.get("days", 20)), argv_for,
                     end=end)
