"""The runtime owns long work: jobs start, report, cancel; screens plug in; quit is clean."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen

from storage.events import Step
from tui.runtime.jobs import ChunkedJob, JobState, ProcessJob

SIZE = (160, 48)


def endless() -> Iterator[Step]:
    """A job that never ends by itself: one tiny MLX chunk at a time."""
    import mlx.core as mx

    for i in itertools.count():
        mx.eval(mx.arange(64).sum())
        yield Step(epoch=1, step=i, steps=0, global_step=i, loss=0.0)


async def test_a_cancelled_job_leaves_the_console_updating(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        job = app.runtime.start(ChunkedJob("work", endless))
        seqs = []
        for _ in range(5):  # the console's minutes interleave with the job's chunks
            frame = await session.step_next()
            seqs.append(frame.seq)
            await pilot.pause()
        assert job.state is JobState.RUNNING and job.chunks > 0
        assert app.runtime.cancel("work")
        await app.runtime.wait("work")
        assert job.state is JobState.CANCELLED
        chunks = job.chunks
        for _ in range(3):
            frame = await session.step_next()
            seqs.append(frame.seq)
        assert seqs == sorted(seqs) and len(set(seqs)) == 8  # every minute stepped
        assert job.chunks == chunks  # nothing ran after the cancel
        app.console_screen.show_frame(frame)
        await pilot.pause()
        assert app.console_screen.frame.seq == seqs[-1]


async def test_a_second_job_of_the_same_name_is_refused(make_app, ready) -> None:
    from tui.runtime.runtime import JobRefused

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.runtime.start(ChunkedJob("work", endless))
        try:
            app.runtime.start(ChunkedJob("work", endless))
        except JobRefused as e:
            assert "already running" in str(e)
        else:
            raise AssertionError("a second 'work' job was started")
        app.runtime.cancel("work")
        await app.runtime.wait("work")


async def test_a_child_process_job_reports_and_fails_with_its_error(make_app, ready) -> None:
    app = make_app()
    code = ("import json, sys; print(json.dumps({'event': 'epoch', 'epoch': 1}), flush=True); "
            "print('training: out of samples', file=sys.stderr); sys.exit(3)")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        job = app.runtime.start(ProcessJob("train", [sys.executable, "-c", code]))
        await app.runtime.wait("train")
        assert job.state is JobState.FAILED and job.returncode == 3
        assert job.error == "exit code 3: training: out of samples"


async def test_a_child_process_job_cancels_with_sigint(make_app, ready) -> None:
    app = make_app()
    step = ("{'event': 'step', 'epoch': 1, 'step': 1, 'steps': 2, 'global_step': 1, "
            "'loss': 0.5}")
    code = f"import json, signal; print(json.dumps({step}), flush=True); signal.pause()"
    seen: list[object] = []
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        job = ProcessJob("train", [sys.executable, "-c", code])
        orig = job.post
        job.post = lambda m: (seen.append(getattr(m, "event", None)), orig(m))  # type: ignore
        app.runtime.start(job)
        while not any(isinstance(e, Step) for e in seen):  # decoded by the job
            await pilot.pause()  # the child's first line arrives through the loop
        job.cancel()
        await app.runtime.wait("train")
        assert job.state is JobState.CANCELLED and job.returncode != 0


async def test_a_cancel_reaches_a_child_started_with_sigint_ignored() -> None:
    """A console started with SIGINT ignored (``nohup``, a script's ``cmd &``) passed the
    ignore on to its children, so the cancel (a SIGINT) was lost and the job never
    ended. The child now starts with SIGINT at its default."""
    import asyncio
    import signal

    from tui.runtime.runtime import Runtime

    code = "import signal; print('ready', flush=True); signal.pause()"
    job = ProcessJob("train", [sys.executable, "-c", code])
    runtime = Runtime(lambda m: None)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        runtime.start(job)
        while "ready" not in job.log:  # the child is up, past its own start-up
            await asyncio.sleep(0.02)  # polling interval, not synchronisation
        job.cancel()
        # An upper bound only: a lost cancel never ends, a delivered one ends at once.
        await asyncio.wait_for(runtime.wait("train"), 60)
    finally:
        signal.signal(signal.SIGINT, old)
        await runtime.shutdown()
    assert job.state is JobState.CANCELLED and job.returncode == -signal.SIGINT


class Scratch(Screen[None]):
    """A screen a later feature might add: its keys carry binding ids."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "poke", "Poke", id="scratch.poke")]
    poked = 0

    def action_poke(self) -> None:
        self.poked += 1


async def test_a_new_screen_gets_remappable_bindings(make_app, ready) -> None:
    app = make_app(keys={"scratch.poke": "y"})
    assert app.key_warnings == []
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = Scratch()
        await app.push_screen(screen)
        await pilot.press("x")
        assert screen.poked == 0  # remapped away from x
        await pilot.press("y")
        assert screen.poked == 1


async def test_quit_ends_the_mlx_thread_without_blocking(make_app, ready) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.console_screen.session.step_next()
        thread = app.runtime.executor.thread
        assert thread is not None and thread.is_alive()
        await pilot.press("q")
        await pilot.pause()
        assert app.runtime.closing
        assert app.runtime.executor._finished.done()  # past mx.clear_streams()
        assert app.console_screen.session.state is JobState.CANCELLED


async def test_loaded_data_problems_are_said_once(make_app, ready, demo_db, tmp_path) -> None:
    """A halt (missing minutes inside a session) in the loaded history: one notice."""
    import shutil

    from storage.cache import Cache

    db = tmp_path / "halt.duckdb"
    shutil.copy(demo_db, db)
    with Cache(db) as cache, cache.transaction() as cur:
        cur.execute(
            "DELETE FROM bars WHERE symbol = 'MSFT' AND ts >= '2025-11-21 15:00:00+00' "
            "AND ts < '2025-11-21 15:20:00+00'")
    app = make_app(db=db)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.console_screen.session.settled()
        for _ in range(200):  # the check reads DuckDB on a worker thread
            await pilot.pause(0.05)
            notes = [str(n.message) for n in app._notifications if "MSFT" in str(n.message)]
            if notes:
                break
        assert len(notes) == 1 and "missing minute" in notes[0], notes


async def test_late_history_rewarms_the_list_once(make_app, ready) -> None:
    """IB says a symbol's history landed after its minutes were stepped: one re-warm
    from the cache after the burst of such notices; a user's switch cancels it."""
    from storage.feeds.base import FeedEvent

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        session = app.console_screen.session
        ctl = app.controller
        warmed: list[tuple[str, ...]] = []
        prepare = ctl.prepare

        def counting(tl, symbols, *a, **kw):  # type: ignore[no-untyped-def]
            warmed.append(tuple(symbols))
            return prepare(tl, symbols, *a, **kw)

        ctl.prepare = counting  # type: ignore[method-assign]
        session.rewarm_delay_s = 0.01
        for sym in ("SPY", "AAPL", "MSFT"):  # a burst: one re-warm, not three
            session._on_event(FeedEvent("info", f"{sym} history came in late", sym, kind="late"))
        for _ in range(200):
            await pilot.pause(0.02)
            if warmed:
                break
        await session.settled()
        await pilot.pause()
        assert len(warmed) == 1
        # A notice, then the user switches lists: the re-warm is dropped, and the
        # switch to a list of warm symbols (half: SPY, AAPL) warms nothing.
        session.rewarm_delay_s = 0.05
        session._on_event(FeedEvent("info", "late", "SPY", kind="late"))
        session.switch_list("half")
        await session.settled()
        for _ in range(10):
            await pilot.pause(0.02)
        await session.settled()
        assert [len(w) for w in warmed] == [6]  # mini once; half is a view of it
        assert ctl.view == ("SPY", "AAPL")


async def test_a_child_process_job_runs_at_a_lower_priority(make_app, ready) -> None:
    """Long work yields the cores to the console: the child's niceness is raised."""
    import os

    app = make_app()
    code = "import os; print(f'nice {os.nice(0)}')"  # not JSON: kept in the job's log
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        job = ProcessJob("nice", [sys.executable, "-c", code], nice=7)
        app.runtime.start(job)
        await app.runtime.wait("nice")
        assert job.state is JobState.DONE
        assert list(job.log) == [f"nice {min(19, os.nice(0) + 7)}"]
