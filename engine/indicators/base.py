"""The glue every bar-sequence indicator shares, so family files hold only maths.

``seq_indicator`` turns two small functions into a registry ``Indicator`` (a
value the family lists in its ``INDICATORS``; nothing is registered at import):

- ``batch(bars: Compact) -> {name: [S, T]}`` on each symbol's real bars packed
  to the front (``engine.kernels.compact``); values at warm-up positions may be
  any finite number, they are masked here.
- ``step(state, bar: Bar) -> (state, {name: [S]})`` for one real bar of every
  symbol; it never sees a missing bar (the wrapper keeps the old state and the
  last outputs where ``valid`` is False) and never handles warm-up NaNs (the
  wrapper counts real bars and masks).

Both forms thus share one definition of warm-up and missing-minute semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import mlx.core as mx

from engine import kernels as K
from engine.indicator_types import (
    Bar,
    BatchInputs,
    Indicator,
    InitFn,
    Outputs,
    SeqSpec,
    State,
    StateFn,
    StepFn,
    StepInputs,
)
from storage.types import Panel

NAN = float("nan")


BatchFn = Callable[[K.Compact], Outputs]


def bar_of(inp: StepInputs, n: mx.array) -> Bar:
    """This minute's bars (every symbol; ``n`` real bars so far, this one included)."""
    return Bar(inp.open, inp.high, inp.low, inp.close, inp.volume, n,
               inp.open_t, inp.high_t, inp.low_t, inp.close_t)


def astuple_shallow(c: K.Compact) -> tuple[mx.array, ...]:
    """The Compact's arrays in field order (``dataclasses.astuple`` would copy them)."""
    return tuple(getattr(c, f.name) for f in fields(c))


def compacted(inp: BatchInputs) -> K.Compact:
    """The panel's compacted bars, computed once per ``BatchInputs``."""
    c = inp.extra.get("_compact")
    if c is None:
        c = K.compact(inp.open, inp.high, inp.low, inp.close, inp.volume, inp.valid,
                      (inp.open_t, inp.high_t, inp.low_t, inp.close_t))
        inp.extra["_compact"] = c
    return c


def seq_indicator(
    key: str,
    family: str,
    outputs: tuple[str, ...],
    params: dict[str, Any],
    warmup: int,
    batch: BatchFn,
    init: InitFn,
    step: StepFn,
    *,
    description: str = "",
    warmups: dict[str, int] | None = None,
    warm_state: Callable[[Panel], State] | None = None,
    state: StateFn | None = None,
    compiled: bool = True,
) -> Indicator:
    """Declare an indicator computed on each symbol's sequence of real bars.

    ``warm_state(panel)`` (for running sums) gives the exact inner state after
    ``panel``, as ``init`` lays it out; see ``Indicator.warm_state``.
    ``state(bars, m)`` gives the inner state after each symbol's first ``m``
    compacted bars (``SeqSpec.state``).
    ``compiled``: the batch (with the expansion to the minute grid) runs as one
    ``mx.compile``d call, so its elementwise passes fuse (most of an
    uncompiled batch's time on CPU); False for a batch that leaves MLX (SAR's
    NumPy loop).
    """
    warm = {o: (warmups or {}).get(o, warmup) for o in outputs}

    def expanded(c: K.Compact) -> Outputs:
        raw = batch(c)
        return {o: K.expand_warm(raw[o], c.pos, warm[o]) for o in outputs}

    fused = mx.compile(lambda arrays: expanded(K.Compact(*arrays)))

    def batch_form(inp: BatchInputs) -> Outputs:
        c = compacted(inp)
        if not compiled:
            return expanded(c)
        return fused(astuple_shallow(c))  # type: ignore[no-any-return]

    def init_form(s: int) -> State:
        st = dict(init(s))
        st["_n"] = mx.zeros((s,), dtype=mx.int32)
        for o in outputs:
            st["_o:" + o] = mx.full((s,), NAN)
        return st

    def step_form(state: State, inp: StepInputs) -> tuple[State, Outputs]:
        v = inp.valid
        n = state["_n"] + v.astype(mx.int32)
        inner = {k: a for k, a in state.items() if not k.startswith("_")}
        bar = bar_of(inp, n)
        new, outs = step(inner, bar)
        st: State = {}
        for k, a in new.items():
            vv = v.reshape((-1,) + (1,) * (a.ndim - 1))
            st[k] = mx.where(vv, a, inner[k])
        st["_n"] = n
        res: Outputs = {}
        for o in outputs:
            val = mx.where(n > warm[o], outs[o].astype(mx.float32), NAN)
            val = mx.where(v, val, state["_o:" + o])
            st["_o:" + o] = val
            res[o] = val
        return st, res

    return Indicator(
        key=key, family=family, outputs=outputs, params=params, warmup=warmup,
        batch=batch_form, init=init_form, step=step_form, description=description,
        warmups=dict(warmups or {}),
        seq=SeqSpec(init, step, warm, state), warm_state=warm_state,
    )


# ---------------------------------------------------------------------------
# step-side helpers (pure functions of [S] / [S, n] arrays)


def push(buf: mx.array, x: mx.array) -> mx.array:
    """Append ``x`` to a ``[S, n]`` window, dropping the oldest value."""
    return mx.concatenate([buf[:, 1:], x[:, None]], axis=1)


def zeros(s: int, n: int | None = None) -> mx.array:
    return mx.zeros((s,) if n is None else (s, n), dtype=mx.float32)


def izeros(s: int, n: int | None = None) -> mx.array:
    """Integer state: prices kept as ticks (``Bar.*_t``) for exact differences."""
    return mx.zeros((s,) if n is None else (s, n), dtype=mx.int32)


def ema_step(st: State, p: str, x: mx.array, n: mx.array, period: int, *, lead: int = 0,
             seed_at: int | None = None, k: float | None = None) -> mx.array:
    """Advance an SMA-seeded EMA kept under key ``p+'y'`` (see ``K.ema``).

    ``n`` counts real bars (1 on the first), so the bar index is ``n - 1``. Before
    the seed, ``y`` accumulates the seed window's sum (no window buffer to copy
    every minute); at ``seed_at`` it becomes the window's mean.
    """
    k = 2.0 / (period + 1) if k is None else k
    seed_at = lead + period - 1 if seed_at is None else seed_at
    start = seed_at - period + 1
    y0 = st[p + "y"]
    idx = n - 1
    acc = mx.where(idx >= start, y0 + x, 0.0)
    y = mx.where(idx < seed_at, acc,
                 mx.where(idx == seed_at, acc * (1.0 / period), y0 + k * (x - y0)))
    st[p + "y"] = y
    return y


def lag_step(st: State, p: str, x: mx.array, d: mx.array, n: mx.array, period: int,
             seed_at: int) -> mx.array:
    """Advance ``x - EMA(x)`` (``K.ema_lag``) under ``p+'g'``; ``p+'a'`` sums the seed window.

    ``d`` is this bar's move of ``x``; ``n`` counts real bars (1 on the first).
    """
    k = 2.0 / (period + 1)
    idx = n - 1
    acc = mx.where(idx >= seed_at - period + 1, st[p + "a"] + x, 0.0)
    g = mx.where(idx < seed_at, 0.0,
                 mx.where(idx == seed_at, x - acc / period, (1.0 - k) * (st[p + "g"] + d)))
    st[p + "a"], st[p + "g"] = acc, g
    return g


def ema_state(st: State, p: str, s: int, period: int) -> State:
    st[p + "y"] = zeros(s)
    return st


def safe_div(num: mx.array, den: mx.array, default: float = 0.0) -> mx.array:
    """``num / den`` where ``den != 0``, else ``default`` (TA-Lib's zero guards)."""
    ok = den != 0
    return mx.where(ok, num / mx.where(ok, den, 1.0), default)
