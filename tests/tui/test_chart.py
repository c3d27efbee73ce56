"""The candle chart: the renderer's rows and glyphs, the view rules, and the chart screen.

Renderer tests use prices whose rows are known by hand; the Pilot tests open the
chart on the demo cache and check the crosshair readout against the cache's
own bars (``Cache.read_bars``), a float64 session AVWAP from those bars, and the
console's Snapshot at the last bar.
"""

from __future__ import annotations

import numpy as np
import pytest
from rich.style import Style

from storage.cache import Cache
from tui import fmt
from tui.screens.chart.view import DEFAULT_ZOOM, ZOOMS, ChartView, readout
from tui.views import CandleData
from tui.widgets.candles import CURSOR_BG, DOWN, UP, Bars, Overlay, render_candles

LINE_KEYS = ("session", "day", "week", "month", "hh", "ll", "hv")


def _bars(o, h, lo, c, v=None) -> Bars:
    arr = [np.asarray(x, np.float64) for x in (o, h, lo, c)]
    vol = np.asarray(v if v is not None else np.ones(len(arr[0])), np.float64)
    return Bars(*arr, vol)


def _grid(strips, cols: int) -> list[str]:
    return [s.text[:cols] for s in strips]


def _style_at(strip, x: int) -> Style:
    pos = 0
    for seg in strip:
        if pos <= x < pos + len(seg.text):
            return seg.style
        pos += len(seg.text)
    raise IndexError(x)


# -- renderer -----------------------------------------------------------------
def test_candles_land_on_their_rows_at_half_cell_resolution() -> None:
    # Range 10..20 padded 3% -> 9.7..20.3; 9 rows = 8 price rows (16 half rows) + time.
    b = _bars(o=[10, 20, 15, 15, np.nan], h=[20, 20, 20, 20, np.nan],
              lo=[10, 10, 10, 10, np.nan], c=[20, 10, 15, 20, np.nan])
    strips = render_candles(b, 40, 9, start=0, stop=5)  # < 10 rows: no volume
    assert len(strips) == 9
    rows = _grid(strips[:8], 5)
    # up and down full-range candles: a body in every row, in their colours
    assert [r[0] for r in rows] == ["█"] * 8
    assert [r[1] for r in rows] == ["█"] * 8
    assert _style_at(strips[0], 0).color == UP.color
    assert _style_at(strips[0], 1).color == DOWN.color
    # doji at 15: half row floor(5.3 / 10.6 * 16) = 8 -> top half of row 4, wick elsewhere
    assert [r[2] for r in rows] == ["│"] * 4 + ["┼"] + ["│"] * 3
    # body 15..20 ends in the top half of row 4: ▀ there (wick below it), wick to the low
    assert [r[3] for r in rows] == ["█"] * 4 + ["▀"] + ["│"] * 3
    # the NaN bar is an empty column
    assert [r[4] for r in rows] == [" "] * 8
    # price axis labels are round prices on the right
    assert any(s.text.rstrip().endswith("20.00") for s in strips)


def test_wide_candles_at_three_cells_per_bar() -> None:
    b = _bars(o=[10, 15], h=[20, 20], lo=[10, 10], c=[20, 20])
    rows = _grid(render_candles(b, 40, 9, start=0, stop=2, cells_per_bar=3)[:8], 6)
    # bar 0 (10 -> 20) fills every row; bar 1 (15 -> 20) ends at half row 8, the top
    # half of row 4 (quarter blocks ▝▀▘ there), then its wick in the middle cell
    assert all(r[:3] == "▐█▌" for r in rows)
    assert [r[3:6] for r in rows] == ["▐█▌"] * 4 + ["▝▀▘"] + [" │ "] * 3


def test_ohlc_bars_when_a_cell_holds_several_bars() -> None:
    b = _bars(o=[10, 12, 14, 16], h=[13, 20, 17, 18], lo=[9, 11, 10, 15], c=[12, 14, 16, 11])
    strips = render_candles(b, 40, 9, start=0, stop=4, bars_per_cell=2)
    rows = _grid(strips[:8], 3)
    chars = {r[k] for r in rows for k in range(2)}
    assert chars <= set(" │┤├┼") and "│" in chars
    assert all(r[2] == " " for r in rows)  # two columns for four bars
    col0 = "".join(r[0] for r in rows)
    # column 0 merges bars 0-1: high 20 (row 0), low 9 (last row), open 10 ┤, close 14 ├
    assert col0[0] != " " and col0[-1] != " "
    assert col0.count("┤") == 1 and col0.count("├") == 1
    assert col0.index("├") < col0.index("┤")  # close 14 above open 10
    # the merged bar is up (14 > 10): up colour; column 1 (16 -> 11) is down
    assert _style_at(strips[0], 0).color == UP.color
    r1 = next(r for r in range(8) if rows[r][1] != " ")
    assert _style_at(strips[r1], 1).color == DOWN.color


def test_volume_bars_in_eighths_under_the_price() -> None:
    b = _bars(o=[10, 10, 10], h=[11, 11, 11], lo=[9, 9, 9], c=[10.5, 10.5, 9.5],
              v=[100.0, 50.0, 0.0])
    strips = render_candles(b, 40, 20, start=0, stop=3)  # 20 rows: 3 volume rows
    vol = _grid(strips[16:19], 3)
    assert [r[0] for r in vol] == ["█", "█", "█"]  # the biggest fills the 3 rows
    assert [r[1] for r in vol] == [" ", "▄", "█"]  # half: 12 eighths of 24
    assert [r[2] for r in vol] == [" ", " ", " "]  # no volume
    assert strips[16].text.rstrip().endswith(fmt.volume(100.0))
    assert _style_at(strips[18], 2).color != UP.color  # empty cell: no colour


def test_overlay_lines_with_gaps_at_nan_and_the_cursor_column() -> None:
    n = 30
    c = np.linspace(100, 110, n)
    b = _bars(c - 0.2, c + 0.5, c - 0.5, c)
    y = np.full(n, 105.0)
    y[10:20] = np.nan
    strips = render_candles(b, 60, 15, start=0, stop=n,
                            overlays=[Overlay(y, Style(color="#d29922"))], cursor=25)
    braille = np.array([[0x2800 < ord(ch) <= 0x28FF for ch in s.text[:n]] for s in strips])
    cols = np.flatnonzero(braille.any(axis=0))
    assert set(range(0, 10)) <= set(cols.tolist())
    assert not set(range(11, 20)) & set(cols.tolist())  # the gap
    assert set(range(20, 30)) <= set(cols.tolist())
    assert _style_at(strips[0], 25).bgcolor.name == CURSOR_BG
    assert _style_at(strips[0], 24).bgcolor is None or _style_at(strips[0], 24).bgcolor.name \
        != CURSOR_BG
    # the cursor bar's close is labelled on the axis
    assert any(fmt.price(float(c[25])) in s.text for s in strips)


def test_a_line_that_restarts_is_not_joined_across_the_restart() -> None:
    n = 20
    c = np.linspace(100, 110, n)
    b = _bars(c, c + 0.2, c - 0.2, c)
    y = np.r_[np.full(10, 101.0), np.full(10, 109.0)]  # jumps at bar 10 (a new session)
    breaks = np.zeros(n, bool)
    breaks[10] = True

    def column_rows(overlay: Overlay, col: int) -> int:
        strips = render_candles(b, 60, 15, start=0, stop=n, overlays=[overlay])
        return sum(0x2800 < ord(s.text[col]) <= 0x28FF for s in strips)

    style = Style(color="#d29922")
    assert column_rows(Overlay(y, style), 9) > 3  # joined: a vertical stroke at the jump
    assert column_rows(Overlay(y, style, breaks=breaks), 9) == 1  # restarted: none


def test_line_restarts_by_anchor() -> None:
    from tui.screens.chart.screen import line_restarts

    day = np.array(["2025-10-30", "2025-10-31", "2025-10-31", "2025-11-03"], "datetime64[D]")
    data = CandleData("X", np.zeros(4, "datetime64[m]"), *(np.ones(4) for _ in range(5)),
                      day, np.zeros(4, np.int64))
    r = line_restarts(data)
    assert r["avwap_session"].tolist() == [True, True, False, True]
    assert r["avwap_week"].tolist() == [True, False, False, True]  # Mon 11/03: a new week
    assert r["avwap_month"].tolist() == [True, False, False, True]


def test_a_far_line_is_named_at_the_edge_not_squashing_the_candles() -> None:
    c = np.linspace(100, 101, 20)
    b = _bars(c, c + 0.1, c - 0.1, c)
    far = Overlay(np.full(20, 120.0), Style(color="#f778ba"), label="month")
    near = Overlay(np.full(20, 101.5), Style(color="#d29922"), label="session")
    strips = render_candles(b, 60, 12, start=0, stop=20, overlays=[far, near])
    assert "↑month 120.00" in strips[0].text
    assert "session" not in "".join(s.text for s in strips)  # on the scale: drawn, not named
    labels = [s.text.split("┤")[-1].strip() for s in strips if "┤" in s.text]
    prices = [float(t.replace(",", "")) for t in labels if t and t[-1].isdigit() and "K" not in t]
    assert max(prices) < 103  # the scale stays near the candles (and the 101.5 line)


def test_time_ticks_and_the_cursor_time() -> None:
    n = 120  # 10:30 .. 12:29 of one day, then nothing
    c = np.linspace(100, 101, n)
    b = Bars(c, c + 0.1, c - 0.1, c, np.ones(n), np.full(n, np.datetime64("2025-11-21")),
             np.arange(60, 60 + n))
    times = render_candles(b, 140, 12, start=0, stop=n)[-1].text
    assert times.startswith("11/21") and times.index("11:00") == 30
    assert times.index("12:00") == 90
    times = render_candles(b, 140, 12, start=0, stop=n, cursor=45)[-1].text
    assert times[43:48] == "11:15"
    times = render_candles(b, 140, 12, start=0, stop=n, cursor=34)[-1].text
    assert times[32:37] == "11:04" and "11:00" not in times  # the tick it touches goes


def test_tiny_sizes_and_empty_windows_are_blank() -> None:
    b = _bars([1], [2], [0.5], [1.5])
    assert all(not s.text.strip() for s in render_candles(b, 8, 3, start=0, stop=1))
    assert all(not s.text.strip() for s in render_candles(b, 60, 20, start=1, stop=1))


# -- view rules ------------------------------------------------------------------
def test_view_cursor_zoom_and_pan() -> None:
    v = ChartView()
    v.reset(1000)
    assert v.cursor == 999 and v.window(100) == (900, 1000)
    v.move(-150, 100)  # off the window: the window follows the cursor
    start, stop = v.window(100)
    assert v.cursor == 849 and start <= 849 < stop and not v.follow
    v.zoom_by(1, 100)  # 2 bars per cell
    assert ZOOMS[v.zoom] == (1, 2)
    start2, stop2 = v.window(100)
    assert 198 <= stop2 - start2 <= 200 and start2 % 2 == 0 and start2 <= v.cursor < stop2
    v.pan(-1, 100)
    assert v.window(100)[1] == stop2 - 100
    v.jump(-1, 100)
    assert v.cursor == 999 and v.follow
    v.grow(1001)  # a live bar: the cursor on the last bar follows it
    assert v.cursor == 1000 and v.window(100)[1] == 1001
    v.zoom = DEFAULT_ZOOM
    v.jump(0, 100)
    assert v.window(100) == (0, 100)


# -- the screen ------------------------------------------------------------------
async def _open_chart(pilot, key: str = "c"):
    from tui.screens.chart.screen import ChartScreen

    await pilot.press(key)
    await _loaded(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ChartScreen) and screen.data is not None
    return screen


async def _loaded(pilot) -> None:
    """Wait for the chart's data (its load runs as a worker awaiting the MLX thread)."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _session_avwap(bars, until: np.datetime64, day_start: np.datetime64) -> float:
    """float64 session AVWAP (hlc3, volume weighted) from the session open to ``until``."""
    ts = bars.column("ts").to_numpy().astype("datetime64[m]")
    sel = (ts >= day_start) & (ts <= until)
    h, lo, c, v = (bars.column(k).to_numpy()[sel] for k in ("high", "low", "close", "volume"))
    return float(np.sum((h + lo + c) / 3 * v) / np.sum(v))


async def test_crosshair_reads_the_cache_bar_and_the_engine_levels(make_app, ready, replay,
                                                                   demo_db) -> None:
    app = make_app(warm=1)  # yesterday loaded: week/month levels span two sessions
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await replay(pilot, 40)
        symbol = app.console_screen.query_one("#watchlist").cursor_symbol
        chart = await _open_chart(pilot)
        assert chart.symbol == symbol
        data = chart.data
        assert len(data) == 40 and chart.view.cursor == 39
        # The last bar's levels are what the console's engine stepped to.
        snap = app.console_screen.frame.snapshot
        for key in ("avwap_session", "avwap_session_up1", "avwap_week", "avwap_month"):
            np.testing.assert_allclose(data.levels[key][-1], snap.value(symbol, key),
                                       rtol=2e-6, err_msg=key)
        for _ in range(5):
            await pilot.press("left")
        await pilot.press("shift+left")
        assert chart.view.cursor == 24
        ts = data.ts[24]
        with Cache(demo_db, read_only=True) as cache:
            row = cache.read_bars([symbol], ts.astype("datetime64[us]").astype(object),
                                  (ts + np.timedelta64(1, "m")).astype("datetime64[us]")
                                  .astype(object)).to_pylist()
            day = cache.read_bars([symbol], data.ts[0].astype("datetime64[us]").astype(object),
                                  (ts + np.timedelta64(1, "m")).astype("datetime64[us]")
                                  .astype(object))
        assert len(row) == 1
        text = str(chart.query_one("#chart-readout").render())
        bar = row[0]
        assert fmt.exchange_time(ts) in text
        for name, key in (("O", "open"), ("H", "high"), ("L", "low"), ("C", "close")):
            assert f"{name} {fmt.price(bar[key])}" in text
        assert f"V {fmt.volume(bar['volume'])}" in text
        ref = _session_avwap(day, ts, data.ts[0])
        np.testing.assert_allclose(data.levels["avwap_session"][24], ref, rtol=1e-5)

        # every line at the cursor bar is the engine's batch value over the loaded history
        def batch():
            import mlx.core as mx

            from engine.compute import compute_outputs
            from engine.inputs import batch_inputs

            panel = app.controller.panel_until_now([symbol])
            cols = compute_outputs(batch_inputs(panel), [f"avwap_{k}" for k in LINE_KEYS])
            mx.eval(list(cols.values()))
            at = int(np.flatnonzero(panel.ts == ts)[0])
            return {k: float(np.array(v)[0, at]) for k, v in cols.items()}

        want = await app.runtime.executor.run(batch)
        for key, value in want.items():
            assert data.levels[key][24] == value, key
            if key in ("avwap_session", "avwap_week", "avwap_month"):  # the lines shown
                assert f"{key[6:]} {fmt.price(value)}" in text
        assert f"session {fmt.price(float(data.levels['avwap_session'][24]))}" in text
        # toggling line 1 (session) removes it from the readout, again brings it back
        await pilot.press("1")
        assert "session " not in str(chart.query_one("#chart-readout").render())
        await pilot.press("1")
        assert "session " in str(chart.query_one("#chart-readout").render())
        # d: two sessions; yesterday's bars come in, the cursor stays on its minute
        await pilot.press("d")
        await _loaded(pilot)
        assert chart.data.sessions_loaded == 2 and len(chart.data) == 390 + 40
        assert chart.view.cursor == 390 + 24 and chart.data.ts[chart.view.cursor] == ts
        np.testing.assert_allclose(chart.data.levels["avwap_week"][-1],
                                   snap.value(symbol, "avwap_week"), rtol=2e-6)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.console_screen


async def test_zoom_pan_span_and_mouse(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await replay(pilot, 200)
        chart = await _open_chart(pilot, "enter")
        widget = chart.query_one("#chart")
        first = (widget.start, widget.stop)
        assert first[1] == 200 and 0 < first[1] - first[0] < 200  # 1 bar per cell: not all fit
        await pilot.press("minus")
        await pilot.press("minus")
        assert widget.bars_per_cell == 3 and (widget.start, widget.stop) == (0, 200)
        await pilot.press("left")  # zoomed out: a column (3 bars) at a time
        assert chart.view.cursor == 199 - 3
        await pilot.press("plus")
        await pilot.press("equals_sign")
        await pilot.press("left_square_bracket")
        assert widget.stop < 200 and widget.start < first[0]
        await pilot.press("right_square_bracket")
        assert (widget.start, widget.stop) == first
        await pilot.press("home")
        assert chart.view.cursor == 0 and widget.start == 0
        await pilot.click("#chart", offset=(10, 5))
        assert chart.view.cursor == 10
        # the wheel zooms: down out, up in (the messages the terminal's wheel makes)
        from textual import events

        zoom = chart.view.zoom
        widget.post_message(events.MouseScrollDown(widget, 10, 5, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert chart.view.zoom == zoom + 1
        widget.post_message(events.MouseScrollUp(widget, 10, 5, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert chart.view.zoom == zoom


async def test_chart_follows_live_minutes(make_app, ready, replay) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await replay(pilot, 20)
        chart = await _open_chart(pilot)
        assert len(chart.data) == 20
        frame = await app.console_screen.session.step_next()  # one more minute
        assert frame is not None
        chart._poll()
        for _ in range(50):
            await pilot.pause()
            if len(chart.data) == 21:
                break
        assert len(chart.data) == 21 and chart.view.cursor == 20
        sym = chart.symbol
        np.testing.assert_allclose(chart.data.levels["avwap_session"][-1],
                                   frame.snapshot.value(sym, "avwap_session"), rtol=1e-6)
        # "." steps a minute from the chart (the console's replay key); the chart follows
        await pilot.press("full_stop")
        await _loaded(pilot)
        await app.console_screen.workers.wait_for_complete()
        chart._poll()
        await _loaded(pilot)
        assert len(chart.data) == 22 and chart.data.ts[-1] == app.controller.frame.snapshot.ts


def test_readout_says_no_bar_outside_the_data() -> None:
    from tui.runtime.candles import _empty

    assert readout(_empty("SPY"), 0, []) == "no bar"


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_chart_snapshot(snap_compare, make_app, ready, replay, size) -> None:
    app = make_app()

    async def run_before(pilot) -> None:
        await ready(pilot)
        await replay(pilot, 120)
        await _open_chart(pilot)
        for _ in range(30):
            await pilot.press("left")
        await pilot.press("t")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_chart_follows_the_replay_back_and_lists_its_keys_in_help(make_app, ready,
                                                                        replay) -> None:
    from tui.screens.common.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await replay(pilot, 30)
        chart = await _open_chart(pilot)
        assert len(chart.data) == 30
        frame = await app.console_screen.session.jump(chart.data.ts[9])  # back 20 minutes
        assert frame is not None and frame.snapshot.ts == chart.data.ts[9]
        chart._poll()
        await _loaded(pilot)
        assert len(chart.data) == 10 and chart.view.cursor == 9
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {bid for _, _, bid in app.screen.rows}
        assert {"chart.left", "chart.zoom_in", "chart.pan_left", "chart.span", "chart.bands",
                "chart.anchor", "chart.line1", "chart.close"} <= ids
        assert "wheel zooms" in app.screen.mouse  # the chart's own mouse line


async def test_anchor_here_draws_the_anchor_and_reads_its_levels(demo_db, user_dir, ready,
                                                                 tmp_path) -> None:
    """``a`` on the chart anchors at the cursor bar (``ConsoleSession.add_anchor``): the
    line is on the chart and in the readout at once, equal per bar to a float64
    VWAP from the cache's bars and, at the last bar, to the AVWAP pane's value."""
    import shutil

    from storage import demo
    from storage.feeds.replay import ReplaySource
    from tui.app import AvwapApp
    from tui.runtime.controller import Controller

    db = tmp_path / "anchors.duckdb"
    shutil.copy(demo_db, db)  # anchors are written to the cache's database
    cache = Cache(db)
    ctl = Controller(cache, ReplaySource(cache, end=demo.DEFAULT_END, warm_sessions=0,
                                         speed=None), clock=lambda: 0.0, user_dir=user_dir)
    app = AvwapApp(ctl, list_name="mini", speed=None, live=False, clock=lambda: 0.0,
                   render_interval=0.0, chart_interval=0.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        for _ in range(40):
            frame = await session.step_next()
        app.console_screen.show_frame(frame)
        chart = await _open_chart(pilot)
        symbol = chart.symbol
        for _ in range(15):
            await pilot.press("left")
        at = chart.data.ts[24]
        await pilot.press("a")
        await _loaded(pilot)
        anchors = [lv.anchor for lv in ctl.frame.anchors[symbol]]
        assert [a.ts for a in anchors] == [at]
        key = f"anchor_{anchors[0].id}"
        assert [ln.key for ln in chart.data.lines if ln.custom] == [key]
        level = chart.data.levels[key]
        assert np.isnan(level[:24]).all() and np.isfinite(level[24:]).all()
        bars = cache.read_bars([symbol], at.astype("datetime64[us]").astype(object),
                               (frame.snapshot.ts + np.timedelta64(1, "m"))
                               .astype("datetime64[us]").astype(object))
        h, lo, c, v = (bars.column(k).to_numpy() for k in ("high", "low", "close", "volume"))
        ref = np.cumsum((h + lo + c) / 3 * v) / np.cumsum(v)
        np.testing.assert_allclose(level[24:], ref, rtol=1e-5)
        (lv,) = ctl.frame.anchors[symbol]
        np.testing.assert_allclose(level[-1], lv.level, rtol=1e-5)
        text = str(chart.query_one("#chart-readout").render())
        label = next(ln.label for ln in chart.data.lines if ln.custom)
        assert f"{label} {fmt.price(float(level[chart.view.cursor]))}" in text
        legend = str(chart.query_one("#chart-legend").render())
        assert f"8 {label}" in legend
        overlays = chart.query_one("#chart").overlays
        assert any(ov.y is level for ov in overlays)
        await pilot.press("8")  # its line off
        assert not any(ov.y is level for ov in chart.query_one("#chart").overlays)
        # in the AVWAP pane under the chart too, with the same level
        from tui.screens.console.avwap_pane import AvwapTable

        rows = app.console_screen.query_one(AvwapTable).cells
        assert any(r[0] == label and fmt.price(lv.level) in r for r in rows)
        # the next live minute is appended with the anchor's stepped value (no rebuild)
        frame = await session.step_next()
        chart._poll()
        await _loaded(pilot)
        (lv,) = ctl.frame.anchors[symbol]
        assert len(chart.data) == 41 and chart.data.levels[key][-1] == lv.level
    cache.close()


def test_custom_anchor_levels_per_bar_match_a_float64_vwap(demo_db) -> None:
    """``candles_from_panel`` with an anchor: NaN before its bar, then the hlc3 VWAP
    and σ bands from it (``anchored_batch``) equal to float64 sums of the cache's
    bars, across a session boundary."""
    import datetime as dt

    from storage.anchors import Anchor
    from tui.runtime.candles import candles_from_panel

    with Cache(demo_db, read_only=True) as cache:
        panel = cache.load_panel(["AAPL", "SPY"], dt.date(2025, 11, 19), dt.date(2025, 11, 21))
        at = np.datetime64("2025-11-20T16:00")
        anchor = Anchor(7, "AAPL", at, "gap")
        data = candles_from_panel(panel, "AAPL", 2, [anchor])
        bars = cache.read_bars(["AAPL"], at.astype("datetime64[us]").astype(object))
    assert [ln.label for ln in data.lines if ln.custom] == ["gap"]
    assert data.sessions_loaded == 3 and str(data.day[0]) == "2025-11-20"
    k = int(np.flatnonzero(data.ts == at)[0])
    level = data.levels["anchor_7"]
    assert np.isnan(level[:k]).all()
    h, lo, c, v = (bars.column(f).to_numpy() for f in ("high", "low", "close", "volume"))
    p = (h + lo + c) / 3
    sv, svp = np.cumsum(v), np.cumsum(v * p)
    ref = svp / sv
    sd = np.sqrt(np.maximum(np.cumsum(v * p * p) / sv - ref ** 2, 0))
    n = len(ref)
    np.testing.assert_allclose(level[k:k + n], ref, rtol=1e-5)
    np.testing.assert_allclose(data.levels["anchor_7_up2"][k:k + n], ref + 2 * sd, rtol=1e-5)
