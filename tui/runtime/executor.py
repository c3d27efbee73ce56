"""The console's MLX thread: every engine call of the app runs here, one at a time.

Why one thread, and why it must end in a particular way: MLX (0.32) keeps its
compile cache and streams per thread, and a thread's cache holds Python objects
(the compiled functions' outputs). When a thread that used MLX exits, C++ runs
that cache's destructor, which takes the GIL to release them; if the
interpreter is finalizing by then (the main thread returned from ``main``, the
thread's TLS destructors run after Python's ``join`` has returned), CPython ends
the thread inside a ``noexcept`` destructor and the process aborts
("terminate called without an active exception", exit 134). MLX's rule for
worker threads is to call ``mx.clear_streams()`` on the thread before it exits,
which empties that thread's caches while the GIL is held.

So the rule, for this thread and for any other thread the project runs MLX on:
**the last thing an MLX thread does is ``mx.clear_streams()``**. This executor
does it in its loop's ``finally``; ``close()`` then waits (asynchronously, never
blocking the event loop) until the thread is past it. With the rule kept, the
process exits normally: no ``os._exit``, no abort (the quit loop in
``tests/tui/test_tmux.py`` and the note on issue 15 count it).

The thread is not a daemon, on purpose: if its current call outlasts
``close()``'s timeout (a first warm-up still compiling on a busy machine), the
app still exits at once and restores the terminal, and Python's own exit then
waits for the thread to finish that call and clear its caches before the
interpreter is torn down. A daemon thread would be left running MLX while the
interpreter finalizes, which is exactly the abort above. Calls stay short:
warm-ups check a cancel flag every 64 stepped minutes, and the IB session's
blocking calls are cancelled when the runtime closes the feed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Item = tuple["concurrent.futures.Future[Any]", Callable[[], Any]]


class ExecutorClosed(RuntimeError):
    """Work was submitted after ``close()``."""


class MlxExecutor:
    """One thread running submitted calls in order (see the module docstring)."""

    def __init__(self, name: str = "avwap-mlx") -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._closed = False
        self._lock = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread once started (tests check that work ran on it)."""
        return self._thread

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args)``; the future resolves with its result or exception."""
        with self._lock:
            if self._closed:
                raise ExecutorClosed("the MLX executor is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=False)
                self._thread.start()
            fut: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._queue.put((fut, (lambda: fn(*args))))
            return fut

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the MLX thread, awaited from the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def _loop(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                fut, call = item
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    result = call()
                except BaseException as e:  # handed to the awaiting side
                    fut.set_exception(e)
                else:
                    fut.set_result(result)
        finally:
            mlx = sys.modules.get("mlx.core")
            if mlx is not None:  # the MLX thread rule: clear this thread's caches last
                mlx.clear_streams()
            self._finished.set_result(None)

    def finish(self, timeout: float | None = None) -> bool:
        """Blocking ``close``: for the end of the program, after the app has gone.

        The caller (``avwap tui``) then closes what the thread was using (the
        DuckDB cache) knowing no call is still running on it.
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                self._drain()
                self._queue.put(None)
            if self._thread is None:
                return True
        try:
            self._finished.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 1.0) -> bool:
        """Cancel queued calls, let the running one finish, end the thread.

        Returns True when the thread is past its last MLX call within
        ``timeout`` seconds; otherwise it finishes its current call after the
        app has gone, and interpreter exit waits for it (never blocking the loop).
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                self._drain()
                self._queue.put(None)
            started = self._thread is not None
        if not started:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._finished)),
                                   timeout)
        except TimeoutError:
            return False
        return True

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()
