"""``Selector``: a trained checkpoint, ready to pick indicators (the Python API).

``Selector.load(path)`` accepts a model folder (its best checkpoint is used)
or one checkpoint folder, and checks the feature names it was trained on
against the registry: a model is only meaningful on the exact features, in
the exact order, it learned from, so a mismatch is an error that lists the
missing and the extra names rather than a silent misreading.

``select_indicators(window, regime) -> (weights, names)`` takes a batch of
scale-free windows ``[B, lookback, F]`` (what ``models.features.scale_free``
gives, as the data set stores them; the selector applies its own scaler) and
returns each selectable output's weight ``[B, K]`` and the ``K`` names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from models import checkpoint as ck
from models.dataset import standardize
from models.errors import ModelError
from models.evaluate import top_k
from models.model import ModelArgs, SelectorModel


class Selector:
    """A loaded model, its scaler and its names."""

    def __init__(self, model: SelectorModel, config: dict[str, Any], mean: np.ndarray,
                 std: np.ndarray, path: Path) -> None:
        self.model = model
        self.config = config
        self.mean, self.std = mean, std
        self.path = path
        self.features: tuple[str, ...] = tuple(config["features"])
        self.outputs: tuple[str, ...] = tuple(config["outputs"])
        self.lookback = int(config["lookback"])
        self.top_k = int(config["top_k"])
        self.name = str(config.get("name", path.name))
        #: "" when the model beat every baseline with skill on its test days, else
        #: what it did not beat (``models.registry.edge_note``); the console says it.
        self.edge = ""
        self._fn = mx.compile(lambda x, r: mx.sigmoid(self.model(x, r)))
        self._from_tokens = mx.compile(lambda t, r: mx.sigmoid(self.model.from_tokens(t, r)))

    @classmethod
    def load(cls, path: Path | str, *, check_registry: bool = True) -> Selector:
        """Load a trained model; ``ModelError`` for a corrupt, truncated or mismatched one."""
        data = ck.load(Path(path), "best")
        cfg = data.config
        try:
            args = ModelArgs.from_dict(cfg["model"])
            features, outputs = list(cfg["features"]), list(cfg["outputs"])
        except (KeyError, TypeError) as e:
            raise ModelError(f"checkpoint {data.path} has an incomplete config.json: {e}") from e
        if check_registry:
            check_names(features, outputs, cfg.get("name", data.path.name))
        if len(data.mean) != len(features) or len(data.std) != len(features):
            raise ModelError(f"checkpoint {data.path}: the scaler has {len(data.mean)} "
                             f"features, config.json {len(features)}")
        model = SelectorModel(args)
        try:
            model.load_weights(list(data.weights.items()), strict=True)
        except ValueError as e:
            raise ModelError(f"checkpoint {data.path}: weights do not fit the architecture "
                             f"({e})") from e
        mx.eval(model.parameters())
        model.eval()
        sel = cls(model, cfg, data.mean, data.std, data.path)
        from models.registry import edge_note, evaluation_of

        sel.edge = edge_note(evaluation_of(data.path.parent))
        return sel

    @property
    def label(self) -> str:
        """The name, with what it has no edge over ("model X — no edge over fixed set")."""
        return f"{self.name} — {self.edge}" if self.edge else self.name

    def select_indicators(self, window: np.ndarray | mx.array,
                          regime: np.ndarray | mx.array) -> tuple[np.ndarray, tuple[str, ...]]:
        """Weights ``[B, K]`` (float32) for scale-free windows ``[B, lookback, F]``."""
        x = np.array(window, dtype=np.float32, copy=True)
        if x.ndim != 3 or x.shape[1:] != (self.lookback, len(self.features)):
            raise ModelError(f"window must be [B, {self.lookback}, {len(self.features)}], "
                             f"got {list(x.shape)}")
        standardize(x, self.mean, self.std)
        r = mx.array(np.asarray(regime, dtype=np.int32).reshape(-1))
        w = self._fn(mx.array(x), r)
        return np.array(w), self.outputs

    def select_tokens(self, tokens: np.ndarray, regime: np.ndarray) -> np.ndarray:
        """Weights ``[B, K]`` from standardized tokens ``[B, tokens + 1, F]``
        (``SelectorModel.tokens_of`` of standardized windows: what ``models.live``
        keeps up to date), one compiled call."""
        r = mx.array(np.asarray(regime, dtype=np.int32).reshape(-1))
        return np.array(self._from_tokens(mx.array(tokens), r))

    def pick(self, window: np.ndarray, regime: np.ndarray,
             k: int | None = None) -> list[list[tuple[str, float]]]:
        """Per row the top-k ``(name, weight)``, largest first."""
        w, names = self.select_indicators(window, regime)
        idx = top_k(w, k or self.top_k)
        return [[(names[j], float(w[i, j])) for j in row] for i, row in enumerate(idx)]


def check_names(features: Sequence[str], outputs: Sequence[str], model: str) -> None:
    """The model's features and outputs must be the registry's, in order."""
    from engine.registry import REGISTRY

    now = REGISTRY.output_names()
    missing = [n for n in features if n not in now]
    extra = [n for n in now if n not in features]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from the registry: {', '.join(missing)}")
        if extra:
            parts.append(f"new in the registry: {', '.join(extra)}")
        raise ModelError(f"model {model} does not match the indicator registry ("
                         f"{'; '.join(parts)}); retrain it with `avwap train`")
    if list(features) != now:
        raise ModelError(f"model {model} was trained on the registry's outputs in another "
                         "order; retrain it with `avwap train`")
    sel = REGISTRY.selectable()
    if list(outputs) != sel:
        gone = [n for n in outputs if n not in sel]
        new = [n for n in sel if n not in outputs]
        raise ModelError(f"model {model}'s selectable outputs differ from the registry's "
                         f"(missing: {', '.join(gone) or '-'}; extra: {', '.join(new) or '-'}); "
                         "retrain it with `avwap train`")
