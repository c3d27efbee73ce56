"""One cache file, many processes: who may open the DuckDB file, when, and for how long.

Why: DuckDB lets one process hold a database file read-write, and then no other
process may open it at all (read-only opens from several processes are fine
while nobody writes). The console keeps running all day while `avwap sync`,
backtests, training and read commands come and go, so no process may keep the
file. The rule here:

* **Short holds.** A process opens the file only for an operation (a read, a
  write transaction) and keeps the connection afterwards only while no other
  process waits for it (a *lease*: a keeper thread closes an idle connection as
  soon as someone queues, or after ``IDLE_RELEASE_S``).
* **A queue beside the file.** ``<cache>.lock`` carries two POSIX byte-range
  locks: the *data* lock (shared for a read, exclusive for a write; taken before
  DuckDB opens the file, released after it is closed) and the *gate*, held by
  whoever waits for the data lock. A process arriving while someone waits queues
  behind them, so a writer is never starved by a stream of readers, and the
  gate is how a lease holder learns that it must let go.
* **Bounded, spoken waits.** A waiter says once what it waits for (``waiting for
  the cache: avwap sync (pid 4242) is writing``: the pid comes from the kernel's
  lock table, the command name from the holder's label in the lock file) and
  gives up after its bound with ``CacheBusy`` (one line, exit 2).

Kill safety: the kernel drops a killed process's locks, and DuckDB rolls its
open transaction back from the WAL at the next open; nothing here needs cleaning.
Within a process threads take turns on one ``RLock`` per file (POSIX locks do
not separate threads), and nested holds reuse the open connection.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import os
import re
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from storage.errors import CacheError

#: Seconds a command waits for the cache before giving up (``AVWAP_CACHE_WAIT``).
DEFAULT_WAIT_S = 60.0
WAIT_ENV = "AVWAP_CACHE_WAIT"
#: An idle lease is let go after this long even when nobody waits (so the file
#: is checkpointed and tools outside this protocol can open it). Long, because
#: opening costs 20–60 ms (DuckDB builds its catalog per open): the console's
#: minute writes reuse the connection while nobody else wants the file.
IDLE_RELEASE_S = 120.0
#: How often the keeper looks for waiters.
KEEPER_TICK_S = 0.02
#: Say what we wait for only when the wait is noticeable.
SAY_AFTER_S = 0.2
#: A wait shorter than this only tries (it does not queue at the gate): a holder
#: is not asked to let go for someone who will not stay (the console's first try
#: at a live minute would otherwise make a running sync close and reopen).
QUEUE_MIN_S = 0.1

_GATE, _DATA = 0, 1
_GENERATION_AT = 8  # an 8-byte counter: bumped by every write (``generation``)
_LABELS_AT, _LABEL_BYTES, _LABEL_SLOTS = 4096, 96, 1 << 16


class CacheBusy(CacheError):
    """The cache stayed held by another process for the whole wait."""


@dataclass(frozen=True)
class Holder:
    pid: int
    label: str
    writing: bool

    def __str__(self) -> str:
        return f"{self.label} (pid {self.pid}) is {'writing' if self.writing else 'reading'}"


def _say_stderr(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


@dataclass
class _Settings:
    label: str = "avwap"
    say: Callable[[str], None] = _say_stderr


_settings = _Settings()


def configure(*, label: str | None = None, say: Callable[[str], None] | None = None) -> None:
    """Name this process for others' waiting lines (``avwap sync``); where ours go."""
    if label is not None:
        _settings.label = label
    if say is not None:
        _settings.say = say


def default_wait() -> float:
    """The bound of a wait: ``AVWAP_CACHE_WAIT`` seconds, else ``DEFAULT_WAIT_S``."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        raise CacheError(f"{WAIT_ENV}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise CacheError(f"{WAIT_ENV}={raw!r}: the wait cannot be negative")
    return value


# ── POSIX record locks on the lock file ────────────────────────────────────


def _flock_struct(kind: int, start: int) -> bytes:
    if sys.platform == "darwin":  # off_t l_start, l_len; pid_t l_pid; short l_type, l_whence
        return struct.pack("qqihh", start, 1, 0, kind, os.SEEK_SET)
    return struct.pack("hhqqi", kind, os.SEEK_SET, start, 1, 0)  # Linux


def _try_lock(fd: int, kind: int, start: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_SETLK, _flock_struct(kind, start))
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


def _unlock(fd: int, start: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETLK, _flock_struct(fcntl.F_UNLCK, start))


def _conflict(fd: int, start: int) -> tuple[int, bool] | None:
    """(pid, exclusive) of another process's lock on byte ``start``, if any."""
    raw = fcntl.fcntl(fd, fcntl.F_GETLK, _flock_struct(fcntl.F_WRLCK, start))
    if sys.platform == "darwin":
        _, _, pid, kind, _ = struct.unpack("qqihh", raw)
    else:
        kind, _, _, _, pid = struct.unpack("hhqqi", raw)
    if kind == fcntl.F_UNLCK:
        return None
    return int(pid), kind == fcntl.F_WRLCK


# ── one file's share in this process ───────────────────────────────────────


class _Share:
    """This process's hold on one cache file (one per path, see ``_share``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.rlock = threading.RLock()
        self.fd: int | None = None
        self.con: duckdb.DuckDBPyConnection | None = None
        self.writing = False
        self.depth = 0
        self.idle_since = 0.0
        self.memory_limit = ""
        self.own_writes = 0  # writes this process made (``changed_elsewhere``)

    # the write counter -----------------------------------------------------------
    def generation(self) -> int:
        """How many writes the file has seen (any process); 8 bytes of the lock file."""
        raw = os.pread(self._fd(), 8, _GENERATION_AT)
        return int.from_bytes(raw, "little") if len(raw) == 8 else 0

    def _bump(self) -> None:
        """Count a committed write (called holding the data lock exclusively)."""
        n = self.generation() + 1
        os.pwrite(self._fd(), n.to_bytes(8, "little"), _GENERATION_AT)
        self.own_writes += 1

    # file lock --------------------------------------------------------------
    def _fd(self) -> int:
        if self.fd is None:
            try:
                self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise CacheError(
                    f"cannot open the cache's lock file {self.lock_path}: {e.strerror}"
                ) from e
            self._write_label()
        return self.fd

    def _write_label(self) -> None:
        pid = os.getpid()
        record = f"{pid}\t{_settings.label}\n".encode()[: _LABEL_BYTES - 1].ljust(_LABEL_BYTES)
        assert self.fd is not None
        with contextlib.suppress(OSError):
            os.pwrite(self.fd, record, _LABELS_AT + (pid % _LABEL_SLOTS) * _LABEL_BYTES)

    def _label_of(self, pid: int) -> str:
        assert self.fd is not None
        with contextlib.suppress(OSError):
            raw = os.pread(self.fd, _LABEL_BYTES, _LABELS_AT + (pid % _LABEL_SLOTS) * _LABEL_BYTES)
            text = raw.split(b"\n", 1)[0].decode("utf-8", "replace") if raw else ""
            got, _, label = text.partition("\t")
            if got == str(pid) and label:
                return label
        return "another process"

    def holder(self) -> Holder | None:
        """Who holds the data lock, else who queues at the gate."""
        fd = self._fd()
        for byte in (_DATA, _GATE):
            hit = _conflict(fd, byte)
            if hit is not None:
                pid, exclusive = hit
                return Holder(pid, self._label_of(pid), exclusive or byte == _GATE)
        return None

    def contended(self) -> bool:
        """Another process waits at the gate."""
        return self.fd is not None and _conflict(self.fd, _GATE) is not None

    def _acquire_file(self, write: bool, deadline: float, started: float) -> None:
        fd = self._fd()
        kind = fcntl.F_WRLCK if write else fcntl.F_RDLCK
        queue = deadline - started >= QUEUE_MIN_S
        gate = False
        said: Holder | None = None
        pause = 0.002
        try:
            while True:
                if queue and not gate:
                    gate = _try_lock(fd, fcntl.F_WRLCK, _GATE)
                if (gate or not queue) and _try_lock(fd, kind, _DATA):
                    return
                now = time.monotonic()
                who = self.holder()
                if who is not None and who != said and now - started >= SAY_AFTER_S:
                    _settings.say(f"waiting for the cache: {who}")
                    said = who
                if now >= deadline:
                    raise CacheBusy(_busy_line(self.path, who, now - started))
                time.sleep(min(pause, max(deadline - now, 0.0)))
                pause = min(pause * 2, 0.05)
        finally:
            if gate:
                _unlock(fd, _GATE)

    # connection -------------------------------------------------------------
    def _open(self, write: bool, deadline: float, started: float) -> None:
        self._acquire_file(write, deadline, started)
        try:
            while True:
                try:
                    self.con = duckdb.connect(str(self.path), read_only=not write)
                    break
                except duckdb.IOException as e:
                    # Someone outside this protocol (an older avwap, the duckdb
                    # shell) holds DuckDB's own lock: wait for it the same way.
                    if "lock" not in str(e).lower():
                        raise
                    now = time.monotonic()
                    if now >= deadline:
                        m = re.search(r"PID (\d+)", str(e))
                        who = Holder(int(m.group(1)), "another program", True) if m else None
                        raise CacheBusy(_busy_line(self.path, who, now - started)) from None
                    time.sleep(0.05)
            self.writing = write
            self.con.execute("SET TimeZone = 'UTC'")
            self.memory_limit = ""
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        """Close the connection (DuckDB checkpoints) and let the file go."""
        con, self.con = self.con, None
        try:
            if con is not None:
                with contextlib.suppress(duckdb.Error):
                    con.close()
        finally:
            if self.fd is not None:
                with contextlib.suppress(OSError):
                    _unlock(self.fd, _DATA)

    @contextlib.contextmanager
    def hold(
        self, write: bool, wait: float, memory_limit: str
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        started = time.monotonic()
        deadline = started + wait
        if not self.rlock.acquire(timeout=max(wait, 0.001)):
            raise CacheBusy(
                f"the cache {self.path} is busy in this process: gave up after {wait:g} s"
            )
        try:
            if self.depth:
                if write and not self.writing:
                    raise CacheError("a write inside a read of the cache (a bug)")
            else:
                if self.con is not None and ((write and not self.writing) or self.contended()):
                    self._release()  # an upgrade, or someone queued: back in line
                if self.con is None:
                    self._open(write, deadline, started)
            assert self.con is not None
            if memory_limit and memory_limit != self.memory_limit:
                self.con.execute(f"SET memory_limit = '{memory_limit}'")
                self.memory_limit = memory_limit
            self.depth += 1
            done = False
            try:
                yield self.con
                done = True
            finally:
                self.depth -= 1
                if done and write and not self.depth:
                    with contextlib.suppress(OSError):
                        self._bump()
                if not self.depth:
                    self.idle_since = time.monotonic()
                    if self.contended():
                        self._release()
                    else:
                        _keeper.watch(self)
        finally:
            self.rlock.release()

    def release_if(self, force: bool = False) -> None:
        """The keeper's tick (and ``Cache.release``): let an idle lease go if due."""
        if not self.rlock.acquire(blocking=False):
            return
        try:
            if self.con is None or self.depth:
                return
            due = time.monotonic() - self.idle_since >= IDLE_RELEASE_S
            if force or due or self.contended():
                self._release()
        finally:
            self.rlock.release()


def _busy_line(path: Path, who: Holder | None, waited: float) -> str:
    what = f"{who}" if who is not None else "another process holds it"
    return (
        f"the cache {path} is busy: {what}; gave up after {waited:.0f} s "
        f"(set {WAIT_ENV} to wait longer)"
    )


class _Keeper:
    """One daemon thread per process: lets idle leases go when someone waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[_Share] = set()
        self._thread: threading.Thread | None = None

    def watch(self, share: _Share) -> None:
        with self._lock:
            self._held.add(share)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="cache-lease-keeper", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(KEEPER_TICK_S)
            with self._lock:
                held = list(self._held)
            for share in held:
                share.release_if()
                if share.con is None:
                    with self._lock:
                        self._held.discard(share)
            with self._lock:
                if not self._held:
                    self._thread = None
                    return

    def release_all(self) -> None:
        with self._lock:
            held = list(self._held)
        for share in held:
            share.release_if(force=True)


_keeper = _Keeper()
_shares: dict[Path, _Share] = {}
_shares_lock = threading.Lock()


def share_of(path: Path) -> _Share:
    """This process's share of the cache file at ``path`` (one per file)."""
    key = Path(os.path.abspath(path))
    with _shares_lock:
        found = _shares.get(key)
        if found is None:
            found = _shares[key] = _Share(key)
        return found


def holder_of(path: Path) -> Holder | None:
    """Who holds or waits for the cache at ``path`` now (``None``: nobody)."""
    return share_of(path).holder()


atexit.register(_keeper.release_all)
