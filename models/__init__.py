"""Regime-aware indicator selection: data set, MLX selector model, training, checkpoints.

``engine.blas`` first: MLX must find its optimized BLAS before any module here
imports ``mlx`` (see that module).
"""

from engine import blas as _blas  # noqa: F401
