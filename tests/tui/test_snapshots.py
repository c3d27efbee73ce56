"""SVG snapshots of the main screen, the help overlay and the list picker.

Fixed demo data (six symbols, three sessions to ``DEFAULT_END``), fixed terminal
sizes and a frozen clock: the images change only when the console's look does.
The console is drawn at 80×24 (the smallest terminal it supports: columns
dropped by priority, never a cut number), 120×36 and 200×50 (issue 17).
"""

from __future__ import annotations

import pytest

SIZE = (160, 48)
SIZES = [(80, 24), (120, 36), (200, 50)]


def _prepared(make_app, ready, replay, minutes: int = 30):
    # No warm-up: the snapshots judge the look, and a warm-up costs ~30 s per
    # image on a busy machine (indicators needing history show "—").
    app = make_app()

    async def run_before(pilot) -> None:
        await ready(pilot)
        await replay(pilot, minutes)

    return app, run_before


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_console_screen(snap_compare, make_app, ready, replay, size) -> None:
    app, before = _prepared(make_app, ready, replay)
    assert snap_compare(app, terminal_size=size, run_before=before)


def test_help_overlay(snap_compare, make_app, ready, replay) -> None:
    app, before = _prepared(make_app, ready, replay, 5)

    async def run_before(pilot) -> None:
        await before(pilot)
        await pilot.press("question_mark")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_list_picker(snap_compare, make_app, ready, replay) -> None:
    app, before = _prepared(make_app, ready, replay, 5)

    async def run_before(pilot) -> None:
        await before(pilot)
        await pilot.press("L")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_list_picker_80x24(snap_compare, make_app, ready, replay) -> None:
    app, before = _prepared(make_app, ready, replay, 5)

    async def run_before(pilot) -> None:
        await before(pilot)
        await pilot.press("L")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
