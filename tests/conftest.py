"""Suite-wide settings: hypothesis is derandomized under CI; MLX's BLAS is loaded first.

Locally, hypothesis explores new random examples on every run (and replays the
ones that failed before); under CI (``CI`` set, as ``.ci/run`` runs) it draws a
fixed, seeded set, so a green main stays green and a red one is reproducible.
"""

from __future__ import annotations

import os

from hypothesis import settings

import engine  # noqa: F401  (engine.blas: MLX's optimized BLAS, before any test imports mlx)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
