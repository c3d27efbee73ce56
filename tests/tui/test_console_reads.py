"""The console's scans of its loaded history happen at the list switch, not beside the
first live minutes.

Two reads scan every bar of the list (the fingerprint that tells other processes'
writes, and the data check's notice): each is ~0.1-1 s of CPU for the ``all`` list,
and when they ran beside the first replayed minutes they were the slowest update
of a replay (``bench/tui.py``). The fingerprint is now read before the first
minute (through the warm-up's last one) and the check starts as soon as the
history is loaded, beside the warm-up. Counted, never timed.
"""

from __future__ import annotations

from pathlib import Path

import storage.quality


async def test_the_startup_scans_are_done_before_the_first_minute(
    make_app, ready, demo_db: Path, monkeypatch
) -> None:
    checked: list[tuple[str, ...]] = []
    real = storage.quality.loaded_data_note

    def note(cache, symbols, *rest):  # type: ignore[no-untyped-def]
        checked.append(tuple(symbols))
        return real(cache, symbols, *rest)

    monkeypatch.setattr(storage.quality, "loaded_data_note", note)
    app = make_app(warm=1)  # a warm-up: its last minute is the history's
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        ctl = session.controller
        assert ctl.frame is None  # no minute stepped yet
        assert session._base is not None  # the fingerprint: read at the switch
        while session._side:  # the check (a side task of the session)
            await pilot.pause()
        assert checked == [ctl.view]
        scans: list[int] = []
        fingerprint = ctl.cache.fingerprint
        ctl.cache.fingerprint = lambda *a: (scans.append(1), fingerprint(*a))[1]
        for _ in range(3):
            assert await session.step_next() is not None
        await session.settled()
        assert scans == [] and checked == [ctl.view]
