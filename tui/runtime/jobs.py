"""Jobs: the long work the runtime owns, started, watched and cancelled through it.

A ``Job`` is one piece of long work with a name, a state and a ``cancel``; the
``Runtime`` runs its ``run`` coroutine as a task on the app's event loop and
reports ``JobStarted``/``JobFinished`` (and whatever progress the job posts) as
typed messages. Screens never own threads or tasks: they ask the runtime.

Three kinds cover the console's long work:

- ``ConsoleSession`` (``tui.runtime.console``): the live session (feed, engine,
  list switches), stepping on the MLX thread;
- ``ChunkedJob``: MLX work cut into chunks (a backtest), each chunk queued on
  the MLX thread, so the live session's minutes interleave with it and the
  console keeps updating; cancelling stops it between chunks;
- ``ProcessJob``: a child process that reports progress as JSON lines on its
  stdout (training: the same code as ``avwap train``), so a crash or a heavy
  epoch can never freeze or kill the console; cancelling sends SIGINT (stop
  after the current step), then SIGTERM if it does not end.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tui.messages import JobProgress

if TYPE_CHECKING:
    from textual.message import Message
    from textual.message_pump import MessagePump

    from tui.runtime.runtime import Runtime


class JobState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class Job:
    """Base of every job: a name, a state, an error line, and a cancel flag."""

    kind = "job"

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = JobState.PENDING
        self.error: str | None = None
        self.cancel_requested = False
        #: Who receives this job's messages (the screen that started it); the app if None.
        self.watcher: MessagePump | None = None
        self._runtime: Runtime | None = None

    def post(self, message: Message) -> None:
        """Send one of this job's messages to its watcher (or the app)."""
        if self.watcher is not None:
            self.watcher.post_message(message)
        elif self._runtime is not None:
            self._runtime.post(message)

    def cancel(self) -> None:
        """Ask the job to stop soon (idempotent); the runtime reports when it has."""
        self.cancel_requested = True

    async def run(self, runtime: Runtime) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ChunkedJob(Job):
    """MLX work as a generator whose every step runs on the MLX thread.

    ``work()`` returns an iterator; each ``next()`` is one chunk (keep it to
    tens of milliseconds) and may yield a progress dict, posted as
    ``JobProgress``. The value the generator returns is kept in ``result``.
    """

    kind = "chunked"

    def __init__(self, name: str, work: Callable[[], Iterator[dict[str, Any] | None]]) -> None:
        super().__init__(name)
        self.work = work
        self.result: Any = None
        self.chunks = 0

    async def run(self, runtime: Runtime) -> None:
        it = await runtime.executor.run(self.work)
        while not self.cancel_requested:
            done, value = await runtime.executor.run(_advance, it)
            if done:
                self.result = value
                return
            self.chunks += 1
            if value is not None:
                self.post(JobProgress(self.name, value))


def _advance(it: Iterator[Any]) -> tuple[bool, Any]:
    try:
        return False, next(it)
    except StopIteration as stop:
        return True, stop.value


class ProcessJob(Job):
    """A child process reporting JSON lines (see the module docstring).

    Each stdout line that parses as a JSON object is posted as ``JobProgress``;
    other lines and stderr are kept in ``log`` (the last ``log_lines``). A
    non-zero exit fails the job with the last error line it printed.
    """

    kind = "process"

    def __init__(self, name: str, argv: Sequence[str], *, log_lines: int = 200,
                 stop_timeout: float = 10.0, env: dict[str, str] | None = None) -> None:
        super().__init__(name)
        self.argv = list(argv)
        self.env = env
        self.log: deque[str] = deque(maxlen=log_lines)
        self.returncode: int | None = None
        self.stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def cancel(self) -> None:
        super().cancel()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGINT)

    async def run(self, runtime: Runtime) -> None:
        self._proc = proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env, start_new_session=True)
        if self.cancel_requested:
            self.cancel()
        try:
            await asyncio.gather(self._read_stdout(runtime), self._read_stderr())
            self.returncode = await proc.wait()
        except asyncio.CancelledError:
            await self._terminate()
            raise
        if self.returncode != 0 and not self.cancel_requested:
            last = next((line for line in reversed(self.log) if line.strip()), "")
            raise JobFailed(f"exit code {self.returncode}" + (f": {last}" if last else ""))

    async def _read_stdout(self, runtime: Runtime) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                self.post(JobProgress(self.name, event))
            elif line:
                self.log.append(line)

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self.log.append(raw.decode("utf-8", "replace").rstrip("\n"))

    async def _terminate(self) -> None:
        """SIGINT (graceful), then SIGTERM after ``stop_timeout``, then SIGKILL."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGINT, self.stop_timeout), (signal.SIGTERM, 2.0),
                          (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                self.returncode = await asyncio.wait_for(proc.wait(), wait)
                return
            except TimeoutError:
                continue


class JobFailed(Exception):
    """A job ended in error; the message is the one line the screen shows."""
