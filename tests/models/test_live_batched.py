"""The live selector's batched path: patch sums kept minute by minute, inference on
``fast_exp``, and priming some symbols at a time, each equal to the plain path.

- ``select`` for every symbol reads the ring's patch sums, never whole windows:
  its weights equal the model run on ``window()`` (``select_indicators``);
- the encoder writes the attention's softmax on ``fast_exp``: it equals MLX's
  fused ``TransformerEncoder`` to float32 tolerance;
- ``prime_rows`` for the focused symbol first and the rest minutes later gives
  the windows and picks of a selector that stepped every minute.
"""

from __future__ import annotations

import numpy as np
import pytest
from _mdata import save_untrained

LB, S = 20, 7


@pytest.fixture(scope="module")
def selector(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from models.selector import Selector

    return Selector.load(save_untrained(tmp_path_factory.mktemp("live"), "tiny", LB))


def minutes(n: int, seed: int = 1):  # type: ignore[no-untyped-def]
    """``n`` Snapshots of random registry values for ``S`` symbols ($1 to $4,000), with
    holes (NaN) and a $1 symbol whose ATR is floored."""
    from engine.registry import REGISTRY
    from engine.snapshot import Snapshot

    names = tuple(REGISTRY.output_names())
    rng = np.random.default_rng(seed)
    level = np.array([1.0, 20, 100, 250, 900, 2500, 4000])[:S]
    symbols = tuple(f"S{i}" for i in range(S))
    out = []
    for t in range(n):
        close = (level * (1 + 0.01 * rng.normal(size=S))).astype(np.float32)
        vals = (close[:, None] * (1 + 0.02 * rng.normal(size=(S, len(names))))).astype(
            np.float32)
        vals[rng.random(vals.shape) < 0.02] = np.nan
        regime = rng.integers(-1, 4, S).astype(np.int8)
        vals[:, names.index("regime")] = np.where(regime < 0, np.nan, regime)  # as the engine
        out.append(Snapshot(ts=np.datetime64("2025-11-21T14:30", "m") + t, symbols=symbols,
                            names=names, values=vals, last=close,
                            volume=np.ones(S, np.float32), valid=np.ones(S, bool),
                            regime=regime))
    return out


def test_fast_exp_is_exp_to_float32() -> None:
    import mlx.core as mx

    from models.model import fast_exp

    x = np.linspace(-87, 88, 200_001).astype(np.float32)
    got = np.array(fast_exp(mx.array(x)), dtype=np.float64)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - want) / want) < 2.5e-7
    g = mx.grad(lambda v: fast_exp(v).sum())(mx.array(x[::1000]))
    np.testing.assert_allclose(np.array(g), np.exp(x[::1000]), rtol=2.5e-7)


def test_encode_equals_mlx_transformer_encoder(selector) -> None:  # type: ignore[no-untyped-def]
    """``SelectorModel.encode`` (softmax on ``fast_exp``) is MLX's fused encoder to
    float32 tolerance, with the same parameters."""
    import mlx.core as mx

    model = selector.model
    rng = np.random.default_rng(2)
    h = mx.array(rng.normal(size=(64, 5, model.args.dims)).astype(np.float32))
    np.testing.assert_allclose(np.array(model.encode(h)), np.array(model.encoder(h, None)),
                               rtol=1e-5, atol=1e-5)


def test_select_all_equals_the_window_path(selector) -> None:  # type: ignore[no-untyped-def]
    """Minutes with revisions, holes and a ring that wraps: patch sums stay exact."""
    from models.live import LiveSelector

    snaps = minutes(3 * LB + 7)
    live = LiveSelector(selector, snaps[0].symbols, snaps[0].names)
    for i, snap in enumerate(snaps):
        live.update(snap)
        if i % 9 == 4:  # a still-forming minute revised
            live.update(_revised(snap, i))
        if i in (3, LB - 1, LB + 2, 3 * LB + 6):
            picks = live.select()
            w, _ = selector.select_indicators(live.window(), live._regime)
            for row, sym in enumerate(live.symbols):
                order = np.argsort(-w[row], kind="stable")[: selector.top_k]
                np.testing.assert_allclose(picks[sym].weights, w[row, order], rtol=1e-5,
                                           atol=1e-6)
                assert picks[sym].ready is (i + 1 >= live.needed)


def _revised(snap, i: int):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    fresh = minutes(1, seed=100 + i)[0]
    return replace(snap, values=fresh.values, last=fresh.last)


def test_priming_the_focus_first_then_the_rest(selector) -> None:  # type: ignore[no-untyped-def]
    """``prime_rows`` (batch values) for one symbol, minutes stepped, then the others:
    the same windows and picks as a selector that stepped every minute."""
    from models.features import ffill
    from models.live import LiveSelector

    snaps = minutes(3 * LB + 5)
    stepped = LiveSelector(selector, snaps[0].symbols, snaps[0].names)
    for snap in snaps:
        stepped.update(snap)
    vals = np.stack([s.values for s in snaps], axis=1)  # [S, T, F] (features = all names)
    close = ffill(np.stack([s.last for s in snaps], axis=1).astype(np.float64))
    primed = LiveSelector(selector, snaps[0].symbols, snaps[0].names)
    need, focus = primed.needed, ["S3"]
    first = 2 * LB  # the console activates the model at this minute
    primed.prime_rows(focus, vals[3:4, first - need: first], close[3:4, first - need: first],
                      snaps[first - 1].ts)
    assert primed.select(focus)["S3"].ready and not primed.select(["S0"])["S0"].ready
    for snap in snaps[first:]:
        primed.update(snap)
    rest = [s for s in primed.symbols if s not in focus]
    rows = [primed.symbols.index(s) for s in rest]
    t = len(snaps)
    primed.prime_rows(rest, vals[rows, t - need:], close[rows, t - need:], snaps[-1].ts)
    np.testing.assert_allclose(primed.window(), stepped.window(), rtol=1e-5, atol=1e-5,
                               equal_nan=True)
    a, b = primed.select(), stepped.select()
    for sym in primed.symbols:
        assert a[sym].ready and a[sym].names == b[sym].names
        assert a[sym].directions == b[sym].directions
        np.testing.assert_allclose(a[sym].weights, b[sym].weights, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="end at"):
        primed.prime_rows(focus, vals[3:4, :need], close[3:4, :need], snaps[need - 1].ts)

