"""Replacing a file atomically: the one way the project writes a file in place.

Why one module: a crash, a full disk or a second process mid-write must leave
either the old file or the new one, never half of it (a ticker list the next
start reports as broken, alert rules lost, a model checkpoint that does not
load). Every writer gets the same guarantee: the bytes go to a temp file beside
the target (same filesystem, so the rename is atomic on POSIX), are flushed and
fsynced, renamed over the target, and the folder is fsynced so the rename
itself survives a power loss. On any error the temp file is removed and the
target is untouched.

Temp files are named ``.<name>.<random>.tmp``: hidden, unique per writer (two
processes never share one), and recognisable by their ``.tmp`` suffix to a
folder that removes stale ones (``tui.runtime.warm_store``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it); a no-op where the filesystem refuses."""
    with contextlib.suppress(OSError):
        fsync_path(path)


@contextlib.contextmanager
def replacing(path: Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content into; it replaces ``path`` on a clean exit.

    ``path``'s folder must exist. Raises what the write raised (``OSError``
    for a full disk or a read-only folder); ``path`` is then untouched.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    tmp = Path(name)
    try:
        f: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), atomically."""
    with replacing(path) as f:
        f.write(text)


def write_json(path: Path, obj: Any, *, indent: int | None = 1,
               default: Callable[[Any], Any] | None = None) -> None:
    """Replace ``path`` with ``obj`` as JSON (and a final newline), atomically.

    The object is encoded before the temp file is opened, so an object that
    cannot be encoded leaves no trace at all.
    """
    write_text(path, json.dumps(obj, indent=indent, default=default) + "\n")
