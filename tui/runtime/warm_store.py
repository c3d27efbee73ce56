"""Warmed engine states kept on disk, so a second launch does not warm again.

Why: warming the ``all`` list (~650 symbols) steps the engine through about
3,000 minutes (the declared histories of ``engine.meta``), ~12 s on a quiet
2-core machine, and a trader paid it again on every launch although nothing
had changed. The state after a warm-up is a pure function of the bars it warmed
on, the outputs in use, the sessions stepped and the engine's code, so it is
saved under a key made of exactly those, and a later warm-up with the same key
loads it instead (well under a second).

The key hashes the history's arrays themselves (not dates or row counts), so
any change to a bar — a sync, a repaired row, an IB backfill — gives another
key and a real warm-up; the engine's own source files and the MLX version are
in it too, so a new release never loads an old state. A file that cannot be
read or is of other indicators is ignored (and replaced); a folder that cannot
be written only costs the saving. Files live beside the cache
(``<cache>.warm/``), newest ``KEEP`` kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from functools import cache
from pathlib import Path

import numpy as np

import engine
from engine.incremental import IncrementalEngine
from engine.snapshot import Snapshot
from storage import atomic
from storage.types import Panel

KEEP = 8
#: A temp file this old was left by a save that died (a crash, a full disk).
STALE_TMP_S = 600.0
_SNAP = ("values", "last", "volume", "valid", "regime")


@cache
def code_version() -> str:
    """A hash of the engine's source files and the MLX version."""
    from importlib.metadata import version

    h = hashlib.blake2b(digest_size=16)
    h.update(version("mlx").encode())
    root = Path(engine.__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def warm_key(panel: Panel, names: tuple[str, ...], step_sessions: int, tail: int = 1) -> str:
    """The key of warming ``names`` over ``panel`` stepping ``step_sessions`` sessions
    (and its last ``tail`` minutes: ``WarmUp.tail``)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(code_version().encode())
    h.update(repr((panel.symbols, names, step_sessions, panel.hours)
                  + ((tail,) if tail != 1 else ())).encode())
    for arr in (panel.ts, panel.open, panel.high, panel.low, panel.close, panel.volume,
                panel.valid, panel.minute_of_session, panel.session_minutes):
        h.update(np.ascontiguousarray(arr).tobytes())
    for kind in sorted(panel.segments):
        h.update(np.ascontiguousarray(panel.segments[kind]).tobytes())
    return h.hexdigest()


class WarmStore:
    """Saved warm states in one folder (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def beside(cls, cache_path: Path | str) -> WarmStore:
        p = Path(cache_path)
        return cls(p.with_name(p.name + ".warm"))

    def _file(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def load(self, key: str, eng: IncrementalEngine) -> Snapshot | None:
        """Put the saved state into ``eng``; its last Snapshot, or None (warm it)."""
        path = self._file(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                flat = {k: z[k] for k in z.files}
            eng.import_state({k[4:]: v for k, v in flat.items() if k.startswith("eng:")})
            snap = Snapshot(
                ts=np.datetime64(int(flat["snap:ts"]), "m"), symbols=eng.symbols,
                names=eng.names, final=True,
                **{n: flat[f"snap:{n}"] for n in _SNAP})  # type: ignore[arg-type]
        except (OSError, ValueError, KeyError):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept longest
        return snap

    def save(self, key: str, eng: IncrementalEngine, snap: Snapshot) -> bool:
        """Keep ``eng``'s state (just warmed; ``snap`` its last minute). False if the
        folder cannot be written (the next launch warms again, nothing else)."""
        flat = {f"eng:{k}": v for k, v in eng.export_state().items()}
        flat["snap:ts"] = np.asarray(snap.ts.astype("datetime64[m]").astype(np.int64))
        flat.update({f"snap:{n}": np.asarray(getattr(snap, n)) for n in _SNAP})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic.replacing(self._file(key), binary=True) as f:
                np.savez(f, **flat)  # type: ignore[arg-type]
        except OSError:
            return False
        self._prune()
        return True

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            with contextlib.suppress(OSError):
                old.unlink()
        stale = time.time() - STALE_TMP_S  # another console may be writing a newer one
        for tmp in self.folder.glob(f"*{atomic.TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < stale:
                    tmp.unlink()
