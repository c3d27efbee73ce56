"""AVWAP family registration: the names the rest of the app uses for AVWAP outputs.

One entry computes all six calendar anchors at once (they share the in-block
scans in batch and one compiled step), so its outputs are, for each anchor
``session, day, week, month, quarter, year``: ``avwap_<anchor>`` (level),
``avwap_<anchor>_up1 … _up3`` / ``_dn1 … _dn3`` (±1/2/3 volume-weighted σ, as
TradingView draws them) and ``avwap_<anchor>_z`` (the close's distance from the
level in σ).

A second entry, ``avwap_auto``, anchors at the highest high, the lowest low and
the highest-volume bar of the prior five trading days (re-chosen at each day's
first minute; see ``engine.avwap.auto`` for the exact rules): ``avwap_hh``,
``avwap_ll``, ``avwap_hv`` with the same band and z suffixes. Custom anchors are
per user, so they are an API (``engine.avwap.custom.anchored_batch``/``anchored_step``),
not registry entries.
"""

from __future__ import annotations

from engine import avwap as kernels
from engine.avwap import auto
from engine.indicator_types import BatchInputs, Indicator, Outputs, State, StepInputs
from engine.inputs import batch_inputs, last_days
from engine.meta import History, OutputMeta, band, level, zscore
from storage.types import SEGMENT_KINDS, Panel

CALENDAR_OUTPUTS: tuple[str, ...] = kernels.output_names(SEGMENT_KINDS)
AUTO_OUTPUTS: tuple[str, ...] = auto.output_names()


def _batch(inp: BatchInputs) -> Outputs:
    return kernels.calendar_batch(inp)


def _init(s: int) -> State:
    return kernels.calendar_init(s)


def _step(state: State, inp: StepInputs) -> tuple[State, Outputs]:
    return kernels.calendar_step(state, inp)


def _warm_state(panel: Panel) -> State:
    return kernels.calendar_state_from_panel(panel)


CALENDAR = (
    Indicator(
        key="avwap_calendar",
        family="avwap",
        outputs=CALENDAR_OUTPUTS,
        params={"anchors": SEGMENT_KINDS, "source": "hlc3", "bands": "stdev", "mults": (1, 2, 3)},
        warmup=0,
        batch=_batch,
        init=_init,
        step=_step,
        warm_state=_warm_state,
        description=(
            "Anchored VWAP at the session (09:30 open), trading day, week, month, quarter "
            "and year, with ±1/2/3σ volume-weighted bands and the close's z-score"
        ),
    )
)


def _auto_batch(inp: BatchInputs) -> Outputs:
    return auto.auto_batch(inp)


def _auto_init(s: int) -> State:
    return auto.auto_init(s)


def _auto_step(state: State, inp: StepInputs) -> tuple[State, Outputs]:
    return auto.auto_step(state, inp)


def _auto_warm(panel: Panel) -> State:
    """The step's state after ``panel``: its last ``DEFAULT_DAYS + 1`` days decide it."""
    return auto.auto_state(batch_inputs(last_days(panel, auto.DEFAULT_DAYS + 1)))


AUTO = (
    Indicator(
        key="avwap_auto",
        family="avwap",
        outputs=AUTO_OUTPUTS,
        params={
            "anchors": auto.KINDS,
            "days": auto.DEFAULT_DAYS,
            "source": "hlc3",
            "bands": "stdev",
            "mults": (1, 2, 3),
        },
        warmup=0,
        batch=_auto_batch,
        init=_auto_init,
        step=_auto_step,
        warm_state=_auto_warm,
        description=(
            "Anchored VWAP from the highest high, the lowest low and the highest-volume bar "
            "of the prior 5 trading days (re-anchored each day), with ±1/2/3σ bands and z"
        ),
    )
)

INDICATORS: tuple[Indicator, ...] = (CALENDAR, AUTO)

#: Seeds' prior usefulness for the selection model (an initial bias, not a label).
PRIORS: dict[str, float] = {"avwap_session": 0.9, "avwap_day": 0.8}


def _meta(names: tuple[str, ...], history: History) -> tuple[OutputMeta, ...]:
    """Levels read long above, bands fade their side, z fades beyond 2σ."""
    out: list[OutputMeta] = []
    for n in names:
        suffix = n.rsplit("_", 1)[-1]
        if suffix[:2] in ("up", "dn") and suffix[2:].isdigit():
            out.append(band(n, history, "upper" if suffix.startswith("up") else "lower"))
        elif suffix == "z":
            out.append(zscore(n, history))
        else:
            out.append(level(n, history, prior=PRIORS.get(n)))
    return tuple(out)


# Calendar anchors depend on every bar since the anchor (a year): unbounded, and
# exact from ``warm_state``. Auto anchors are chosen from the prior 5 sessions, so
# 5 sessions before the current one must be stepped.
META: tuple[OutputMeta, ...] = (
    *_meta(CALENDAR_OUTPUTS, History.cumulative()),
    *_meta(AUTO_OUTPUTS, History.days(auto.DEFAULT_DAYS + 1)),
)
