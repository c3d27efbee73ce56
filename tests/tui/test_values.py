"""The panes show exactly the engine's Snapshot values after N replayed minutes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.incremental import IncrementalEngine
from engine.snapshot import REGIMES
from tui import fmt
from tui.alerts import ANCHORS
from tui.runtime.warmup import WarmUp
from tui.screens.console.avwap_pane import BAND_COLUMNS, AvwapTable, band_cell, z_cell
from tui.screens.console.watchlist import COLUMNS, Watchlist

N = 45


async def test_watchlist_and_avwap_pane_match_the_snapshot(make_app, ready, replay) -> None:
    app = make_app(warm=1)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await replay(pilot, N)
        ctl = app.controller
        snap = app.console_screen.frame.snapshot
        assert snap.ts == np.datetime64("2025-11-21T14:30") + np.timedelta64(N - 1, "m")

        # An independent engine over the same minutes, warmed as the console warms
        # (state from the batch, its last ``tail`` minutes stepped for the model's
        # tape; tests/engine/test_incremental_warm.py holds that to the batch values),
        # gives the same Snapshot bit for bit.
        def reference():
            eng = IncrementalEngine(snap.symbols, snap.names)
            feed = ctl.feed
            unsaved = WarmUp(Path("unsaved"), engine_warm=ctl.warmup.steps, keep_warm=False,
                             tail=ctl.warmup.tail)
            unsaved.warm(eng, feed.history())
            for t in range(N):
                ref = eng.step(feed.panel.batch(len(feed.history().ts) + t))
            return ref

        ref = await app.runtime.executor.run(reference)
        np.testing.assert_array_equal(ref.values, snap.values)
        np.testing.assert_array_equal(ref.last, snap.last)

        wl = app.console_screen.query_one(Watchlist)
        frame = app.console_screen.frame
        for row in range(len(snap.symbols)):
            line = wl.render_line(row + 1).text
            i = int(wl.order[row])
            code = int(snap.regime[i])
            expected = [
                snap.symbols[i], fmt.price(float(snap.last[i])),
                fmt.pct(float(frame.change_pct[i])), fmt.volume(float(frame.day_volume[i])),
                fmt.ratio(float(frame.rvol[i])),
                fmt.sigma(float(snap.values[i, snap.names.index("avwap_session_z")])),
                REGIMES[code] if code >= 0 else fmt.DASH,
            ]
            cells = []
            x = 0
            for col in COLUMNS:
                cells.append(line[x : x + wl.widths[col.key]].strip())
                x += wl.widths[col.key] + 1
            assert cells == expected
        # Change % and day volume are the cache's own numbers.
        panel = ctl.feed.panel
        start = len(ctl.feed.history().ts)
        today = panel.volume[:, start : start + N]
        np.testing.assert_allclose(frame.day_volume, np.where(  # exact sum, float32 once
            panel.valid[:, start : start + N], today, 0).sum(axis=1, dtype=np.float64))

        symbol = wl.cursor_symbol
        table = app.console_screen.query_one(AvwapTable)
        row = snap.row(symbol)
        last = float(snap.last[snap.symbols.index(symbol)])
        assert table.render_line(0).text.split()[:2] == [symbol, fmt.price(last)]
        for r, anchor in enumerate(ANCHORS):
            # What is painted: anchor, the seven band prices and z, in column order.
            shown = table.render_line(2 + r).text.split()
            mark = "*" if anchor in frame.partial else ""
            assert shown == [anchor + mark,
                             *(band_cell(anchor, b, row) for b, _ in BAND_COLUMNS),
                             z_cell(anchor, row)]
        assert band_cell("session", "level", row) == fmt.price(
            snap.value(symbol, "avwap_session"))
