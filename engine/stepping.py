"""Drive a step function over a panel, minute by minute: for tests and benchmarks.

Why this module exists: the property tests and benchmarks prove that a step
form equals its batch form by replaying a panel as a live feed would deliver
it. The app itself steps through ``engine.incremental.IncrementalEngine``; this
is the small stand-in for one indicator family at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import mlx.core as mx

from engine.indicator_types import BatchInputs, Outputs, State, StepInputs

Step = Callable[[State, StepInputs], tuple[State, Outputs]]


def step_at(inp: BatchInputs, t: int) -> StepInputs:
    """Minute ``t`` of a panel as StepInputs (what a live feed would deliver)."""
    return StepInputs(
        open=inp.open[:, t],
        high=inp.high[:, t],
        low=inp.low[:, t],
        close=inp.close[:, t],
        volume=inp.volume[:, t],
        valid=inp.valid[:, t],
        segments={k: v[t : t + 1] for k, v in inp.segments.items()},
        minute_of_session=inp.minute_of_session[t : t + 1],
        session_minutes=inp.session_minutes[t : t + 1],
        ts_minutes=inp.ts_minutes[t : t + 1],
        open_t=inp.open_t[:, t],
        high_t=inp.high_t[:, t],
        low_t=inp.low_t[:, t],
        close_t=inp.close_t[:, t],
    )


def compile_step(step: Step) -> Step:
    """``step`` as one compiled call (StepInputs flattened to a dict for mx.compile)."""
    fields = [f.name for f in dataclasses.fields(StepInputs)]
    fn = mx.compile(lambda st, d: step(st, StepInputs(**d)))

    def run(st: State, inp: StepInputs) -> tuple[State, Outputs]:
        return fn(st, {f: getattr(inp, f) for f in fields})

    return run


def replay(step: Step, state: State, inp: BatchInputs) -> dict[str, mx.array]:
    """Step through every minute of a panel; outputs stacked to ``[S, T]``."""
    run = compile_step(step)
    rows: dict[str, list[mx.array]] = {}
    for t in range(inp.close.shape[1]):
        state, out = run(state, step_at(inp, t))
        mx.eval(state, out)
        for k, a in out.items():
            rows.setdefault(k, []).append(a)
    return {k: mx.stack(v, axis=1) for k, v in rows.items()}
