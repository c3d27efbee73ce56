"""Helpers for the selector's tests (shared by ``tests/models``; fixtures in conftest)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from storage import calendar
from storage.cache import bars_table

END = dt.date(2025, 11, 21)
SPY_CSV = Path(__file__).resolve().parents[3] / "shared/data/spy-2011/SPY_1min_2011-01.csv"


def tiny_train(name: str, **kw: object) -> object:
    """A TrainConfig small enough for a test (a few ms per step)."""
    from models.model import ModelArgs
    from models.train import ARCH_KEYS, TrainConfig

    arch: dict[str, object] = dict(dims=16, heads=2, layers=1, mlp_dims=32, patch=5)
    arch.update({k: kw.pop(k) for k in ARCH_KEYS if k in kw})
    base: dict[str, object] = dict(name=name, epochs=2, batch_size=64, lr=3e-3, seed=0, top_k=3)
    base.update(kw)
    return TrainConfig(**base, model=ModelArgs(0, 0, **arch))  # type: ignore[arg-type]


def hand_bars(symbols: list[str], dates: np.ndarray, seed: int = 7,
              prices: tuple[float, ...] = (1.0, 100.0, 4000.0)) -> tuple[list, np.ndarray]:
    """Random-walk regular-hours bars with a few missing minutes, per symbol."""
    rng = np.random.default_rng(seed)
    grid = calendar.minute_grid(dates[0].astype(dt.date), dates[-1].astype(dt.date))
    rows_sym, cols = [], []
    for i, sym in enumerate(symbols):
        t = len(grid.ts)
        p0 = prices[i % len(prices)]
        close = p0 * np.exp(np.cumsum(rng.normal(0, 4e-4, t)))
        open_ = np.r_[close[0], close[:-1]]
        spread = np.abs(rng.normal(0, 3e-4, t)) * close
        high = np.maximum(open_, close) + spread
        low = np.minimum(open_, close) - spread
        vol = rng.integers(100, 5000, t).astype(np.float64)
        keep = rng.random(t) > 0.02  # ~2 % missing minutes
        rows_sym.append(np.full(keep.sum(), sym, dtype=object))
        cols.append([grid.ts[keep], open_[keep], high[keep], low[keep], close[keep], vol[keep]])
    table = bars_table(np.concatenate(rows_sym), *(np.concatenate(c) for c in zip(*cols,
                                                                                  strict=True)))
    return table, grid.ts


def save_untrained(root: Path, name: str, lookback: int = 20, patch: int = 5,
                   seed: int = 0) -> Path:
    """An untrained selector over the whole registry, saved as training saves one
    (a random scaler, so standardizing is not the identity). Returns its folder."""
    import mlx.core as mx

    from engine.registry import REGISTRY
    from models import checkpoint as ck
    from models.model import ModelArgs, SelectorModel
    from models.train import prior_of

    names, outputs = REGISTRY.output_names(), REGISTRY.selectable()
    mx.random.seed(seed)
    args = ModelArgs(n_features=len(names), n_outputs=len(outputs), lookback=lookback,
                     patch=patch, dims=16, heads=2, layers=2, mlp_dims=32,
                     prior=prior_of(tuple(outputs)))
    model = SelectorModel(args)
    mx.eval(model.parameters())
    rng = np.random.default_rng(seed)
    ck.save(root / name, "ckpt-0000000", ("best",), weights=ck.flat(model.parameters()),
            optimizer={}, config={"name": name, "model": args.to_dict(), "features": names,
                                  "outputs": outputs, "lookback": lookback, "top_k": 5},
            mean=rng.normal(size=len(names)) * 0.1, std=1 + rng.random(len(names)),
            metrics=[], progress={})
    return root / name
