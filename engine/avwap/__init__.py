"""Anchored VWAP: levels, σ bands and z for calendar, custom and auto anchors.

Why this package exists: the AVWAP numerics are the console's main product and
share one set of stable moments, so they live together:

- ``core``: the moments (shifted, compensated sums and Welford's ``m2``),
  bands, z, the block layout of the time axis;
- ``state``: the compensated per-anchor step state;
- ``calendar``: session/day/week/month/quarter/year anchors (batch and step);
- ``custom``: user-chosen anchor minutes;
- ``auto``: highest high / lowest low / highest volume of the prior N sessions.

The calendar API is re-exported here, so ``from engine.avwap import
calendar_batch`` keeps working; the others are imported from their modules
(``from engine.avwap import auto``).
"""

from __future__ import annotations

from engine.avwap.calendar import (
    BAND_MODES,
    MULTS,
    SOURCES,
    band_suffixes,
    calendar_batch,
    calendar_init,
    calendar_state_from_panel,
    calendar_step,
    distinct_partitions,
    finish,
    output_names,
    price,
    segmented_batch,
)

__all__ = [
    "BAND_MODES", "MULTS", "SOURCES", "band_suffixes", "calendar_batch", "calendar_init",
    "calendar_state_from_panel", "calendar_step", "distinct_partitions", "finish",
    "output_names", "price", "segmented_batch",
]  # fmt: skip
