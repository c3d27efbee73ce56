"""A batch is computed at one of a few padded lengths, with the same values bit for bit.

Why: every ``mx.compile``d batch kernel keeps one compiled graph per input shape
for the life of the process. A console computes batches over "the bars until
now", one minute longer each time (a model being primed, the candles), so
before the padding each minute left a new graph per kernel behind (RSS grew by
~6 MB per priming chunk). ``engine.compute`` now pads the time axis with empty
minutes; these tests hold that (1) a growing panel meets only a couple of
lengths, and (2) padding changes no value of any registry output, on random
panels and on the bars that break float formulas.
"""

from __future__ import annotations

import datetime as dt

import mlx.core as mx
import numpy as np
import pytest
from _panels import adversarial_panel, make_panel

import engine.compute as ec
from engine.compute import compute_outputs, padded_length
from engine.indicator_types import BatchInputs
from engine.inputs import batch_inputs
from engine.registry import output_names
from storage.types import Panel


def test_padded_length_bounds() -> None:
    for t in range(0, 20_000, 7):
        p = padded_length(t)
        assert t <= p <= t + t // ec.PAD_PARTS
    assert padded_length(1) == 1


def test_a_growing_panel_meets_few_lengths(monkeypatch: pytest.MonkeyPatch) -> None:
    """60 panels, each a minute longer (a model primed between live minutes), reach
    the compiled kernels as at most two lengths (without the padding: 60)."""
    panel = make_panel(s=2, start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 12), seed=5)
    seen: set[int] = set()
    real = ec.needed

    class Spy:
        def __init__(self, ind: object) -> None:
            self.ind, self.outputs = ind, ind.outputs  # type: ignore[attr-defined]

        def batch(self, inp: BatchInputs) -> dict[str, mx.array]:
            seen.add(inp.valid.shape[1])
            return self.ind.batch(inp)  # type: ignore[attr-defined,no-any-return]

    monkeypatch.setattr(ec, "needed", lambda names: [Spy(i) for i in real(names)])
    start = len(panel.ts) - 80
    for t in range(start, start + 60):
        out = compute_outputs(batch_inputs(panel.slice_time(0, t)), ["rsi_14"])
        assert out["rsi_14"].shape == (2, t)
    assert len(seen) <= 2, sorted(seen)


def _same(a: mx.array, b: mx.array) -> bool:
    x, y = np.array(a), np.array(b)
    return bool(((x == y) | (np.isnan(x) & np.isnan(y))).all())


@pytest.mark.parametrize("panel", [
    make_panel(s=4, start=dt.date(2024, 2, 26), end=dt.date(2024, 3, 12), seed=21,
               levels=(1.0, 40.0, 400.0, 4000.0)),
    adversarial_panel(),
], ids=["random", "adversarial"])
def test_padding_changes_no_value(panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every registry output of a padded batch equals the unpadded one bit for bit,
    at lengths cut mid-session (the padding then continues a session)."""
    names = output_names()
    for t in (len(panel.ts) - 111, len(panel.ts) - 390 - 7):
        assert padded_length(t) > t
        inp = batch_inputs(panel.slice_time(0, t))
        padded = compute_outputs(inp, names)
        with monkeypatch.context() as m:
            m.setattr(ec, "padded_length", lambda n: n)
            exact = compute_outputs(batch_inputs(panel.slice_time(0, t)), names)
        bad = [n for n in names if not _same(padded[n], exact[n])]
        assert not bad, f"padding changed {bad} at T={t}"
