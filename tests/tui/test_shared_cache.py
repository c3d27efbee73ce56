"""The console sees other processes' writes to the shared cache without a restart (issue 27).

The console runs on the cache (its runtime driven directly, minutes replayed
synchronously); another process — the real ``avwap`` CLI, or a Python child
writing through ``storage.cache`` — adds an anchor or changes bars of a symbol
on screen. The next minute shows it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

_REWRITE = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from storage.cache import Cache, bars_table
cache = Cache({db!r})
ts = np.datetime64({ts!r}, "m")
start = ts.astype("datetime64[us]").item()
t = cache.read_bars(["SPY"], start=start, end=start + (ts + 1 - ts).item()).to_pylist()[0]
one = lambda v: np.array([v], dtype=float)
r = cache.write_bars(bars_table(np.array(["SPY"], dtype=object), np.array([ts]),
                                one(t["open"]), one(t["high"] + 100), one(t["low"]),
                                one(t["close"]), one(t["volume"])))
print(r.replaced, flush=True)
"""


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def test_anchor_added_from_a_shell_and_bars_changed_by_another_process_show_up(
    make_app, ready, demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "shared.duckdb"
    shutil.copy(demo_db, db)
    app = make_app(db=db)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        ctl = session.controller
        for _ in range(5):
            frame = await session.step_next()
        await session.settled()  # the console noted what its history looks like
        assert frame is not None and not frame.anchors.get("SPY")
        when = str(np.datetime64(frame.snapshot.ts, "m") - np.timedelta64(5, "m")) + "Z"
        _run(sys.executable, "-m", "tui.cli", "--db", str(db), "anchors", "add", "SPY",
             when.replace("T", " "), "--label", "from a shell")
        frame = await session.step_next()
        await session.settled()
        frame = await session.step_next()
        assert frame is not None
        assert [a.anchor.label for a in frame.anchors.get("SPY", ())] == ["from a shell"]

        # Another process changes an old bar of SPY (on screen): the list is warmed
        # again from the cache, so the console's history holds the new value.
        group = ctl.groups[0]
        sym = group.symbols.index("SPY")
        t0 = np.datetime64(group.panel.ts[0], "m")
        old = float(group.panel.high[sym, 0])
        out = _run(sys.executable, "-c", _REWRITE.format(root=str(ROOT), db=str(db), ts=str(t0)))
        assert out == "1\n"
        await session.step_next()
        await session.settled()
        while session._rewarm is not None or (session._switch and not session._switch.done()):
            if session._rewarm is not None:  # due after a short delay: run it now
                session._rewarm.cancel()
                session._do_rewarm()
            await session.settled()
        group = ctl.groups[0]
        assert np.datetime64(group.panel.ts[0], "m") == t0
        assert float(group.panel.high[group.symbols.index("SPY"), 0]) == old + 100


async def test_a_view_change_scans_no_history_and_the_cache_is_let_go(
    make_app, ready, demo_db: Path, tmp_path: Path
) -> None:
    """The console's scans of the whole history (the fingerprint it tells others' writes
    by, the data check) let the DuckDB connection go when done, so the blocks they
    read do not stay resident (~90 MB for the ``all`` list); a switch to a list whose
    symbols are all warm keeps the universe, and so its fingerprint: no new scan."""
    db = tmp_path / "shared.duckdb"
    shutil.copy(demo_db, db)
    app = make_app(db=db)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        ctl = session.controller
        await session.step_next()  # the first minute: the baseline is read
        await session.settled()
        assert session._base is not None
        assert not ctl.cache.connected
        scans: list[int] = []
        real = ctl.cache.fingerprint

        def fingerprint(symbols, until):  # type: ignore[no-untyped-def]
            scans.append(len(symbols))
            return real(symbols, until)

        ctl.cache.fingerprint = fingerprint  # type: ignore[method-assign]
        session.switch_list("half")  # SPY and AAPL: warm
        await session.settled()
        await pilot.pause()
        assert app.console_screen.list_name == "half"
        assert scans == []
        assert not ctl.cache.connected
