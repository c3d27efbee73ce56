"""The Training screen at 80x24 (issue 28 item 5): everything reachable, nothing cut.

The evaluation can be scrolled to and is stacked there (every figure whole,
under its row's name; the table showed only the names), the verdict and the log
below it are reached too, ``Done: … saved to …`` wraps instead of being cut,
the legends keep a gap and never split an entry, and the Models table shows
whole columns only, naming the ones it hides.
"""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widgets import Log, Static

from tests.tui.test_training import demo_db, open_training, write_model  # noqa: F401 (fixture)
from tui.screens.training.eval_view import EvalRow, EvalStack, EvalTable, EvalView, stacked
from tui.screens.training.models_view import ModelDetail, ModelsTable
from tui.screens.training.run_view import GLUE, Legend, RunView
from tui.widgets.chart import BrailleChart

NARROW = (80, 24)
PATH = "/home/trader/.local/share/avwap/models/curated-20261207-2"
EVENTS = [
    {"event": "start", "name": "curated-20261207-2", "epochs": 2, "steps_per_epoch": 4,
     "batch_size": 32,
     "train_samples": 900, "val_samples": 300, "test_samples": 300, "features": 152,
     "outputs": 131},
    *({"event": "epoch", "epoch": e, "epochs": 2, "global_step": 4 * e, "loss": 0.7 - 0.01 * e,
       "val_loss": 0.69, "selection_accuracy": 0.3 + 0.01 * e, "sparsity": 0.5,
       "mean_weight": 0.4, "best": True} for e in (1, 2)),
    {"event": "eval", "beats_all": False, "verdict": (
        "The model does NOT beat: best fixed k-set, logistic (paired bootstrap over 1 test "
        "days, 95 %); do not trust its picks over those. Only 1 test day: the intervals "
        "resample samples, not days, and understate the uncertainty; use more days."),
     "rows": [{"name": "model", "precision": 0.32, "ci95": [0.30, 0.34], "gate": False}]
     + [{"name": n, "precision": 0.301 + i / 100, "ci95": [0.281 + i / 100, 0.321 + i / 100],
         "model_minus": 0.019 - i / 100, "diff_ci95": [-0.011 - i / 100, 0.041 - i / 100],
         "model_beats": i == 0, "gate": i < 3}
        for i, n in enumerate(("random k (nonzero)", "best fixed k-set", "logistic",
                               "base rate", "AVWAP prior"))]},
    {"event": "done", "name": "curated-20261207-2", "path": PATH, "interrupted": False},
]


@pytest.fixture(autouse=True)
def models_root(tmp_path, monkeypatch):
    root = tmp_path / "models"
    monkeypatch.setenv("AVWAP_MODELS_DIR", str(root))
    return root


def screen_lines(app) -> list[str]:
    """The screen as drawn, one string a row (what a snapshot or tmux shows)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def expected_figures(row: dict) -> list[str]:
    """A row's figures as the stacked form writes them, each to be found whole."""
    lo, hi = row["ci95"]
    out = [f"{row['precision']:.3f} ({lo:.3f}–{hi:.3f})"]
    if "model_beats" in row:
        out.append(f"beats: {'yes' if row['model_beats'] else 'no'}")
        d0, d1 = row["diff_ci95"]
        out.append(f"Δ {row['model_minus']:+.3f} [{d0:+.3f}, {d1:+.3f}]")
    return out


def on_screen(app, widget) -> bool:
    """``widget`` is drawn whole inside the screen (above the footer)."""
    r = widget.region
    return r.height > 0 and r.y >= 0 and r.bottom <= app.size.height - 1


async def test_the_end_of_a_run_wraps(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        run = screen.query_one(RunView)
        run.reset("Starting…")
        for ev in EVENTS:
            run.apply(ev)
        await pilot.pause()
        status = run.query_one("#run-status", Static)
        run.scroll_to_widget(status, animate=False)
        await pilot.pause()
        need = status.get_content_height(status.size, app.size, status.content_region.width)
        assert need > 2 and status.content_region.height >= need, "Done: … is cut"
        assert on_screen(app, status)
        assert PATH in str(status.render())
        assert len(run.loss) == 2  # every event was read (none logged as an error)


async def test_legends_keep_their_entries_whole_and_apart(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        loss, acc = screen.query(".legend").results(Legend)
        assert acc.region.x - loss.region.right >= 1, "the two legends run together"
        seen = []
        for legend in (loss, acc):
            width = legend.content_region.width
            lines = [strip.text.replace(GLUE, " ").rstrip() for strip in legend.render_lines(
                Region(0, 0, legend.size.width, legend.size.height))]
            seen += [" ".join(p.split()) for p in " ".join(lines).split("━")[1:]]
            for name in ("loss", "val loss", "selection accuracy", "sparsity"):
                if len(f"━ {name}") <= width and f"━ {name}" in " ".join(lines):
                    assert any(f"━ {name}" in line for line in lines), (name, lines)
        assert seen == ["loss", "val loss", "selection accuracy", "sparsity"], seen


async def test_the_models_table_hides_whole_columns_and_says_which(make_app,
                                                                   models_root) -> None:
    write_model(models_root, "curated-a", 0.41)
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        await pilot.press("ctrl+o")
        await pilot.pause()
        table = screen.query_one(ModelsTable)
        assert table.hidden and "Data" in table.hidden
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.size.width - table.styles.scrollbar_size_vertical
        hidden = screen.query_one("#models-hidden", Static)
        line = str(hidden.render())
        assert "Hidden at this width" in line and "Data" in line
        need = hidden.get_content_height(hidden.size, app.size, hidden.content_region.width)
        assert need > 1 and hidden.content_region.height >= need  # the line wraps, whole
        assert table.get_row("curated-a")[1].plain == "curated-a"  # the name, whole
        narrow = table.hidden
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert len(table.hidden) < len(narrow)  # wider: more columns come back
        await pilot.resize_terminal(260, 50)
        await pilot.pause()
        assert table.hidden == () and not screen.query_one("#models-hidden", Static).display


async def test_the_evaluation_is_stacked_at_80_columns_with_every_figure_whole(make_app) -> None:
    """At 80x24 the table could show only the row names (the pane is 34 columns):
    the stacked form shows each row's figures whole under its name."""
    rows = EVENTS[-2]["rows"]
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        run = screen.query_one(RunView)
        run.reset("Starting…")
        for ev in EVENTS:
            run.apply(ev)
        await pilot.pause()
        view = run.query_one(EvalView)
        assert view.stacked and not view.query_one(EvalTable).display
        stack = view.query_one(EvalStack)
        run.scroll_to_widget(stack, animate=False, top=True)
        await pilot.pause()
        assert on_screen(app, stack), (stack.region, app.size)
        assert stack.hidden == ()
        lines = [line[stack.region.x:stack.region.right].rstrip()
                 for line in screen_lines(app)[stack.region.y:stack.region.bottom]]
        assert not any("Hidden at this width" in line for line in lines), lines
        names = [next(i for i, line in enumerate(lines) if line.strip().startswith(r["name"]))
                 for r in rows]
        assert names == sorted(names), lines  # in the evaluation's order
        for k, row in enumerate(rows):
            block = lines[names[k] + 1:names[k + 1] if k + 1 < len(rows) else len(lines)]
            for figure in expected_figures(row):
                assert any(figure in line for line in block), (row["name"], figure, block)
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        table = view.query_one(EvalTable)
        assert not view.stacked and table.display and table.hidden == ()
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.size.width
        run.scroll_to_widget(table, animate=False)
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        for row in rows:
            lo, hi = row["ci95"]
            assert f"{row['precision']:.3f}" in shown and f"{lo:.3f} – {hi:.3f}" in shown, row
            if "diff_ci95" in row:
                d0, d1 = row["diff_ci95"]
                assert f"{row['model_minus']:+.3f} [{d0:+.3f}, {d1:+.3f}]" in shown, row


def test_a_figure_wider_than_the_pane_is_left_out_and_named() -> None:
    rows = [EvalRow.from_dict(r) for r in EVENTS[-2]["rows"]]
    assert stacked(rows, 34)[1] == ()
    text, hidden = stacked(rows, 24)  # Δ with its interval is 25 cells, indented 27
    assert hidden == ("model − it",)
    note, legend, *body = text.plain.split("\n")
    assert note == "Hidden at this width: model − it" and legend.startswith("top-k precision")
    assert all(len(line) <= 24 for line in body), body
    assert not any("Δ" in line for line in body)
    assert "  0.301 (0.281–0.321)" in body and "  beats: yes" in body


async def test_the_verdict_and_the_log_are_reached_below_a_stacked_evaluation(make_app) -> None:
    """The run view used to be a fixed 30 rows inside the scroll: at 80x24, below a
    stacked evaluation, the verdict and the log were cut off and could not be reached."""
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        run = screen.query_one(RunView)
        run.reset("Starting…")
        for ev in EVENTS:
            run.apply(ev)
        await pilot.pause()
        verdict = run.query_one("#run-verdict", Static)
        run.scroll_to_widget(verdict, animate=False)
        await pilot.pause()
        need = verdict.get_content_height(verdict.size, app.size, verdict.content_region.width)
        assert need > 3 and verdict.region.height >= need
        assert on_screen(app, verdict), (verdict.region, app.size)
        assert screen_lines(app)[verdict.region.bottom - 1].rstrip().endswith("more days.")
        log = run.query_one(Log)
        run.scroll_end(animate=False)
        await pilot.pause()
        assert on_screen(app, log), (log.region, app.size)
        assert any("epoch 2: loss" in line for line in screen_lines(app))


async def test_a_models_config_and_curves_fit_a_narrow_tab(make_app, models_root) -> None:
    """Side by side the config (48 columns) was cut at the 36-column tab's edge and the
    curves had no width; at 80x24 the curves go under the config, and both are reached."""
    write_model(models_root, "curated-a", 0.41)
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        await pilot.press("ctrl+o")
        await pilot.press("enter")  # the model under the cursor: its config and curves
        await pilot.pause()
        detail = screen.query_one(ModelDetail)
        config = detail.query_one("#md-config", Static)
        chart = detail.query_one("#md-chart", BrailleChart)
        assert "curated-a" in str(config.render())
        assert config.region.right <= detail.region.right - 1, "the config is cut at the edge"
        need = config.get_content_height(config.size, app.size, config.content_region.width)
        assert config.region.height >= need  # every line, wrapped where it is long
        detail.scroll_to_widget(chart, animate=False)
        await pilot.pause()
        assert chart.region.width >= 20 and chart.region.height >= 6, chart.region
        assert on_screen(app, chart), (chart.region, app.size)
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert config.region.width == ModelDetail.CONFIG_WIDTH  # side by side again
        assert chart.region.x > config.region.right - 1 and chart.region.width >= 60


REPORT = {"ok": True, "window": ["2025-10-27", "2025-11-21"], "sessions": 20, "estimate": 16384,
          "formula": "(20 × 390 − 120) ÷ 15 × 32 tickers", "exact": 16000, "train": 12576,
          "val": 1376, "test": 1600, "folds": 3, "epoch_s": 1.4, "steps_per_epoch": 49,
          "step_ms": 28.0, "tickers": 32,
          "coverage": [{"symbol": s, "sessions": 20, "missing": []}
                       for s in ("SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT", "NVDA")]}


async def test_the_precheck_shows_its_symbols_and_start_shows_the_progress(make_app,
                                                                          monkeypatch) -> None:
    """At 80x24 the precheck's 12 fixed rows went to its wrapped summary, leaving its
    table no row; and once started, the progress sat below the window's edge."""
    import sys

    from tui.screens.training.precheck_view import PrecheckView
    from tui.screens.training.request import TrainRequest

    monkeypatch.setattr(TrainRequest, "train_argv", lambda self, db, **kw: [
        sys.executable, "-c", "import signal; signal.pause()"])
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        precheck = screen.query_one(PrecheckView)
        precheck.show(REPORT)
        screen.report = REPORT
        screen._update_buttons()
        await pilot.pause()
        table = precheck.query_one("#pc-table")
        body = [line[table.region.x:table.region.right]
                for line in screen_lines(app)[table.region.y + 1:table.region.bottom]]
        assert [line.split()[0] for line in body[:5]] == ["SPY", "QQQ", "IWM", "DIA", "AAPL"]
        assert table.region.bottom <= app.size.height - 1  # on screen as the tab opens
        start = screen.query_one("#start")
        assert on_screen(app, start), start.region
        await pilot.press("ctrl+t")
        await pilot.pause()
        run = screen.query_one(RunView)
        for widget in (run.query_one("#bar-all"), run.query_one("#run-status"),
                       run.query_one("#chart-loss")):
            assert on_screen(app, widget), (widget, widget.region)
        app.runtime.cancel("train")
        await app.runtime.wait("train")


@pytest.mark.parametrize("size", [NARROW, (200, 50)])
async def test_the_curves_end_at_the_last_epoch(make_app, size) -> None:
    """The curves were drawn as if one point shorter: from the third epoch on, the last
    one fell off the right edge (a 3-epoch run's axis ended at "2")."""
    epochs = [{"event": "epoch", "epoch": e, "epochs": 3, "global_step": 4 * e,
               "loss": 0.7 - 0.1 * e, "val_loss": 0.69, "selection_accuracy": 0.3 + 0.01 * e,
               "sparsity": 0.5, "mean_weight": 0.4, "best": True} for e in (1, 2, 3)]
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        run = screen.query_one(RunView)
        run.reset("Starting…")
        for ev in [EVENTS[0], *epochs]:
            run.apply(ev)
        await pilot.pause()
        chart = run.query_one("#chart-loss", BrailleChart)
        lines = [s.text for s in chart.render_lines(Region(0, 0, *chart.size))]
        assert lines[-1].split() == ["1", "2", "3"], lines[-1]
        plot = [line.split("┤", 1)[-1].split("│", 1)[-1] for line in lines[:-2]]
        width = max(len(p) for p in plot)
        assert any(len(p) == width and p[-1] != " " for p in plot), "no point at the right edge"
