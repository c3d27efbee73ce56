"""AVWAP family registration: the names the rest of the app uses for AVWAP outputs.

One entry computes all six calendar anchors at once (they share the in-block
scans in batch and one compiled step), so its outputs are, for each anchor
``session, day, week, month, quarter, year``: ``avwap_<anchor>`` (level),
``avwap_<anchor>_up1 … _up3`` / ``_dn1 … _dn3`` (±1/2/3 volume-weighted σ, as
TradingView draws them) and ``avwap_<anchor>_z`` (the close's distance from the
level in σ). Custom anchors are per user, so they are an API
(``engine.avwap.anchored_batch``/``anchored_step``), not registry entries.
"""

from __future__ import annotations

from engine import avwap as kernels
from engine.registry import BatchInputs, Indicator, Outputs, State, StepInputs, register
from storage.types import SEGMENT_KINDS

CALENDAR_OUTPUTS: tuple[str, ...] = kernels.output_names(SEGMENT_KINDS)


def _batch(inp: BatchInputs) -> Outputs:
    return kernels.calendar_batch(inp)


def _init(s: int) -> State:
    return kernels.calendar_init(s)


def _step(state: State, inp: StepInputs) -> tuple[State, Outputs]:
    return kernels.calendar_step(state, inp)


register(
    Indicator(
        key="avwap_calendar",
        family="avwap",
        outputs=CALENDAR_OUTPUTS,
        params={"anchors": SEGMENT_KINDS, "source": "hlc3", "bands": "stdev", "mults": (1, 2, 3)},
        warmup=0,
        batch=_batch,
        init=_init,
        step=_step,
        description=(
            "Anchored VWAP at the session (09:30 open), trading day, week, month, quarter "
            "and year, with ±1/2/3σ volume-weighted bands and the close's z-score"
        ),
    )
)
