"""The registry of trained models: where they live, which one is active.

Models live in ``<user data dir>/models/<name>/`` (beside the cache;
``AVWAP_MODELS_DIR`` or ``--models-dir`` override it). ``active.json`` in that
folder names the model the console uses; it is replaced atomically, and only
with a model that loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from models import checkpoint as ck
from models.errors import ModelError
from storage.config import APP

ACTIVE = "active.json"
EVALUATION = "evaluation.json"


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
    #: per baseline with skill: (model − baseline on the test days, beats it?)
    against: dict[str, tuple[float, bool]] = field(default_factory=dict)
    edge: str = ""  # "" when it beats every baseline, else e.g. "no edge over fixed set"
    null_p: float | None = None  # the null test's p-value, when it ran


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
        ev = _read(p / EVALUATION)
        best = max((m.get("selection_accuracy", 0.0) for m in metrics), default=float("nan"))
        data = (f"{len(cfg.get('tickers', []))} symbols {cfg.get('start')}..{cfg.get('end')}, "
                f"lookback {cfg.get('lookback')}, horizon {cfg.get('horizon')}, "
                f"top-{cfg.get('top_k')}")
        null = (ev or {}).get("null") or {}
        out.append(ModelInfo(p.name, p, str(cfg.get("created", "")), data,
                             {"val_selection_accuracy": best, "epochs": len(metrics)},
                             short_verdict(ev), p.name == act, against=against(ev),
                             edge=edge_note(ev),
                             null_p=float(null["p_value"]) if "p_value" in null else None))
    return out


#: How the screens name the baselines with skill (the evaluation's row names).
SHORT = {"random k (nonzero)": "random k", "best fixed k-set": "fixed set",
         "logistic": "logistic"}


def against(ev: dict[str, Any] | None) -> dict[str, tuple[float, bool]]:
    """Per baseline with skill: the model's margin over it and whether that is an edge."""
    return {str(r["name"]): (float(r["model_minus"]), bool(r["model_beats"]))
            for r in (ev or {}).get("rows", []) if r.get("gate")}


def edge_note(ev: dict[str, Any] | None) -> str:
    """What the screens add beside a model's name: "" only when it beats every baseline
    with skill on its test days."""
    if not ev:
        return "not evaluated"
    vs = against(ev)
    if not vs:
        return "not judged against the skill baselines (retrain)"
    lost = [SHORT.get(n, n) for n, (_, beats) in vs.items() if not beats]
    return "no edge over " + ", ".join(lost) if lost else ""


def evaluation_of(model_dir: Path) -> dict[str, Any] | None:
    """A model folder's ``evaluation.json`` (None when missing or unreadable)."""
    return _read(Path(model_dir) / EVALUATION)


def short_verdict(ev: dict[str, Any] | None) -> str:
    """One cell for the listing: whether the model beat the baselines, or which it did not."""
    if not ev:
        return "not evaluated (interrupted)"
    rows = ev.get("rows", [])
    gated = any("gate" in r for r in rows)
    lost = [r["name"] for r in rows if r.get("model_beats") is False
            and (r.get("gate") or not gated)]
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
