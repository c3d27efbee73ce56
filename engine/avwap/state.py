"""The incremental AVWAP state shared by calendar and custom anchors.

Per ``[anchor, symbol]``: the segment's reference price ``ref`` (and ``reft``,
its numerator in ticks, from which every offset is taken exactly), the
compensated moments ``s0 = Σv``, ``s1 = Σv·(p − ref)`` and ``m2`` (see
``engine.avwap.core``), their Kahan compensations ``c0, c1, c2``, and per
symbol the last real close (for z). One update is elementwise, so every
anchor of every symbol advances in the one compiled call of the engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx

from engine.avwap.core import NAN, finish, kahan, ticks_price, welford_increment
from engine.indicator_types import State, StepInputs


def shifted_init(k: int, s: int) -> State:
    """Empty moments for ``[k, s]`` anchors × symbols."""
    z = mx.zeros((k, s), dtype=mx.float32)
    return {
        "ref": mx.full((k, s), NAN, dtype=mx.float32),
        "reft": mx.zeros((k, s), dtype=mx.int32),
        **{n: z for n in ("s0", "s1", "m2", "c0", "c1", "c2")},
        "last": mx.full((s,), NAN, dtype=mx.float32),
    }


def shifted_update(
    st: State, reset: mx.array, bar: mx.array, pt: mx.array, den: int, vol: mx.array,
    inp: StepInputs,
) -> State:
    """Reset where ``reset`` ([k,1] or [k,s]); add the bar where ``bar`` ([k,s]).

    ``pt``/``den``: the bar's price as a tick numerator (``core.price_ticks``).
    """
    ref = mx.where(reset, NAN, st["ref"])
    first = bar & mx.isnan(ref)
    reft = mx.where(first, pt, st["reft"])
    ref = mx.where(first, ticks_price(pt, den), ref)
    d = mx.where(bar, ticks_price(pt - reft, den), 0.0)
    v = mx.where(bar, vol, 0.0)
    s0, c0, s1, c1, m2, c2 = (
        mx.where(reset, 0.0, st[n]) for n in ("s0", "c0", "s1", "c1", "m2", "c2")
    )
    n0, nc0 = kahan(s0, c0, v)
    n1, nc1 = kahan(s1, c1, v * d)
    n2, nc2 = kahan(m2, c2, welford_increment(v, d, s0, s1, n0))
    return {
        "ref": ref, "reft": reft, "s0": n0, "c0": nc0, "s1": n1, "c1": nc1, "m2": n2, "c2": nc2,
        "last": mx.where(inp.valid, inp.close, st["last"]),
    }  # fmt: skip


def shifted_outputs(
    st: State, mode: str, mults: Sequence[float], with_sd: bool = False
) -> dict[str, mx.array]:
    last = st["last"][None]
    return finish(st["ref"], st["s0"], st["s1"], st["m2"], last, mode, mults, with_sd)
