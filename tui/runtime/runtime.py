"""The runtime: one object, created by the app, that owns the console's long work.

It owns the MLX thread (``MlxExecutor``: every engine call of the app runs
there, so MLX state never crosses threads), the memory and gc policy, the jobs
(the live session, a training child process, a backtest), and a clean shutdown
that never blocks the event loop: cancel every job, give the MLX thread up to a
second to finish its current call and clear its caches, thaw the heap. Screens
start, watch and cancel jobs through it and never own threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from tui.messages import JobFinished, JobStarted
from tui.runtime.executor import MlxExecutor
from tui.runtime.jobs import Job, JobFailed, JobState
from tui.runtime.memory import GcPolicy, limit_mlx_cache, return_large_allocations

if TYPE_CHECKING:
    from textual.message import Message
    from textual.message_pump import MessagePump

J = TypeVar("J", bound=Job)


class JobRefused(Exception):
    """A job of that name is already running (e.g. a second training)."""


class Runtime:
    """Owns the MLX executor, the gc policy and the jobs (see the module docstring)."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self.post = post
        return_large_allocations()  # before the executor's thread allocates anything
        limit_mlx_cache()
        self.executor = MlxExecutor()
        self.gc = GcPolicy()
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.closing = False

    # -- jobs ------------------------------------------------------------------
    def start(self, job: J, watcher: MessagePump | None = None) -> J:
        """Run ``job`` as a task on the running loop; its messages go to ``watcher``."""
        if self.closing:
            raise JobRefused("the console is closing")
        running = self._jobs.get(job.name)
        if running is not None and not running.state.finished:
            raise JobRefused(f"{job.name!r} is already running; cancel it first")
        job.watcher = watcher
        job._runtime = self
        job.state = JobState.RUNNING
        self._jobs[job.name] = job
        self._tasks[job.name] = asyncio.get_running_loop().create_task(
            self._run(job), name=f"job:{job.name}")
        job.post(JobStarted(job.name, job.kind))
        return job

    async def _run(self, job: Job) -> None:
        try:
            await job.run(self)
        except asyncio.CancelledError:
            job.state = JobState.CANCELLED
        except (JobFailed, Exception) as e:  # one line for the screen; never kills the app
            job.state = JobState.FAILED
            job.error = str(e) or type(e).__name__
        else:
            job.state = JobState.CANCELLED if job.cancel_requested else JobState.DONE
        finally:
            self._tasks.pop(job.name, None)
            if not self.closing:
                job.post(JobFinished(job.name, job.kind, job.state.value, job.error))

    def job(self, name: str) -> Job | None:
        return self._jobs.get(name)

    def running(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.state is JobState.RUNNING]

    def cancel(self, name: str) -> bool:
        """Ask job ``name`` to stop; False when no such job is running."""
        job = self._jobs.get(name)
        if job is None or job.state.finished:
            return False
        job.cancel()
        return True

    async def wait(self, name: str) -> Job | None:
        """Wait until job ``name`` has finished (tests, the quit dialog)."""
        task = self._tasks.get(name)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        return self._jobs.get(name)

    # -- shutdown --------------------------------------------------------------
    async def shutdown(self, timeout: float = 1.0, *, keep: tuple[str, ...] = ()) -> bool:
        """Cancel every job (except ``keep``), end the MLX thread, thaw the heap.

        Never blocks the event loop; returns False if something was still busy
        after ``timeout`` seconds (the app exits anyway; interpreter exit waits
        for the MLX thread's current call, see ``tui.runtime.executor``).
        """
        self.closing = True
        tasks = []
        for name, task in list(self._tasks.items()):
            if name in keep:
                self._jobs[name].detach()  # it keeps running; cancelling only stops following it
                task.cancel()
                continue
            self._jobs[name].cancel()
            task.cancel()
            tasks.append(task)
        clean = True
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            clean = not pending
        clean = await self.executor.close(timeout) and clean
        self.gc.thaw()
        return clean
