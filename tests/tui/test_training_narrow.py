"""The Training screen at 80x24 (issue 28 item 5): everything reachable, nothing cut.

The evaluation table can be scrolled to, ``Done: … saved to …`` wraps instead of
being cut, the legends keep a gap and never split an entry, and the Models table
shows whole columns only, naming the ones it hides.
"""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.widgets import DataTable, Static

from tests.tui.test_training import demo_db, open_training, write_model  # noqa: F401 (fixture)
from tui.screens.training.models_view import ModelsTable
from tui.screens.training.run_view import GLUE, Legend, RunView

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
    {"event": "eval", "verdict": "The model does NOT beat: best fixed k-set", "beats_all": False,
     "rows": [{"name": n, "precision": 0.31, "ci95": [0.29, 0.33], "model_minus": 0.01,
               "diff_ci95": [-0.01, 0.03], "model_beats": False, "gate": True}
              for n in ("random k (nonzero)", "best fixed k-set", "logistic")]
     + [{"name": "model", "precision": 0.32, "ci95": [0.30, 0.34]}]},
    {"event": "done", "name": "curated-20261207-2", "path": PATH, "interrupted": False},
]


@pytest.fixture(autouse=True)
def models_root(tmp_path, monkeypatch):
    root = tmp_path / "models"
    monkeypatch.setenv("AVWAP_MODELS_DIR", str(root))
    return root


def on_screen(app, widget) -> bool:
    """``widget`` is drawn whole inside the screen (above the footer)."""
    r = widget.region
    return r.height > 0 and r.y >= 0 and r.bottom <= app.size.height - 1


async def test_the_run_tab_scrolls_to_the_evaluation_and_the_end_wraps(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_training(pilot, debounce=1e6)
        run = screen.query_one(RunView)
        run.reset("Starting…")
        for ev in EVENTS:
            run.apply(ev)
        await pilot.pause()
        table = run.query_one("#run-eval", DataTable)
        screen.query_one("#run-scroll", VerticalScroll).scroll_to_widget(table, animate=False)
        await pilot.pause()
        assert on_screen(app, table), table.region
        assert table.region.height >= 1 + table.row_count  # its title and every row
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.size.width, "a column is cut at the edge"
        assert table.hidden and "95 % interval" in table.hidden
        note = str(run.query_one("#run-eval-hidden", Static).render())
        assert "Hidden at this width" in note and "95 % interval" in note
        status = run.query_one("#run-status", Static)
        screen.query_one("#run-scroll", VerticalScroll).scroll_to_widget(status, animate=False)
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
