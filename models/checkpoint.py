"""Checkpoints written so that a crash or a full disk never loses the best one.

A trained model is a folder ``<models dir>/<name>/``::

    checkpoint.json          {"best": "ckpt-0000420", "last": "ckpt-0000450"}
    ckpt-0000420/            one immutable checkpoint
        weights.safetensors  model parameters (mx.save_safetensors)
        optimizer.safetensors  AdamW moments and step (resume continues exactly)
        config.json          architecture, feature and output names in order,
                             lookback, horizon, top-k, tickers, dates, seed …
        scaler.npz           per-feature mean / std fitted on the training days
        metrics.json         the metrics history up to this checkpoint
        progress.json        epoch, step, global step (where --resume continues)
    evaluation.json          the final evaluation (written when training ends)

Why this layout: a checkpoint folder is filled under a temporary name, every
file flushed to disk, then renamed into place; only then is ``checkpoint.json``
replaced (temp file + ``os.replace``, atomic on POSIX). A write that fails
half-way (ENOSPC, a kill) leaves the pointer naming the previous, complete
checkpoints, and the partial folder is removed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from models.errors import ModelError
from storage import atomic

POINTER = "checkpoint.json"
FORMAT = 1
FILES = ("weights.safetensors", "optimizer.safetensors", "config.json", "scaler.npz",
         "metrics.json", "progress.json")


@dataclass
class CheckpointData:
    """Everything one checkpoint folder holds, as loaded."""

    path: Path
    weights: dict[str, mx.array]
    optimizer: dict[str, mx.array]
    config: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    metrics: list[dict[str, Any]]
    progress: dict[str, Any]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as JSON (NumPy values as Python's), atomically."""
    atomic.write_json(path, obj, default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def read_pointer(model_dir: Path) -> dict[str, str]:
    p = model_dir / POINTER
    if not p.exists():
        raise ModelError(f"{model_dir} is not a trained model (no {POINTER})")
    try:
        ptr = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{p} is corrupt or truncated: {e}") from e
    if not isinstance(ptr, dict) or "best" not in ptr:
        raise ModelError(f"{p} is corrupt: it names no best checkpoint")
    return {str(k): str(v) for k, v in ptr.items()}


def save(model_dir: Path, tag: str, roles: tuple[str, ...], *, weights: dict[str, mx.array],
         optimizer: dict[str, mx.array], config: dict[str, Any], mean: np.ndarray,
         std: np.ndarray, metrics: list[dict[str, Any]], progress: dict[str, Any]) -> Path:
    """Write checkpoint ``tag`` and make it the ``roles`` ("best", "last") atomically.

    Raises ``ModelError`` naming the cause when anything cannot be written; the
    checkpoints named before the call stay complete and current.
    """
    final = model_dir / tag
    tmp = model_dir / f".{tag}.tmp-{os.getpid()}"
    ptr: dict[str, str] = {}
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        ptr = read_pointer(model_dir) if (model_dir / POINTER).exists() else {}
        if not final.exists():
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            mx.save_safetensors(str(tmp / "weights.safetensors"), weights)
            mx.save_safetensors(str(tmp / "optimizer.safetensors"), optimizer)
            _write_json(tmp / "config.json", {"format": FORMAT, **config})
            with open(tmp / "scaler.npz", "wb") as f:
                np.savez(f, mean=mean.astype(np.float64), std=std.astype(np.float64))
            _write_json(tmp / "metrics.json", metrics)
            _write_json(tmp / "progress.json", progress)
            for name in FILES:
                atomic.fsync_path(tmp / name)
            os.rename(tmp, final)
            atomic.fsync_dir(model_dir)
        new = dict(ptr)
        new.update({r: tag for r in roles})
        new.setdefault("best", tag)
        write_json_atomic(model_dir / POINTER, new)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"; the previous checkpoint {ptr['best']} is intact" if ptr.get("best") else ""
        raise ModelError(f"cannot save checkpoint {final}: {e.strerror or e}{kept}") from e
    _collect(model_dir, set(new.values()))
    return final


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, default=_json_default)


def _collect(model_dir: Path, keep: set[str]) -> None:
    """Remove checkpoint folders the pointer no longer names (best effort)."""
    for p in model_dir.iterdir():
        if p.is_dir() and p.name.startswith(("ckpt-", ".ckpt-")) and p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


def resolve(path: Path, role: str = "best") -> Path:
    """A checkpoint folder from a model folder (via its pointer) or the folder itself."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no trained model at {path}")
    if (path / POINTER).exists():
        ptr = read_pointer(path)
        if role not in ptr:
            raise ModelError(f"{path} has no {role} checkpoint")
        return path / ptr[role]
    return path


def load(path: Path, role: str = "best") -> CheckpointData:
    """Read a checkpoint; a missing, corrupt or truncated file is one ``ModelError``."""
    ck = resolve(path, role)
    for name in FILES:
        if not (ck / name).is_file():
            raise ModelError(f"checkpoint {ck} is incomplete: {name} is missing")
    try:
        weights = dict(mx.load(str(ck / "weights.safetensors")))  # type: ignore[arg-type]
        optimizer = dict(mx.load(str(ck / "optimizer.safetensors")))  # type: ignore[arg-type]
        config = json.loads((ck / "config.json").read_text(encoding="utf-8"))
        with np.load(ck / "scaler.npz") as z:
            mean, std = np.array(z["mean"]), np.array(z["std"])
        metrics = json.loads((ck / "metrics.json").read_text(encoding="utf-8"))
        progress = json.loads((ck / "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelError(f"checkpoint {ck} is corrupt or truncated: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"checkpoint {ck} has an unknown format (expected {FORMAT})")
    return CheckpointData(ck, weights, optimizer, config, mean, std, metrics, progress)


def flat(tree: Any) -> dict[str, mx.array]:
    """A parameter or optimizer tree as ``{"a.b.0.c": array}`` for safetensors."""
    pairs: Any = tree_flatten(tree)
    return {k: v for k, v in pairs if isinstance(v, mx.array)}


def unflat(d: dict[str, mx.array]) -> Any:
    return tree_unflatten(list(d.items()))
