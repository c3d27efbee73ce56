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
  stdout (training: the same code as ``avwap train``, run by ``cli_argv``), so
  a crash or a heavy epoch can never freeze or kill the console; cancelling
  sends SIGINT (stop after the current step), then SIGTERM if it does not end.
  Each line is decoded here, once (``storage.events``): screens get typed
  events, a bad line as ``events.BadLine``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage import events
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
        #: Quitting the console while this job runs asks first (stop it, or leave it running).
        self.ask_at_quit = False
        #: The work was left running past the console (``detach``).
        self.detached = False
        #: What the job is, in words ("training curated-20261207"); its name if unset.
        self.label = name
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

    def detach(self) -> None:
        """Let the work outlive the console: only work outside this process can."""
        raise ValueError(f"{self.name!r} runs inside the console and cannot outlive it")

    def left_running_note(self) -> str:
        """The one line printed after the console exits, when this job was left running."""
        return f"The {self.label} goes on in the background."

    async def run(self, runtime: Runtime) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ChunkedJob(Job):
    """MLX work as a generator whose every step runs on the MLX thread.

    ``work()`` returns an iterator; each ``next()`` is one chunk (keep it to
    tens of milliseconds) and may yield a progress event, posted as
    ``JobProgress``. The value the generator returns is kept in ``result``.
    """

    kind = "chunked"

    def __init__(self, name: str, work: Callable[[], Iterator[events.Event | None]]) -> None:
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

    Each stdout line that parses as a JSON object is posted as ``JobProgress``
    with its event (``event_of``); other lines and stderr are kept in ``log``
    (the last ``log_lines``). A non-zero exit fails the job with the last error
    line it printed.

    With ``output`` (a file path) the child writes there instead of to a pipe
    and the job follows the file: then the child can outlive the console (the
    user chose to leave a training running at quit) without dying of a broken
    pipe, and its whole output stays on disk.
    """

    kind = "process"

    def __init__(self, name: str, argv: Sequence[str], *, log_lines: int = 200,
                 stop_timeout: float = 10.0, env: dict[str, str] | None = None,
                 output: Path | None = None, poll_s: float = 0.1, nice: int = 0) -> None:
        super().__init__(name)
        #: Added to the child's niceness: long work yields the cores to the live console.
        self.nice = nice
        self.argv = list(argv)
        self.env = env
        self.output = output
        self.poll_s = poll_s
        self.log: deque[str] = deque(maxlen=log_lines)
        self.returncode: int | None = None
        self.stop_timeout = stop_timeout
        #: Called with the child's pid once it runs (the training records it beside its model).
        self.on_spawn: Callable[[int], None] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def cancel(self) -> None:
        super().cancel()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGINT)

    def _before_exec(self) -> None:
        """In the child, before exec: SIGINT back to its default, then ``os.nice(self.nice)``.

        Cancelling is a SIGINT. A process started with SIGINT ignored (``nohup``, a
        script's ``cmd &``, some supervisors) passes the ignore on through fork and
        exec, and a Python child that starts with SIGINT ignored never installs its
        KeyboardInterrupt handler: the cancel was lost and the job waited forever.
        """
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if self.nice:
            os.nice(self.nice)

    def detach(self) -> None:
        """Leave the child running when the console exits (needs ``output``)."""
        if self.output is None:
            raise ValueError("only a job writing to a file can outlive the console")
        self.detached = True

    def left_running_note(self) -> str:
        """Which process goes on and where its progress is written (the user can follow it)."""
        return (f"The {self.label} goes on in the background (pid {self.pid}); "
                f"its progress is written to {self.output}.")

    async def run(self, runtime: Runtime) -> None:
        if self.output is not None:
            with open(self.output, "wb") as sink:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=sink,
                    stderr=asyncio.subprocess.STDOUT, env=self.env, start_new_session=True,
                    preexec_fn=self._before_exec)
            readers = [self._follow(self.output)]
        else:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self.env, start_new_session=True,
                preexec_fn=self._before_exec)
            readers = [self._read_stdout(), self._read_stderr()]
        proc = self._proc
        if self.on_spawn is not None:
            self.on_spawn(proc.pid)
        if self.cancel_requested:
            self.cancel()
        try:
            await asyncio.gather(*readers)
            self.returncode = await proc.wait()
        except asyncio.CancelledError:
            if not self.detached:
                await self._terminate()
            raise
        if self.returncode != 0 and not self.cancel_requested:
            last = next((line for line in reversed(self.log) if line.strip()), "")
            raise JobFailed(f"exit code {self.returncode}" + (f": {last}" if last else ""))

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if isinstance(event, dict):
            self.post(JobProgress(self.name, self.event_of(event, line)))
        elif line:
            self.log.append(line)

    def event_of(self, obj: dict[str, Any], line: str) -> events.Event:
        """The typed event of one JSON object line (``storage.events.from_dict``); a
        line that is no known event becomes ``BadLine`` (its one line)."""
        try:
            return events.from_dict(obj, line=line)
        except events.EventError as e:
            return events.BadLine(str(e))

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            self._line(raw)

    async def _follow(self, path: Path) -> None:
        """Read ``path`` as the child writes it, until the child has exited."""
        assert self._proc is not None
        with open(path, "rb") as f:
            pending = b""
            while True:
                chunk = f.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        self._line(raw)
                    continue
                if self._proc.returncode is not None:
                    if pending:
                        self._line(pending)
                    return
                # Wake at the child's exit, or to read what it wrote meanwhile.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._proc.wait()), self.poll_s)

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


def cli_argv() -> list[str]:
    """The ``avwap`` CLI as a child process of this interpreter (what a ``ProcessJob`` runs)."""
    return [sys.executable, "-m", "tui.cli"]
