"""The app's runtime: the MLX thread, jobs, memory policy and clean shutdown.

Kept free of imports here so that ``tui.messages`` and the runtime's modules can
import each other's names without a cycle; import from the submodules.
"""
