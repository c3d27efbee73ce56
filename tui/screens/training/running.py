"""A training the console left running: its record, and following it after a restart.

Why: "leave it running" at quit lets the ``avwap train`` child outlive the
console. A console started later must still know about it: list it as
``training…`` (not ``interrupted``), follow its progress in the Run tab until
it ends, and show its end. So the training writes its JSON progress lines to
``training.log`` in its model's folder (not a temporary folder), and beside it
a small ``running.json`` (pid, log, the child's temporary files) written
atomically. Whoever sees the training end — the console that started it, or
a later one following it — removes ``running.json`` and the temporary files.

A record whose pid is no longer a live process is a finished training; the
pid is also checked against the process's command line (a pid reused by some
other program is not the training).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.atomic import write_json
from tui.runtime.jobs import JobFailed, ProcessJob

if TYPE_CHECKING:
    from tui.runtime.runtime import Runtime

RUNNING = "running.json"
LOG = "training.log"


@dataclass(frozen=True)
class Running:
    """A training child recorded in its model's folder (see the module docstring)."""

    name: str
    pid: int
    log: Path
    temp: tuple[Path, ...] = ()

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid, self.name)


def record(model_dir: Path, pid: int, log: Path, temp: tuple[Path, ...] = ()) -> Running:
    """Write ``running.json`` for the training child ``pid`` (atomically)."""
    run = Running(model_dir.name, pid, log, temp)
    write_json(model_dir / RUNNING, {"name": run.name, "pid": pid, "log": str(log),
                                     "temp": [str(p) for p in temp]})
    return run


def read(model_dir: Path) -> Running | None:
    """The folder's record, or None (none, or unreadable: then it is no training)."""
    try:
        obj: dict[str, Any] = json.loads((model_dir / RUNNING).read_text(encoding="utf-8"))
        return Running(str(obj["name"]), int(obj["pid"]), Path(obj["log"]),
                       tuple(Path(p) for p in obj.get("temp", [])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(root: Path) -> list[Running]:
    """Every recorded training under the models folder ``root``, live or ended."""
    if not root.is_dir():
        return []
    return [r for p in sorted(root.iterdir()) if p.is_dir() and (r := read(p)) is not None]


def clear(model_dir: Path, run: Running | None = None) -> None:
    """The training has ended: remove its record and its temporary files."""
    run = run or read(model_dir)
    for p in (run.temp if run else ()):
        with contextlib.suppress(OSError):
            p.unlink()
    with contextlib.suppress(OSError):
        (model_dir / RUNNING).unlink()


def pid_alive(pid: int, name: str) -> bool:
    """``pid`` is a live process (not a zombie) whose command line names the training."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        cmdline = proc.joinpath("cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return True  # no /proc (macOS): the live pid is taken at its word
    return name.encode() in cmdline


def end_of(log: Path) -> tuple[str, str | None]:
    """How a training ended, from its log's last lines: (state, error line)."""
    last_error, state = None, "failed"
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "failed", f"its progress file {log} is gone"
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            if line.strip():
                last_error = line.strip()
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("event") == "done":
            state = "cancelled" if ev.get("interrupted") else "done"
        elif ev.get("event") == "error":
            last_error = str(ev.get("message", last_error))
    return state, (None if state != "failed" else last_error or "ended without its last line")


class FollowJob(ProcessJob):
    """A training left running by an earlier console: its log followed from the start.

    It is not this console's child, so its exit is seen as its pid going away
    (polled every ``poll_s``); its end is read from its last lines. Cancel sends
    it SIGINT, as for a child (stop after the current step, keep the best).
    """

    def __init__(self, name: str, run: Running, *, poll_s: float = 0.2) -> None:
        super().__init__(name, [], output=run.log, poll_s=poll_s)
        self.running = run
        self.ask_at_quit = True

    @property
    def pid(self) -> int | None:
        return self.running.pid

    def cancel(self) -> None:
        self.cancel_requested = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.running.pid, signal.SIGINT)

    async def run(self, runtime: Runtime) -> None:
        log = self.running.log
        try:
            f = open(log, "rb")  # noqa: SIM115 - held while the pid lives
        except OSError as e:
            raise JobFailed(f"cannot follow {self.running.name}: {e}") from e
        with f:
            pending = b""
            while True:
                ended = not self.running.alive  # before reading: nothing written after is lost
                chunk = f.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        self._line(raw)
                if ended:
                    if pending:
                        self._line(pending)
                    break
                if not chunk:
                    await asyncio.sleep(self.poll_s)  # polling a process that is not ours
        state, error = end_of(log)
        if state == "failed" and not self.cancel_requested:
            raise JobFailed(error or "training failed")
        self.cancel_requested = self.cancel_requested or state == "cancelled"
