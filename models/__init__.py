"""Regime-aware indicator selection: the MLX selector model, its data set, training,
evaluation, checkpoints and registry, and the live selector the console runs.

``engine.blas`` first: MLX must find its optimized BLAS before any module here
imports ``mlx`` (see that module).
"""

from engine import blas as _blas  # noqa: F401
