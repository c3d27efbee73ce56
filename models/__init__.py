"""Regime-aware indicator selection: the MLX selector model, its data set, training,
evaluation, checkpoints and registry, and the live selector the console runs."""
