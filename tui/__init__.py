"""The Textual console, its runtime and the ``avwap`` CLI.

``engine.blas`` first: MLX must find its optimized BLAS before any module here
imports ``mlx`` (see that module).
"""

from engine import blas as _blas  # noqa: F401
