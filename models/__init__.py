"""Regime-aware indicator selection (MLX transformer, training, checkpoints): a later issue."""
