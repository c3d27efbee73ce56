"""Intraday family: levels anchored to the regular session, from the calendar's facts.

Unlike the bar-sequence families these reset with the calendar (the ``day``
segment id and ``minute_of_session`` the Panel carries), so they work on the
minute grid directly. Only regular-session bars (09:30 to the close) count.

- ``or_high_N``/``or_low_N``: range of the first N minutes; NaN until minute
  N-1 of the session has passed, and on a day without bars in that window.
- ``prior_high``/``prior_low``/``prior_close``: the last earlier day with
  regular bars. ``gap_pct``: today's first regular open vs ``prior_close``.
- ``session_high``/``session_low``: so far today; NaN before today's first bar.
- ``rvol``: relative volume, the one the console shows: today's cumulative
  regular-session volume up to this minute over the mean cumulative volume up
  to the same minute of the session in the prior (up to) 10 days (1.0 = a
  normal day so far); NaN outside the regular session and without prior days.
- ``change_pct``: the latest close (any hours) against ``prior_close``, in %:
  the console's change column.
- ``day_volume``: today's regular-session volume so far (0 before the open).
- ``minutes_since_open``: the calendar's minute of session (negative pre-market).

At a missing minute each output keeps its last value for the day, as the
contract in ``engine.registry`` requires.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from engine.indicator_types import BatchInputs, Indicator, State, StepInputs
from engine.inputs import day_starts
from engine.kernels import DayLayout, day_layout, seg_last_index, seg_scan
from engine.meta import Direction, History, Kind, OutputMeta, Scale, level, plain_level, ratio
from storage.types import BarBatch, Panel

NAN = float("nan")
INF = float("inf")
OR_MINUTES = (5, 15, 30)
RVOL_DAYS = 10
SLOTS = 390  # regular-session minutes in a full day
NAMES: tuple[str, ...] = (
    *(f"or_{k}_{m}" for m in OR_MINUTES for k in ("high", "low")),
    "prior_high", "prior_low", "prior_close", "gap_pct",
    "session_high", "session_low", "rvol", "minutes_since_open", "change_pct", "day_volume",
)


def _fin(x: mx.array) -> mx.array:
    return mx.where(mx.abs(x) == INF, NAN, x)


def _batch(inp: BatchInputs) -> dict[str, mx.array]:
    s, t = inp.close.shape
    mos, day = inp.minute_of_session[None, :], inp.segments["day"][None, :]
    reg = (mos >= 0) & (mos < inp.session_minutes[None, :]) & inp.valid
    out: dict[str, mx.array] = {}
    for m in OR_MINUTES:
        w = reg & (mos < m)
        hi = seg_scan(mx.where(w, inp.high, -INF), day, mx.maximum)
        lo = seg_scan(mx.where(w, inp.low, INF), day, mx.minimum)
        ready = mos >= m - 1
        out[f"or_high_{m}"] = mx.where(ready, _fin(hi), NAN)
        out[f"or_low_{m}"] = mx.where(ready, _fin(lo), NAN)
    sh = seg_scan(mx.where(reg, inp.high, -INF), day, mx.maximum)
    sl = seg_scan(mx.where(reg, inp.low, INF), day, mx.minimum)
    out["session_high"], out["session_low"] = _fin(sh), _fin(sl)
    # last regular bar of each day so far, then the value at the previous day's end
    ar = mx.broadcast_to(mx.arange(t, dtype=mx.int32)[None, :], (s, t))
    last_i = seg_last_index(mx.where(reg, ar, -1), day)  # -1: none yet today
    lay = day_layout(np.array(inp.segments["day"]))
    prev_end = mx.array(lay.prev_day_end)[None, :]  # index of previous day's last minute
    def at(x: mx.array, idx: mx.array) -> mx.array:
        return mx.where(idx >= 0, mx.take_along_axis(x, mx.maximum(idx, 0), axis=1), NAN)
    day_end_has = mx.take_along_axis(last_i, mx.broadcast_to(mx.maximum(prev_end, 0), (s, t)),
                                     axis=1)
    # carry across days without bars: the last day-end index that had bars
    ok_end = mx.where((prev_end >= 0) & (day_end_has >= 0), day_end_has, -1)
    src = seg_last_index(ok_end, mx.zeros_like(day))
    out["prior_high"] = at(mx.broadcast_to(sh, (s, t)), src)
    out["prior_low"] = at(mx.broadcast_to(sl, (s, t)), src)
    out["prior_close"] = at(at(inp.close, last_i), src)
    first_i = seg_scan(mx.where(reg, ar, t + 1), day, mx.minimum)
    first_open = at(inp.open, mx.where(first_i <= t, first_i, -1))
    pc = out["prior_close"]
    out["gap_pct"] = 100.0 * (first_open - pc) / pc
    out["rvol"], today = _rvol_batch(inp, reg, lay, last_i)
    out["day_volume"] = mx.where(mos < 0, 0.0, today)
    out["minutes_since_open"] = mx.broadcast_to(mos.astype(mx.float32), (s, t))
    any_i = seg_last_index(mx.where(inp.valid, ar, -1), mx.zeros_like(day))
    out["change_pct"] = 100.0 * (at(inp.close, any_i) - pc) / pc
    return out


def _rvol_batch(inp: BatchInputs, reg: mx.array, lay: DayLayout,
                last_i: mx.array) -> tuple[mx.array, mx.array]:
    """(rvol, today's regular volume so far; pre-market reads slot 0: the caller masks it)."""
    s = inp.close.shape[0]
    mos = np.array(inp.minute_of_session)
    slot = np.clip(mos, 0, SLOTS - 1)
    d = lay.day_index
    nd = int(d.max()) + 1 if len(d) else 0
    flat = mx.array((d * SLOTS + slot).astype(np.int32))
    inreg = mx.array((mos >= 0) & (mos < SLOTS))[None, :]
    vol = mx.where(reg & inreg, inp.volume, 0.0)
    units, rest = split_volume(vol)

    def by_minute(x: mx.array) -> mx.array:  # [S, days, SLOTS] cumulative within each day
        return mx.cumsum(mx.zeros((s, nd * SLOTS)).at[:, flat].add(x).reshape(s, nd, SLOTS),
                         axis=2)

    u, r = by_minute(units), by_minute(rest)
    grid = u * VOLUME_UNIT + r
    today = mx.take(grid.reshape(s, nd * SLOTS), flat, axis=1)  # today's volume so far
    csum = mx.cumsum(grid, axis=1)
    zero = mx.zeros((s, 1, SLOTS))
    csum = mx.concatenate([zero, csum], axis=1)  # csum[:, k] = sum of days < k
    lo = np.maximum(np.arange(nd) - RVOL_DAYS, 0)
    prior = csum[:, mx.arange(nd)] - csum[:, mx.array(lo)]
    count = mx.array(np.minimum(np.arange(nd), RVOL_DAYS).astype(np.float32))[None, :, None]
    mean = (prior / mx.maximum(count, 1.0)).reshape(s, nd * SLOTS)
    mean_t = mx.take(mean, flat, axis=1)
    ok = (mean_t > 0) & mx.array(np.minimum(d, RVOL_DAYS) > 0)[None, :]
    rv = mx.where(ok, today / mx.where(ok, mean_t, 1.0), NAN)
    rv = mx.where(inreg, rv, NAN)
    idx = mx.maximum(last_i, 0)
    carried = mx.take_along_axis(rv, idx, axis=1)
    return mx.where((last_i >= 0) & inreg, carried, NAN), today


#: Shares in one unit of ``split_volume``: a power of two, so a unit count times it is exact.
VOLUME_UNIT = 4096.0


def split_volume(v: mx.array) -> tuple[mx.array, mx.array]:
    """``v`` as (whole units of ``VOLUME_UNIT`` shares, the rest), for exact running sums.

    Why: a day's volume passes 2**24 (16.8M shares, float32's last exact integer)
    for every liquid name, so a float32 running sum rounded it (NVDA's day read 8
    shares off at 38.5M). Integer volumes split this way sum exactly in float32 —
    units up to 2**24 of them (69B shares), the rest under 4,096 per minute — and
    their recombination is rounded once.
    """
    units = mx.floor(v / VOLUME_UNIT)
    return units, v - units * VOLUME_UNIT


class RvolHistory:
    """Regular-session volume of the last ``RVOL_DAYS`` days, kept in NumPy.

    ``days``: the finished days' cumulative volume by minute (``[S, SLOTS]``
    each, newest last, at most ``RVOL_DAYS``) and ``mean``, their average by
    minute; ``today``: today's volume by minute so far. The step reads one
    ``mean`` column and writes one ``today`` cell per symbol, instead of copying
    ``[S, days * SLOTS]`` through the compiled graph. A day starts when the
    ``day`` segment changes (with or without bars), as in the batch form.
    Reads and writes are idempotent for a revised minute.

    Why finished days are immutable arrays (read-only, replaced, never written):
    an engine checkpoint (``IncrementalEngine.checkpoint``, one per replayed
    session) shares them and copies only ``today`` (1 MB for 650 symbols),
    where it copied the whole ``[S, 11, SLOTS]`` ring (11 MB).
    """

    ROWS = RVOL_DAYS + 1

    def init(self, s: int) -> dict[str, object]:
        return {"days": (), "mean": _frozen(np.zeros((s, SLOTS), np.float32)),
                "today": np.zeros((s, SLOTS), np.float32), "day": None, "ndays": 0}

    def _roll(self, hs: dict, batch: BarBatch) -> int:  # type: ignore[type-arg]
        day = int(batch.segments["day"])
        if day != hs["day"]:
            if hs["ndays"] > 0:
                done = _frozen(np.cumsum(hs["today"], axis=1, dtype=np.float32))
                self._set_days(hs, (*hs["days"], done)[-RVOL_DAYS:])
            hs["day"], hs["ndays"] = day, hs["ndays"] + 1
            hs["today"] = np.zeros_like(hs["today"])
        return hs["ndays"]

    @staticmethod
    def _set_days(hs: dict, days: tuple[np.ndarray, ...]) -> None:  # type: ignore[type-arg]
        hs["days"] = days
        if days:
            total = days[-1].copy()
            for d in days[-2::-1]:  # newest first, as the ring summed them
                total += d
            hs["mean"] = _frozen(total / np.float32(len(days)))

    def read(self, hs: dict, batch: BarBatch) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
        ndays, mos = self._roll(hs, batch), int(batch.minute_of_session)
        prior = min(ndays - 1, RVOL_DAYS)
        if prior <= 0 or not 0 <= mos < SLOTS:
            return {"rvol_base": np.zeros(len(batch.valid), np.float32)}
        return {"rvol_base": hs["mean"][:, mos]}

    def from_panel(self, panel: Panel) -> dict[str, object]:
        """The history after replaying ``panel`` minute by minute, in closed form:
        the last ``RVOL_DAYS`` finished days' cumulative volume by minute and
        today's volumes so far."""
        s, t = panel.shape
        hs = self.init(s)
        if t == 0:
            return hs
        starts = day_starts(panel)
        nd = len(starts)
        days = []
        for k in range(max(0, nd - self.ROWS), nd):
            a, b = int(starts[k]), int(starts[k + 1]) if k + 1 < nd else t
            mos = panel.minute_of_session[a:b]
            inreg = (mos >= 0) & (mos < SLOTS)
            reg = panel.valid[:, a:b] & (mos < panel.session_minutes[a:b])[None, :] & inreg
            row = np.zeros((s, SLOTS), np.float32)
            row[:, mos[inreg]] = np.where(reg, panel.volume[:, a:b], 0.0)[:, inreg]
            if k < nd - 1:  # a finished day: cumulative by minute, as ``_roll`` leaves it
                days.append(_frozen(np.cumsum(row, axis=1, dtype=np.float32)))
            else:
                hs["today"] = row
        self._set_days(hs, tuple(days[-RVOL_DAYS:]))
        hs["day"], hs["ndays"] = int(panel.segments["day"][-1]), nd
        return hs

    def write(self, hs: dict, batch: BarBatch) -> None:  # type: ignore[type-arg]
        self._roll(hs, batch)
        mos = int(batch.minute_of_session)
        if 0 <= mos < SLOTS:
            reg = np.asarray(batch.valid, bool) & (mos < int(batch.session_minutes))
            hs["today"][:, mos] = np.where(reg, batch.volume, 0.0)


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` made read-only: shared by engine checkpoints, so never written in place."""
    a.flags.writeable = False
    return a


def _init(s: int) -> State:
    st: State = {
        "day": mx.full((1,), -(2**30), dtype=mx.int32),
        "sh": mx.full((s,), -INF), "sl": mx.full((s,), INF),
        "close": mx.full((s,), NAN), "open": mx.full((s,), NAN),
        "ph": mx.full((s,), NAN), "pl": mx.full((s,), NAN), "pc": mx.full((s,), NAN),
        "rv": mx.full((s,), NAN), "cvu": mx.zeros((s,)), "cvr": mx.zeros((s,)),
        "lc": mx.full((s,), NAN),
    }
    for m in OR_MINUTES:
        st[f"orh{m}"], st[f"orl{m}"] = mx.full((s,), -INF), mx.full((s,), INF)
    return st


def _warm_state(panel: Panel) -> State:
    """The step's state after ``panel``, in NumPy from its bars (no stepping).

    Today's extremes, opening ranges, first open, last close and volume; the
    prior day's values (the last earlier day with regular bars); relative
    volume at today's last regular bar from ``RvolHistory.from_panel``.
    """
    s, t = panel.shape
    st = _init(s)
    if t == 0:
        return st
    starts = day_starts(panel)
    mos, sm = panel.minute_of_session, panel.session_minutes
    reg = panel.valid & ((mos >= 0) & (mos < sm))[None, :]
    hi = np.where(reg, panel.high, -INF).astype(np.float32)
    lo = np.where(reg, panel.low, INF).astype(np.float32)
    day_hi = np.maximum.reduceat(hi, starts, axis=1)  # [S, D]
    day_lo = np.minimum.reduceat(lo, starts, axis=1)
    ar = np.arange(t)
    last_reg = np.maximum.reduceat(np.where(reg, ar, -1), starts, axis=1)
    rows = np.arange(s)[:, None]
    day_close = np.where(last_reg >= 0, panel.close[rows, np.maximum(last_reg, 0)], NAN)
    had = day_hi[:, :-1] > -INF  # earlier days with regular bars
    src = np.where(had, np.arange(len(starts) - 1)[None, :], -1).max(axis=1, initial=-1)
    pick = lambda x: np.where(src >= 0, x[np.arange(s), np.maximum(src, 0)], NAN)  # noqa: E731
    a = int(starts[-1])
    today = slice(a, t)
    treg, tmos = reg[:, today], mos[today]
    first = np.where(treg.any(axis=1), np.argmax(treg, axis=1), -1)
    inreg = (tmos >= 0) & (tmos < SLOTS)
    tv = np.where(treg & inreg[None, :], panel.volume[:, today], 0.0).astype(np.float32)
    units = np.floor(tv / np.float32(VOLUME_UNIT))  # as the step sums them (``split_volume``)
    cvu = units.sum(axis=1, dtype=np.float64).astype(np.float32)
    cvr = (tv - units * np.float32(VOLUME_UNIT)).sum(axis=1, dtype=np.float64).astype(np.float32)
    cv = cvu * np.float32(VOLUME_UNIT) + cvr
    last_any = np.where(panel.valid.any(axis=1),
                        t - 1 - np.argmax(panel.valid[:, ::-1], axis=1), -1)
    st.update({
        "day": mx.array(np.asarray(panel.segments["day"][-1:], np.int32)),
        "sh": mx.array(day_hi[:, -1]), "sl": mx.array(day_lo[:, -1]),
        "close": mx.array(day_close[:, -1].astype(np.float32)),
        "open": mx.array(np.where(first >= 0, panel.open[:, today][np.arange(s), np.maximum(
            first, 0)], NAN).astype(np.float32)),
        "ph": mx.array(pick(day_hi).astype(np.float32)),
        "pl": mx.array(pick(day_lo).astype(np.float32)),
        "pc": mx.array(pick(day_close).astype(np.float32)),
        "cvu": mx.array(cvu), "cvr": mx.array(cvr),
        "lc": mx.array(np.where(last_any >= 0, panel.close[np.arange(s), np.maximum(
            last_any, 0)], NAN).astype(np.float32)),
    })
    for m in OR_MINUTES:
        w = treg & (tmos < m)[None, :]
        st[f"orh{m}"] = mx.array(np.where(w, hi[:, today], -INF).max(axis=1))
        st[f"orl{m}"] = mx.array(np.where(w, lo[:, today], INF).min(axis=1))
    # relative volume at today's last regular bar (what the step carries in ``rv``)
    lr = last_reg[:, -1]
    hs = RvolHistory().from_panel(panel)
    nd = int(hs["ndays"])  # type: ignore[call-overload]
    prior = min(nd - 1, RVOL_DAYS)
    rv = np.full(s, NAN, np.float32)
    lr_mos = np.where(lr >= 0, mos[np.maximum(lr, 0)], -1)
    ok = (lr >= 0) & (lr_mos >= 0) & (lr_mos < SLOTS)
    if prior > 0 and ok.any():
        mean = hs["mean"][np.arange(s), np.clip(lr_mos, 0, SLOTS - 1)]  # type: ignore[index]
        good = ok & (mean > 0)
        rv = np.where(good, cv / np.where(good, mean, 1.0), NAN).astype(np.float32)
    st["rv"] = mx.array(rv)
    return st


def _step(st: State, inp: StepInputs) -> tuple[State, dict[str, mx.array]]:
    mos, day = inp.minute_of_session, inp.segments["day"]
    new_day = day != st["day"]  # [1]
    had = st["sh"] > -INF
    roll = new_day & had
    ph = mx.where(roll, st["sh"], st["ph"])
    pl = mx.where(roll, st["sl"], st["pl"])
    pc = mx.where(roll, st["close"], st["pc"])

    def fresh(key: str, init: float) -> mx.array:
        return mx.where(new_day, init, st[key])

    reg = (mos >= 0) & (mos < inp.session_minutes) & inp.valid
    out: dict[str, mx.array] = {}
    new: State = {"ph": ph, "pl": pl, "pc": pc}
    for m in OR_MINUTES:
        w = reg & (mos < m)
        hi = mx.where(w, mx.maximum(fresh(f"orh{m}", -INF), inp.high), fresh(f"orh{m}", -INF))
        lo = mx.where(w, mx.minimum(fresh(f"orl{m}", INF), inp.low), fresh(f"orl{m}", INF))
        new[f"orh{m}"], new[f"orl{m}"] = hi, lo
        ready = mos >= m - 1
        out[f"or_high_{m}"] = mx.where(ready, _fin(hi), NAN)
        out[f"or_low_{m}"] = mx.where(ready, _fin(lo), NAN)
    sh = mx.where(reg, mx.maximum(fresh("sh", -INF), inp.high), fresh("sh", -INF))
    sl = mx.where(reg, mx.minimum(fresh("sl", INF), inp.low), fresh("sl", INF))
    close = mx.where(reg, inp.close, fresh("close", NAN))
    open_ = fresh("open", NAN)
    open_ = mx.where(reg & mx.isnan(open_), inp.open, open_)
    new.update({"sh": sh, "sl": sl, "close": close, "open": open_})
    out.update({"session_high": _fin(sh), "session_low": _fin(sl), "prior_high": ph,
                "prior_low": pl, "prior_close": pc, "gap_pct": 100.0 * (open_ - pc) / pc})
    # relative volume: the prior days' mean cumulative volume at this minute comes
    # from ``RvolHistory``
    inreg = (mos >= 0) & (mos < SLOTS)
    units, rest = split_volume(mx.where(reg & inreg, inp.volume, 0.0))
    cvu, cvr = fresh("cvu", 0.0) + units, fresh("cvr", 0.0) + rest
    cv = cvu * VOLUME_UNIT + cvr
    mean = inp.extra["rvol_base"]
    ok = mean > 0
    rv_now = mx.where(ok, cv / mx.where(ok, mean, 1.0), NAN)
    rv = mx.where(reg & inreg, rv_now, fresh("rv", NAN))
    out["rvol"] = mx.where(inreg, rv, NAN)
    out["minutes_since_open"] = mx.broadcast_to(mos.astype(mx.float32), inp.close.shape)
    lc = mx.where(inp.valid, inp.close, st["lc"])
    out["change_pct"] = 100.0 * (lc - pc) / pc
    out["day_volume"] = cv
    new.update({"day": day, "rv": rv, "cvu": cvu, "cvr": cvr, "lc": lc})
    return new, out


INTRADAY = (Indicator(
    key="intraday", family="intraday", outputs=NAMES,
    params={"opening_range_minutes": OR_MINUTES, "rvol_days": RVOL_DAYS}, warmup=0,
    batch=_batch, init=_init, step=_step, host=RvolHistory(), warm_state=_warm_state,
    description="Opening ranges 5/15/30, prior day H/L/C, gap %, session H/L so far, "
                "relative volume (cumulative, vs the same minute over 10 days), minutes "
                "since the open, change % vs the prior close",
))

INDICATORS: tuple[Indicator, ...] = (INTRADAY,)

_DAY, _TWO = History.days(1), History.days(2)
META: tuple[OutputMeta, ...] = (
    *(m for k in OR_MINUTES for m in (
        level(f"or_high_{k}", _DAY, Direction.breakout("upper")),
        level(f"or_low_{k}", _DAY, Direction.breakout("lower")))),
    level("prior_high", _TWO, Direction.breakout("upper")),
    level("prior_low", _TWO, Direction.breakout("lower")),
    level("prior_close", _TWO),
    ratio("gap_pct", _TWO, Direction.sign()),
    plain_level("session_high", _DAY),
    plain_level("session_low", _DAY),
    # the prior days' volumes live in ``RvolHistory``, replayed over the whole warm panel
    ratio("rvol", History(sessions=RVOL_DAYS + 1, replayed=True)),
    OutputMeta("minutes_since_open", Kind.COUNT, Scale.NONE, History()),
    ratio("change_pct", _TWO),
    OutputMeta("day_volume", Kind.VOLUME, Scale.RMS, _DAY),
)
