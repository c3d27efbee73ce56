"""Custom anchors in the real console (Pilot) on a real DuckDB cache file.

An anchor added through ``ConsoleSession.add_anchor`` (what the chart's "anchor
here" key calls) shows its level and bands in the AVWAP pane at once, equal to
a float64 reference from the cache's bars; it survives a restart on the same
file with the same values; an alert on it fires when price crosses; ``K``
lists it and ``d`` deletes it from the pane, the database and the alerts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import OptionList

from storage import demo
from storage.anchors import AnchorError, list_anchors
from storage.cache import Cache
from storage.feeds.replay import ReplaySource
from tui import fmt
from tui.alerts import AlertRule, custom_anchor
from tui.app import AvwapApp
from tui.runtime.console import ConsoleSession
from tui.runtime.controller import Controller
from tui.runtime.frames import Frame
from tui.screens.common.alert_dialog import AlertDialog
from tui.screens.common.anchors import AnchorsDialog
from tui.screens.common.confirm import Confirm
from tui.screens.console.avwap_pane import AvwapTable
from tui.screens.console.watchlist import Watchlist

SIZE = (160, 48)
#: Thursday 2025-11-20 11:00 ET, a bar of the warmed history (the replay runs Friday).
THU_11 = np.datetime64("2025-11-20T16:00")


@pytest.fixture
def db(demo_db: Path, tmp_path: Path) -> Path:
    """A private read-write copy of the demo cache (anchors are written to it)."""
    path = tmp_path / "anchors.duckdb"
    shutil.copy(demo_db, path)
    return path


def make(db: Path, user_dir: Path) -> AvwapApp:
    cache = Cache(db)  # read-write, as `avwap tui` opens it
    source = ReplaySource(cache, end=demo.DEFAULT_END, warm_sessions=1, speed=None)
    ctl = Controller(cache, source, clock=lambda: 0.0, user_dir=user_dir)
    return AvwapApp(ctl, list_name="mini", speed=None, live=False, clock=lambda: 0.0,
                    render_interval=0.0, chart_interval=0.0)


def reference(cache: Cache, symbol: str, start: np.datetime64,
              now: np.datetime64) -> dict[str, float]:
    """Float64 hlc3 VWAP, σ bands and z from the cache's bars in [start, now]."""
    bars = cache.read_bars([symbol], start, now + np.timedelta64(1, "m"))
    h, lo, c, v = (bars[f].to_numpy() for f in ("high", "low", "close", "volume"))
    p = (h + lo + c) / 3.0
    level = float((v * p).sum() / v.sum())
    sd = float(np.sqrt((v * (p - level) ** 2).sum() / v.sum()))
    return {"level": level, "up1": level + sd, "dn1": level - sd, "up2": level + 2 * sd,
            "dn2": level - 2 * sd, "up3": level + 3 * sd, "dn3": level - 3 * sd,
            "z": (c[-1] - level) / sd}


def frame_of(ctl: Controller) -> Frame:
    assert ctl.frame is not None
    return ctl.frame


def session_of(app: AvwapApp) -> ConsoleSession:
    session = app.console_screen.session
    assert session is not None
    return session


def level_cell(app: AvwapApp, name: str) -> str:
    row = pane_row(app, name)
    assert row is not None, f"no row {name!r} in the AVWAP pane"
    return row[4]


def pane_row(app: AvwapApp, name: str) -> list[str] | None:
    table = app.console_screen.query_one(AvwapTable)
    rows = [r for r in table.cells if r[0] == name]
    return rows[0] if rows else None


async def _start(pilot, ready, minutes: int) -> None:  # type: ignore[no-untyped-def]
    await ready(pilot)
    session = session_of(pilot.app)
    frame = None
    for _ in range(minutes):
        frame = await session.step_next()
    assert frame is not None
    pilot.app.console_screen.show_frame(frame)
    await pilot.pause()


async def test_anchor_shows_at_once_survives_restart_and_deletes(db, user_dir, ready) -> None:
    app = make(db, user_dir)
    async with app.run_test(size=SIZE) as pilot:
        await _start(pilot, ready, 30)
        screen, ctl = app.console_screen, app.controller
        assert screen.query_one(Watchlist).cursor_symbol == "AAPL"
        now = frame_of(ctl).snapshot.ts
        seq = frame_of(ctl).seq
        anchor = await session_of(app).add_anchor("AAPL", THU_11, "gap")
        await pilot.pause()
        # On screen at once: a fresh frame (no minute stepped) carries the values.
        assert frame_of(ctl).seq == seq + 1 and frame_of(ctl).snapshot.ts == now
        (lv,) = frame_of(ctl).anchors["AAPL"]
        assert lv.anchor == anchor and (anchor.symbol, anchor.ts) == ("AAPL", THU_11)
        want = reference(ctl.cache, "AAPL", THU_11, now)
        price = want["level"]
        for band in ("level", "up1", "dn1", "up2", "dn2", "up3", "dn3"):
            assert abs(lv.value(band) - want[band]) <= 1e-5 * price, band
        assert abs(lv.z - want["z"]) <= 1e-4 * (1 + abs(want["z"]))
        row = pane_row(app, "gap")
        assert row is not None
        assert row[4] == fmt.price(lv.level) and row[-1] == fmt.sigma(lv.z)
        assert row[7] == fmt.price(lv.up3) and row[1] == fmt.price(lv.dn3)
        # A second anchor at the same minute is one clear line, nothing changes.
        with pytest.raises(AnchorError, match="already has an anchor"):
            await session_of(app).add_anchor("AAPL", THU_11)
        # It updates live: the next minutes match the reference too.
        for _ in range(5):
            frame = await session_of(app).step_next()
        assert frame is not None
        screen.show_frame(frame)
        await pilot.pause()
        later = frame_of(ctl).snapshot.ts
        want = reference(ctl.cache, "AAPL", THU_11, later)
        (lv,) = frame_of(ctl).anchors["AAPL"]
        assert abs(lv.level - want["level"]) <= 1e-5 * price
        assert level_cell(app, "gap") == fmt.price(lv.level)
        kept = lv
        await pilot.press("q")
    app.controller.cache.close()

    # A restart on the same cache file: the anchor is back with the same values.
    app = make(db, user_dir)
    async with app.run_test(size=SIZE) as pilot:
        await _start(pilot, ready, 35)
        ctl = app.controller
        assert frame_of(ctl).snapshot.ts == later
        (lv,) = frame_of(ctl).anchors["AAPL"]
        assert lv.anchor == anchor
        for band in ("level", "up2", "dn3", "z"):
            assert abs(lv.value(band) - kept.value(band)) <= 1e-5 * max(1.0, abs(kept.value(band)))
        assert level_cell(app, "gap") == fmt.price(lv.level)
        # K lists it; d asks, then deletes it from the pane, the database and the alerts.
        ctl.alerts.add(AlertRule("AAPL", custom_anchor(anchor.id), "up1", name="gap"))
        await pilot.press("K")
        dialog = app.screen
        assert isinstance(dialog, AnchorsDialog)
        assert [i.anchor_id for i in dialog.items] == [anchor.id]
        assert dialog.items[0].values["level"] == lv.level
        await pilot.press("d")
        assert isinstance(app.screen, Confirm)
        await pilot.press("d")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is dialog and dialog.items == []
        assert list_anchors(ctl.cache) == [] and ctl.alerts.rules == []
        await pilot.press("escape")
        await pilot.pause()
        assert pane_row(app, "gap") is None and "AAPL" not in frame_of(ctl).anchors
        await pilot.press("q")
    app.controller.cache.close()


async def test_alert_on_an_anchor_fires_when_price_crosses(db, user_dir, ready) -> None:
    app = make(db, user_dir)
    async with app.run_test(size=SIZE) as pilot:
        await _start(pilot, ready, 20)
        ctl = app.controller
        # An anchor a few minutes back sits near the price, which crosses it soon.
        start = frame_of(ctl).snapshot.ts - np.timedelta64(5, "m")
        anchor = await session_of(app).add_anchor("AAPL", start, "near")
        await pilot.pause()
        # The console's alert dialog (a) offers it beside the calendar and auto anchors.
        await pilot.press("a")
        assert isinstance(app.screen, AlertDialog)
        options = app.screen.query_one(OptionList)
        ids = [str(options.get_option_at_index(i).id) for i in range(options.option_count)]
        assert f"{custom_anchor(anchor.id)}|level" in ids and "session|up2" in ids
        assert "hh|level" in ids
        await pilot.press("escape")
        # Set by keys: K, a on the anchor, then its AVWAP (the 4th option from +3σ).
        await pilot.press("K")
        assert isinstance(app.screen, AnchorsDialog)
        await pilot.press("a")
        assert isinstance(app.screen, AlertDialog)
        await pilot.press("home", "down", "down", "down", "enter")
        await pilot.press("escape")
        (rule,) = ctl.alerts.rules
        assert (rule.anchor, rule.band, rule.label) == (
            custom_anchor(anchor.id), "level", "AAPL crosses near AVWAP")
        hits = []
        for _ in range(120):
            frame = await session_of(app).step_next()
            assert frame is not None
            hits += [h for h in frame.hits if h.rule.id == rule.id]
            if hits:
                break
        assert hits, "the price never crossed the anchor's AVWAP in two hours"
        hit = hits[0]
        (lv,) = frame.anchors["AAPL"]
        assert hit.level == lv.level  # the anchor's own level that minute
        assert (hit.price > hit.level) == (hit.direction == "up")
        await pilot.press("q")
    app.controller.cache.close()


async def test_table_rows_custom_under_calendar_then_auto_and_the_overflow() -> None:
    """Rows: calendar anchors, the partial note, custom anchors, auto anchors; rows past
    the pane's height (auto first) are counted in the title, numbers never cut."""
    from textual.app import App, ComposeResult

    from tui.alerts import ANCHORS, output_name
    from tui.views import AnchorRow, Quote

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield AvwapTable(id="t")

    levels = {output_name(a, b): 100.0 + i for i, a in enumerate((*ANCHORS, "hh", "ll", "hv"))
              for b in ("level", "up1", "dn1", "up2", "dn2", "up3", "dn3")}
    levels.update({f"avwap_{a}_z": 0.5 for a in (*ANCHORS, "hh", "ll", "hv")})
    custom = tuple(AnchorRow(i, f"gap{i}", {"level": 90.0 + i, "z": -1.0}) for i in (1, 2))
    quote = Quote("AAPL", 101.0, 0.5, levels, partial=("year",), since="2025-10-27",
                  custom=custom)
    app = TableApp()
    async with app.run_test(size=(120, 30)):
        table = app.query_one(AvwapTable)
        table.show(quote)
        names = [table.cells[i][0] for kind, i in table.lines if kind == "row"]
        assert names == [*ANCHORS[:-1], "year*", "gap1", "gap2", "hh", "ll", "hv"]
        assert table.lines[len(ANCHORS)] == ("note", 0) and table.more == 0
        assert table._line(2 + len(ANCHORS) + 1, 120).text.split()[:2] == ["gap1", "—"]
        assert fmt.price(91.0) in table._line(2 + len(ANCHORS) + 1, 120).text
        table.set_max_rows(9)  # the calendar rows, the note, two more
        height = table.styles.height
        assert table.more == 3 and height is not None and height.value == 2 + 9
        assert "+3 rows" in table._line(0, 120).text
        shown = [table._line(y, 120).text.split()[0] for y in range(2, 2 + 9)]
        assert shown[-2:] == ["gap1", "gap2"]  # the trader's anchors before the auto ones
        table.set_max_rows(10)
        assert "+2 rows" in table._line(0, 120).text
