"""One process of the 2-process data-parallel test (started by ``mlx.launch``).

Every rank builds the same model from the same seed and the same global
batches; each trains on its own half of every batch through the compiled step
with ``mx.distributed.all_sum`` of the gradients, then writes its weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import engine.blas  # noqa: F401  (MLX's optimized BLAS: before mlx loads)

# isort: split
import mlx.core as mx
import numpy as np

from models.checkpoint import flat
from models.model import ModelArgs, SelectorModel, make_optimizer, make_train_step

ARGS = ModelArgs(n_features=6, n_outputs=4, lookback=10, patch=5, dims=16, heads=2, layers=1,
                 mlp_dims=32, prior=[0.9, 0.8, 0.5, 0.5])
STEPS, GLOBAL_BATCH = 4, 16


def batches() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [(rng.normal(size=(GLOBAL_BATCH, 10, 6)).astype(np.float32),
             rng.integers(-1, 4, GLOBAL_BATCH).astype(np.int32),
             (rng.random((GLOBAL_BATCH, 4)) > 0.5).astype(np.float32)) for _ in range(STEPS)]


def run(group: mx.distributed.Group | None) -> dict[str, mx.array]:
    """Train STEPS steps; with a group of N each rank takes its 1/N of each batch."""
    rank, size = (group.rank(), group.size()) if group is not None else (0, 1)
    mx.random.seed(0)
    model = SelectorModel(ARGS)
    opt = make_optimizer(1e-2)
    step = make_train_step(model, opt, group)
    per = GLOBAL_BATCH // size
    for x, r, y in batches():
        part = slice(rank * per, (rank + 1) * per)
        loss = step(mx.array(x[part]), mx.array(r[part]), mx.array(y[part]))
        mx.eval(model.state, opt.state, loss)
    return flat(model.parameters())


if __name__ == "__main__":
    g = mx.distributed.init()
    weights = run(g)
    mx.save_safetensors(str(Path(sys.argv[1]) / f"rank{g.rank()}-of-{g.size()}.safetensors"),
                        weights)
