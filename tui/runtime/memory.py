"""The console's memory policy: hand freed pages back, keep long-lived objects out of gc.

Why here and not in a screen: memory is the process's, and the runtime is the
one owner of long work. Three measures, all measured (``bench/tui.py``):

- ``return_large_allocations``: large temporaries go straight back to the OS
  when freed, so a warm-up's peak is what it holds at once, not its garbage.

- ``release_memory``: loading ~650 symbols × 20 days leaves a few hundred MB of
  freed allocator pages behind (DuckDB's Arrow batches, the panel scatter, the
  engine's warm-up buffers), much of it in the MLX thread's malloc arena, which
  glibc does not hand back by itself; ``malloc_trim`` does.
- ``limit_mlx_cache``: MLX keeps freed buffers for reuse, up to a limit that
  defaults to the machine's memory; the console's warm-up and a model's
  priming left ~32 MB there at the peak. The steady minute reuses ~5 MB, so a
  small limit costs it nothing.
- ``GcPolicy``: a warmed session holds ~110k long-lived Python objects
  (Textual's DOM and caches, the registry, calendars); a full collection over
  them took 70–120 ms on a busy 2-core machine, every ~13 frames at max speed,
  the worst frames the console had. After a warm-up the runtime collects once
  and freezes them (``gc.freeze``), so later collections scan only what the
  replay allocates; before the next warm-up it unfreezes, so the previous
  session's objects can be freed.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys

#: Allocations at least this large get their own pages, handed back when freed.
LARGE_ALLOCATION = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def return_large_allocations() -> None:
    """Map every allocation of ``LARGE_ALLOCATION`` or more on its own, so freeing it
    returns it to the OS at once (glibc only; elsewhere a no-op).

    Why: glibc raises its mmap threshold after the first large free (up to
    32 MB), so a warm-up's many [S, T] temporaries (NumPy, MLX) then come from
    the heap and stay resident until ``malloc_trim``: the console's peak RSS was
    ~270 MB above what it held (``bench/tui.py``: ``peak_at_warm_mb``). With a
    fixed threshold the peak is what is alive at once. Once per process.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION)


#: Freed MLX buffers kept for reuse (a steady console minute reuses ~5 MB).
MLX_CACHE_LIMIT = 16 << 20


def limit_mlx_cache() -> None:
    """Keep at most ``MLX_CACHE_LIMIT`` of freed MLX buffers; the rest go back (once)."""
    import mlx.core as mx

    mx.set_cache_limit(MLX_CACHE_LIMIT)


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc only; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


class GcPolicy:
    """Freeze the long-lived heap after a warm-up; thaw it before the next."""

    def __init__(self) -> None:
        self.frozen = False

    def settle(self) -> None:
        """After a warm-up: one full collection, then keep the survivors out of gc."""
        gc.collect()
        gc.freeze()
        self.frozen = True

    def keep(self) -> None:
        """Freeze what exists now without a collection (cheap: no pause).

        For a screen that just built large long-lived views (a backtest run of
        10,000 trades): without it the next full collections rescan them, a
        ~100 ms pause every few dozen key presses. Cyclic garbage made before
        the call waits for the next ``thaw``; refcounted objects are freed as
        usual.
        """
        gc.freeze()
        self.frozen = True

    def thaw(self) -> None:
        """Before a new session (or at exit): let the frozen objects be collected again."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
