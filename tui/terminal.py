"""The console's terminal driver: Textual's Linux driver, made safe for a terminal that goes away.

Why: when the terminal disappears (a closed window, ``tmux kill-session``)
the kernel hangs the tty up: reads return EOF, writes fail with EIO, and the
process gets SIGHUP and then SIGCONT. Textual's stock driver then goes wrong
in three ways, each seen as a console that never exits:

- its output thread dies on the first EIO, the next 30 writes fill its queue,
  and the next write (or the exit's own "leave the alternate screen") blocks
  the event loop for good;
- its SIGCONT handler (meant for ``fg`` after Ctrl-Z) "resumes" on the dead
  tty, starting a second output thread while the app is shutting down, and
  the shutdown then waits on the wrong queue forever;
- its input thread reads EOF in a loop (the 80 % CPU of issue 17).

So the driver writes through ``TolerantStream`` (a write to a hung-up tty is
dropped and remembered, never an exception), ignores SIGCONT once the terminal
is gone, and the app (``tui.app``) quits through the runtime's shutdown as
soon as a signal or its half-second watch says the terminal is lost.
"""

from __future__ import annotations

import os
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an open tty (a hung-up tty is not one any more)."""
    try:
        return stream is not None and os.isatty(stream.fileno())
    except (OSError, ValueError):
        return False


class TolerantStream:
    """A text stream whose writes to a lost terminal are dropped, not raised."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self.lost = True
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.lost = True

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return not self.lost and is_terminal(self._stream)


class ConsoleDriver(LinuxDriver):
    """``LinuxDriver`` that survives its terminal going away (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = TolerantStream(self._file)  # type: ignore[assignment,arg-type]

    @property
    def terminal_lost(self) -> bool:
        stream = self._file
        return bool(getattr(stream, "lost", False)) or not is_terminal(stream)

    def _sigcont_application(self, *args: Any) -> None:
        if self.terminal_lost:
            return  # a hang-up's SIGCONT: nothing to resume on
        super()._sigcont_application(*args)
