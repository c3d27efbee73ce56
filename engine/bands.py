"""When an anchored VWAP's level and bands mean something: the band-validity rule.

On an anchor's first bar σ = 0, so the ±kσ bands equal the typical price, and a
"cross" on that bar is measured against the previous segment's band. A few bars
later σ is still a sample of two or three points. The rule, shared by the
backtester's signals and the console's band alerts:

    an anchor's level and bands are valid at a bar when at least ``MIN_BARS``
    bars with volume have traded since the anchor (the bar itself included) and
    the bands have a width (σ > 0).

Why ``MIN_BARS = 5``: by Samuelson's inequality, a point of a sample of n equal
weights lies at most σ·√(n − 1) from the mean, so before the fifth bar no bar of
the anchor can even reach a 2σ band (the default band of the strategies and
alerts); until then a close beyond it measures the bar's own spread, not a
stretch from the anchor's value. Zero-volume bars add nothing to a VWAP, so
they do not count. The count restarts with every segment of the anchor (a
session, a week, …) and only bars of that segment count.

Values that fail the rule are read as NaN (``mask``), and a cross needs a valid
value on both bars it compares, so the first cross of a segment can come at
its ``MIN_BARS + 1``-th bar at the earliest.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Bars with volume since the anchor before its level and bands are valid (see above).
MIN_BARS = 5

_SUFFIXES = ("up1", "up2", "up3", "dn1", "dn2", "dn3", "z")


def bars_since_anchor(valid: np.ndarray, volume: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``[S, T]`` int: bars with volume since the start of each minute's segment, inclusive.

    ``segment[T]`` holds the anchor's segment ids (``Panel.segments[kind]``); a
    minute outside any segment (id -1) counts 0.
    """
    s, t = valid.shape
    traded = (valid & (volume > 0)).astype(np.int32)
    run = np.cumsum(traded, axis=1, dtype=np.int32)
    starts = np.ones(t, dtype=bool)
    starts[1:] = segment[1:] != segment[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(t), 0))
    before = np.zeros((s, t), dtype=np.int32)
    has = first > 0
    before[:, has] = run[:, first[has] - 1]
    out = run - before
    out[:, segment < 0] = 0
    return out


def valid(count: np.ndarray, width: np.ndarray | None = None,
          min_bars: int = MIN_BARS) -> np.ndarray:
    """The rule: ``count >= min_bars`` and (when given) a band ``width > 0``."""
    ok = np.asarray(count) >= min_bars
    if width is not None:
        with np.errstate(invalid="ignore"):
            ok = ok & (np.asarray(width) > 0)
    return ok


def anchor_of(name: str) -> str | None:
    """The calendar anchor of a registry output (``avwap_week_dn2`` -> ``week``), else None."""
    from storage.types import SEGMENT_KINDS

    if not name.startswith("avwap_"):
        return None
    rest = name[len("avwap_"):]
    head, _, tail = rest.rpartition("_")
    if head in SEGMENT_KINDS and tail in _SUFFIXES:
        return head
    return rest if rest in SEGMENT_KINDS else None


def mask(values: Mapping[str, np.ndarray], valid_bars: np.ndarray, volume: np.ndarray,
         segments: Mapping[str, np.ndarray],
         min_bars: int = MIN_BARS) -> dict[str, np.ndarray]:
    """``values`` with every calendar anchor's level, bands and z NaN where the rule fails.

    The width tested is ``avwap_<a>_up1 − avwap_<a>`` when ``values`` has it,
    else the widest band pair present (``up_k − dn_k``); a level alone is
    judged by the bar count only.
    """
    out = dict(values)
    kinds = {a for a in (anchor_of(n) for n in values) if a is not None}
    for a in sorted(kinds):
        count = bars_since_anchor(valid_bars, volume, segments[a])
        width = _width(values, a)
        ok = valid(count, width, min_bars)
        for n, v in values.items():
            if anchor_of(n) == a:
                out[n] = np.where(ok, v, np.nan).astype(v.dtype, copy=False)
    return out


def _width(values: Mapping[str, np.ndarray], a: str) -> np.ndarray | None:
    lvl = values.get(f"avwap_{a}")
    if lvl is not None and f"avwap_{a}_up1" in values:
        return values[f"avwap_{a}_up1"] - lvl
    for k in (3, 2, 1):
        up, dn = values.get(f"avwap_{a}_up{k}"), values.get(f"avwap_{a}_dn{k}")
        if up is not None and dn is not None:
            return up - dn
        one = up if up is not None else dn
        if one is not None and lvl is not None:
            return np.abs(one - lvl)
    return None


class AnchorBars:
    """The incremental twin of ``bars_since_anchor`` for every calendar anchor, one minute
    at a time (the console's alerts): ``step(segments, traded)`` -> ``{kind: counts[S]}``.

    A segment first seen after it began (the console started, or a replay
    jumped, mid-segment) starts from ``minute_of_session`` bars before this
    minute: every grid minute of the day so far, the most a session or day
    anchor can have, and what the console's warm-up history holds for a longer
    one. A segment seen to begin counts from zero.
    """

    def __init__(self) -> None:
        self._seg: dict[str, int] = {}
        self._base: dict[str, np.ndarray] = {}
        self._now: np.ndarray | None = None
        self._ts: np.datetime64 | None = None

    def step(self, ts: np.datetime64, segments: Mapping[str, int], traded: np.ndarray,
             minute_of_session: int = 0) -> dict[str, np.ndarray]:
        """Counts at minute ``ts``; the same ``ts`` again replaces that minute (a revision)."""
        now = np.asarray(traded, dtype=bool).astype(np.int64)
        if self._ts is None or ts < self._ts or self._now is None \
                or self._now.shape != now.shape:
            self._base, self._seg = {}, {}
        elif ts > self._ts:  # the previous minute is final: it joins the counts
            self._base = {k: b + self._now for k, b in self._base.items()}
        self._ts, self._now = ts, now
        out: dict[str, np.ndarray] = {}
        for kind, sid in segments.items():
            if self._seg.get(kind) != sid or kind not in self._base:
                seen_begin = kind in self._seg
                self._seg[kind] = sid
                self._base[kind] = np.full(now.shape, 0 if seen_begin
                                           else max(int(minute_of_session), 0), dtype=np.int64)
            out[kind] = (self._base[kind] + now) if sid >= 0 else np.zeros_like(now)
        return out
