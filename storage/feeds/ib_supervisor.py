"""One recovery at a time, restarted by whatever ends the previous one.

Why a supervisor: the IB feed recovers from many faults (a dropped socket,
1101/1102, a frozen gateway, stalled streams, pacing refusals), and faults
arrive while a recovery is still running — a drop while a reconnect waits in
the pacing queue used to leave the feed DOWN for good, because the new fault
was ignored ("a recovery is already running") and the running one then died
on the dead socket. Here a single loop owns recovery:

- a fault records what is needed (the feed's own flags) and calls ``kick()``
  (more work) or ``interrupt()`` (the running step is stale: cancel it);
- the loop runs one ``step()`` while ``pending()`` says there is work; a step
  that fails is retried after an exponential backoff, the next attempt's time
  published as ``next_attempt`` (clock seconds), unless ``on_error`` calls
  the failure terminal;
- so the feed always ends LIVE, DOWN-and-retrying, or at a stated terminal
  error — never at a silent dead state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable


class Supervisor:
    """Runs ``step()`` until ``pending()`` is False; one step at a time."""

    def __init__(
        self,
        step: Callable[[], Awaitable[None]],
        *,
        pending: Callable[[], bool],
        on_error: Callable[[BaseException, float], bool],
        on_step_end: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        initial_s: float = 0.5,
        max_s: float = 30.0,
    ) -> None:
        self._step_fn, self._pending, self._on_error = step, pending, on_error
        self._on_step_end = on_step_end
        self._sleep, self._clock = sleep, clock
        self.initial_s, self.max_s = initial_s, max_s
        self._wake = asyncio.Event()
        self._current: asyncio.Task[None] | None = None
        #: Clock time of the next attempt while waiting out a backoff, else None.
        self.next_attempt: float | None = None
        self.steps = 0
        self.ended = False

    @property
    def busy(self) -> bool:
        """A step is running or a retry is scheduled."""
        return (self._current is not None and not self._current.done()) or (
            self.next_attempt is not None
        )

    def kick(self) -> None:
        """There is (more) work: run a step if none is running."""
        self._wake.set()

    def interrupt(self) -> None:
        """The running step is stale (a newer fault): cancel it; the loop starts a fresh one."""
        if self._current is not None and not self._current.done():
            self._current.cancel()
        self._wake.set()

    async def run(self) -> None:
        delay = self.initial_s
        while True:
            if not self._pending():
                self._wake.clear()
                await self._wake.wait()
                continue
            self._wake.clear()
            step = self._current = asyncio.ensure_future(self._step_fn())
            self.steps += 1
            try:
                await asyncio.wait({step})
            finally:
                if not step.done():  # we are being cancelled: take the step with us
                    step.cancel()
                    with contextlib.suppress(BaseException):
                        await asyncio.wait({step}, timeout=1.0)
            self._current = None
            failed = None if step.cancelled() else step.exception()
            if failed is None:
                if not step.cancelled():
                    delay = self.initial_s
                self._on_step_end()
                await asyncio.sleep(0)  # a step that left work behind must not spin the loop
                continue
            try:
                retry = self._on_error(failed, delay)
            except Exception:  # a failing error handler must not end recovery silently
                retry = True
            if not retry:
                self.ended = True
                self._on_step_end()
                return
            self.next_attempt = self._clock() + delay
            self._on_step_end()
            try:
                await self._sleep(delay)
            finally:
                self.next_attempt = None
            delay = min(delay * 2, self.max_s)
