"""The registry of trained models: where they live, which one is active.

Models live in ``<user data dir>/models/<name>/`` (beside the cache;
``AVWAP_MODELS_DIR`` or ``--models-dir`` override it). ``active.json`` in that
folder names the model the console uses; it is replaced atomically, and only
with a model that loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from models import checkpoint as ck
from models.errors import ModelError
from storage.config import APP

ACTIVE = "active.json"


def models_dir(override: Path | str | None = None) -> Path:
    """``override``, else ``$AVWAP_MODELS_DIR``, else the user data dir's ``models``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("AVWAP_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP)) / "models"


@dataclass(frozen=True)
class ModelInfo:
    """One trained model as ``avwap models`` lists it."""

    name: str
    path: Path
    created: str
    data: str
    metrics: dict[str, Any]
    verdict: str
    active: bool
    problem: str = ""


def list_models(root: Path) -> list[ModelInfo]:
    """Every model folder under ``root`` (a broken one is listed with its problem)."""
    if not root.is_dir():
        return []
    act = active_name(root)
    out = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or not (p / ck.POINTER).exists():
            continue
        try:
            cfg = json.loads((ck.resolve(p) / "config.json").read_text(encoding="utf-8"))
            metrics = json.loads((ck.resolve(p) / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, ModelError) as e:
            out.append(ModelInfo(p.name, p, "", "", {}, "", p.name == act, f"unreadable: {e}"))
            continue
        ev = _read(p / "evaluation.json")
        best = max((m.get("selection_accuracy", 0.0) for m in metrics), default=float("nan"))
        data = (f"{len(cfg.get('tickers', []))} symbols {cfg.get('start')}..{cfg.get('end')}, "
                f"lookback {cfg.get('lookback')}, horizon {cfg.get('horizon')}, "
                f"top-{cfg.get('top_k')}")
        out.append(ModelInfo(p.name, p, str(cfg.get("created", "")), data,
                             {"val_selection_accuracy": best, "epochs": len(metrics)},
                             short_verdict(ev), p.name == act))
    return out


def short_verdict(ev: dict[str, Any] | None) -> str:
    """One cell for the listing: whether the model beat the baselines, or which it did not."""
    if not ev:
        return "not evaluated (interrupted)"
    lost = [r["name"] for r in ev.get("rows", []) if r.get("model_beats") is False]
    if "beats_all" not in ev or (not ev["beats_all"] and not lost):
        return str(ev.get("verdict", "")).split(" (")[0].split(". ")[0]  # its first statement
    return "beats every baseline" if ev["beats_all"] else "does NOT beat: " + ", ".join(lost)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def active_name(root: Path) -> str | None:
    obj = _read(root / ACTIVE)
    name = obj.get("name") if obj else None
    return str(name) if name else None


def active_path(root: Path) -> Path | None:
    """The active model's folder, or None when no model is active."""
    name = active_name(root)
    return root / name if name and (root / name).is_dir() else None


def use(root: Path, name: str) -> Path:
    """Make ``name`` the active model (it must load, against the current registry)."""
    from models.selector import Selector

    path = root / name
    if not path.is_dir():
        known = ", ".join(m.name for m in list_models(root)) or "none"
        raise ModelError(f"no trained model named {name!r} in {root} (trained: {known})")
    Selector.load(path)
    try:
        ck.write_json_atomic(root / ACTIVE, {"name": name})
    except OSError as e:
        raise ModelError(f"cannot make {name} active in {root}: {e.strerror or e}") from e
    return path
