"""Expressions over a whole panel: the values the backtester reads, then every scan.

``scan_values(panel, names)`` computes only the registry outputs named (float32,
MLX, the batch registry), beside the prices as the indicators see them, and
hides an anchor's level and bands where ``engine.bands``' validity rule fails —
exactly what ``engine.backtest`` decides its signals on. ``scan_panel`` then
evaluates all expressions in one ``Program`` call over ``[S, T]``; a symbol
matches only at minutes where it has a bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine import bands
from engine.expr.grammar import PRICE_NAMES, Node, check_names, parse
from engine.expr.prev import prev_bar
from engine.expr.program import Program
from storage.types import Panel


def _widths(names: Sequence[str]) -> list[str]:
    """The level and +1σ band of each calendar anchor read: the width the rule tests."""
    kinds = {k for k in (bands.anchor_of(n) for n in names) if k is not None}
    extra = [n for k in sorted(kinds) for n in (f"avwap_{k}", f"avwap_{k}_up1")]
    return [n for n in extra if n not in names]


def scan_values(panel: Panel, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{name: [S, T] float32}`` for ``names`` (prices or registry outputs), band rule applied."""
    import mlx.core as mx

    from engine.compute import compute_outputs
    from engine.inputs import batch_inputs

    values: dict[str, np.ndarray] = {
        f: getattr(panel, f).astype(np.float32) for f in PRICE_NAMES}
    outs = [n for n in names if n not in values]
    outs += _widths(outs)
    if outs:
        cols = compute_outputs(batch_inputs(panel), outs)
        mx.eval(list(cols.values()))
        values |= {k: np.array(v) for k, v in cols.items()}
    return bands.mask(values, panel.valid, panel.volume, panel.segments)


def compile_scans(scans: Sequence[str | Node]) -> Program:
    """The scans parsed, their names checked against the registry, typed as conditions."""
    from engine.expr import known_names

    trees = [parse(s) if isinstance(s, str) else s for s in scans]
    known = known_names()
    for t in trees:
        check_names(t, known)
    return Program(trees, conditions=True)


def scan_panel(panel: Panel, scans: Sequence[str | Node] | Program,
               values: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``[N, S, T]`` bool: where each scan matches, at the symbols' bars (``values``:
    ``scan_values`` already computed for the program's names)."""
    prog = scans if isinstance(scans, Program) else compile_scans(scans)
    if values is None:
        values = scan_values(panel, prog.names)
    out = prog.run(values, prev_bar(panel.valid))
    return np.stack([np.broadcast_to(o, panel.shape) & panel.valid for o in out])
