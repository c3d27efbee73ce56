"""Issue 17: text from data reaches the screen as written; the picker, the clock, screenshots.

Square brackets in data or docs were eaten as markup (the help title read
"remap in the config's  table", a reason "close outside [low, high]" lost its
brackets, a CSV value ``[bold red]boom[/bold red]`` was styled); the list
picker showed wrapped description words as lists of their own; a replayed
cache whose last bar is mid-session said ``DONE … 15:59 ET``; the palette's
Screenshot failed without ``~/Downloads``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from textual.content import Content

from storage import demo
from storage.cache import Cache
from tui import fmt
from tui.messages import FeedNotice, SessionFailed
from tui.screens.common.help import HelpScreen
from tui.screens.common.list_picker import ListPicker
from tui.screens.console.status_bar import StatusBar

TRICKY = (
    "close outside [low, high]",
    "[bold red]boom[/bold red]",
    "[/x]",
    "remap in the config's [keys] table",
    r"a back\slash [b]",
    "[link=http://x]y[/link] [@click=app.quit]q[/]",
)


@pytest.mark.parametrize("text", TRICKY)
def test_safe_text_reads_as_written(text: str) -> None:
    assert Content.from_markup(fmt.safe(text)).plain == text  # Textual markup
    console = Console(width=200, record=True, color_system=None)
    console.print(fmt.safe(text), end="")  # Rich markup (help table, CLI)
    assert console.export_text() == text


def toast_texts(app) -> list[str]:
    """What the toasts show (their markup parsed as Textual does)."""
    return [Content.from_markup(n.message).plain if n.markup else n.message
            for n in app._notifications]


async def test_notifications_and_help_show_brackets(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        screen = app.console_screen
        screen.post_message(SessionFailed("row 7: close outside [low, high]"))
        screen.post_message(FeedNotice("warning", "[bold red]boom[/bold red] is not a symbol"))
        await pilot.pause()
        shown = toast_texts(app)
        assert "row 7: close outside [low, high]" in shown
        assert "[bold red]boom[/bold red] is not a symbol" in shown
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, record=True, color_system=None)
        console.print(app.screen.query_one("#help-table").content)
        assert "Keys (remap in the config's [keys] table by id)" in console.export_text()


async def test_list_picker_one_line_per_list(make_app, ready, user_dir: Path) -> None:
    (user_dir / "banks.json").write_text(json.dumps({
        "description": "US money-centre and regional banks (large and mid caps) with "
                       "[bold]brackets[/bold] and a description much longer than any "
                       "terminal line, to wrap ( banks ) twice over",
        "symbols": ["JPM", "BAC"]}))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("L")
        picker = app.screen
        assert isinstance(picker, ListPicker)
        ol = picker.query_one("#lists")
        # One line per list: no wrapped words posing as lists.
        assert ol.virtual_size.height == ol.option_count
        box = picker.query_one("ListPicker > Vertical")
        assert box.region.right <= 80 and box.region.x >= 0  # the border is not cut
        prompt = ol.get_option("banks").prompt
        plain = Content.from_markup(prompt).plain if isinstance(prompt, str) else str(prompt)
        assert "[bold]brackets[/bold]" in plain and "2 symbols" in plain


@pytest.fixture
def cut_db(tmp_path: Path) -> Path:
    """A cache whose last session ends at 10:24 ET (a feed stopped mid-morning)."""
    db = tmp_path / "cut.duckdb"
    with Cache(db) as cache:
        demo.seed_cache(cache, ("SPY", "AAPL"), 2, end=demo.DEFAULT_END)
        with cache.transaction() as cur:
            cur.execute(
                "DELETE FROM bars WHERE ts > TIMESTAMP '2025-11-21 15:24:00'")  # 10:24 ET
        cache.checkpoint()
    return db


async def test_replay_past_the_last_bar_keeps_its_clock(make_app, ready, cut_db: Path) -> None:
    app = make_app(db=cut_db)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        screen = app.console_screen
        frame = last = None
        while (frame := await screen.session.step_next()) is not None:
            last = frame
        assert last is not None
        assert last.snapshot.ts == np.datetime64("2025-11-21T20:59")  # the grid's 15:59 ET
        screen.show_frame(last)
        await pilot.pause()
        assert screen.query_one(StatusBar).status.clock == "2025-11-21 10:24 ET"


async def test_screenshot_without_downloads(make_app, ready, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app.deliver_screenshot("shot.svg")
        target = home / "data" / "avwap-console" / "screenshots" / "shot.svg"
        for _ in range(100):  # bounded: the file is written off the loop
            await pilot.pause(0.02)
            if any("Saved screenshot" in m for m in toast_texts(app)):
                break
        assert target.exists() and target.read_text().startswith("<svg")
        assert any(str(target) in m for m in toast_texts(app))
