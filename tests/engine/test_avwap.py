"""Anchored VWAP: float32 accuracy against a float64 two-pass reference, anchor
boundaries (DST, holiday, half day), missing bars, band modes and custom anchors.

Panels are built on the real minute grid with seeded random bars, so every
anchor boundary here is the calendar's, not a hand-made one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools

import numpy as np
import pytest

from engine import avwap as A
from engine import stepping
from engine.avwap import custom as C
from engine.inputs import batch_inputs
from storage.calendar import minute_grid
from storage.types import SEGMENT_KINDS, Panel


def make_panel(
    start: dt.date,
    end: dt.date,
    hours: str = "regular",
    *,
    n: int = 4,
    seed: int = 0,
    base: float | np.ndarray = 100.0,
    vol: float | np.ndarray = 1e4,
    vol_spread: float = 1.0,
    missing: float = 0.2,
    drift: float = 5e-4,
) -> Panel:
    """Random-walk bars on the exchange minute grid; ``missing`` share of cells absent.

    Volume: per-symbol level ``vol`` times a lognormal(0, ``vol_spread``) factor
    per bar, clipped to 1 … 1e8.
    """
    g = minute_grid(start, end, hours)
    t = len(g.ts)
    rng = np.random.default_rng(seed)
    p0 = np.broadcast_to(np.asarray(base, dtype=np.float64), (n,))[:, None]
    c = p0 * np.exp(np.cumsum(rng.normal(0, drift, (n, t)), axis=1))
    o = c * (1 + rng.normal(0, drift / 2, (n, t)))
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, drift / 2, (n, t))))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, drift / 2, (n, t))))
    scale = np.broadcast_to(np.asarray(vol, dtype=np.float64), (n,))[:, None]
    v = np.clip(np.round(scale * rng.lognormal(0, vol_spread, (n, t))), 1, 1e8)
    valid = rng.random((n, t)) >= missing
    nan = np.where(valid, 1.0, np.nan)
    o, h, lo, c = (np.round(a, 4) for a in (o, h, lo, c))  # decimal prices, as bars are
    return Panel(
        symbols=tuple(f"S{i}" for i in range(n)),
        ts=g.ts,
        open=o * nan,
        high=h * nan,
        low=lo * nan,
        close=c * nan,
        volume=np.where(valid, v, 0.0),
        valid=valid,
        segments=g.segments,
        minute_of_session=g.minute_of_session,
        session_minutes=g.session_minutes,
        hours=hours,
    )


def hlc3_f64(panel: Panel) -> np.ndarray:
    """hlc3 of the bars' decimal prices in float64: the exact price the engine's tick
    offsets stand for (it no longer rounds hlc3 to float32 before differencing)."""
    return (panel.high + panel.low + panel.close) / 3.0


def reference(p: np.ndarray, panel: Panel, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 two-pass VWAP and σ at every cell (NaN before a segment's volume).

    Pass one: each segment's final VWAP ``c``. Pass two: prefix sums of
    ``v·(p−c)`` and ``v·(p−c)²`` around it, so nothing cancels at float64.
    """
    v = np.where(panel.valid, panel.volume.astype(np.float32), 0.0).astype(np.float64)
    px = np.where(panel.valid, p, 0.0)
    lev = np.full(p.shape, np.nan)
    sd = np.full(p.shape, np.nan)
    edges = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1], True])
    for a, b in itertools.pairwise(edges):
        if seg[a] == -1:
            continue
        vs, ps = v[:, a:b], px[:, a:b]
        tot = vs.sum(axis=1, keepdims=True)
        c = np.where(tot > 0, (vs * ps).sum(axis=1, keepdims=True) / np.maximum(tot, 1), 0)
        d = np.where(vs > 0, ps - c, 0.0)
        v0 = np.cumsum(vs, axis=1)
        m = np.cumsum(vs * d, axis=1) / np.where(v0 > 0, v0, np.nan)
        sq = np.cumsum(vs * d * d, axis=1) / np.where(v0 > 0, v0, np.nan)
        var = sq - m * m
        var[var <= 1e-12 * sq] = 0.0  # float64 rounding of one repeated price, not spread
        lev[:, a:b] = c + m
        sd[:, a:b] = np.sqrt(np.maximum(var, 0))
    return lev, sd


def drive(step, state: dict, panel: Panel) -> dict[str, np.ndarray]:
    """Incremental outputs of ``step`` over every minute of ``panel``, as [S, T]."""
    return {k: np.array(v) for k, v in stepping.replay(step, state, batch_inputs(panel)).items()}


def rel(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(b)
    assert np.array_equal(np.isfinite(a), ok), "NaN pattern differs"
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-30), initial=0.0))


# ------------------------------------------------------------------------ accuracy


@pytest.fixture(scope="module")
def month_panel() -> Panel:
    """A month of regular sessions (8,000+ bars/anchor) at $1 … $5,000, volumes 1 … 1e8."""
    base = np.array([1.0, 37.0, 512.0, 4000.0, 5000.0])
    vol = np.array([1.0, 1e2, 1e4, 1e6, 1e8])
    return make_panel(
        dt.date(2024, 10, 1), dt.date(2024, 11, 8), n=5, base=base, vol=vol, vol_spread=1.5, seed=7
    )


def sigma_rel(got: np.ndarray, want: np.ndarray) -> float:
    """Max relative σ error; where the reference σ is 0 (one price so far), ours must be 0."""
    ok = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), ok), "NaN pattern differs"
    zero = ok & (want == 0)
    assert np.all(got[zero] == 0), "σ must be exactly 0 where every weighted price is equal"
    pos = ok & (want > 0)
    return float(np.max(np.abs(got[pos] - want[pos]) / want[pos], initial=0.0))


@pytest.mark.slow
def test_float32_level_and_sigma_match_float64_two_pass(month_panel: Panel) -> None:
    out = A.calendar_batch(batch_inputs(month_panel), with_sd=True)
    kinds = ("session", "week", "month", "quarter")
    step = functools.partial(A.calendar_step, kinds=kinds, with_sd=True)
    inc = drive(step, A.calendar_init(5, kinds), month_panel)
    p = hlc3_f64(month_panel)
    for kind in kinds:
        lev, sd = reference(p, month_panel, month_panel.segments[kind])
        for form in (out, inc):
            assert rel(np.array(form[f"avwap_{kind}"]), lev) < 1e-6, kind
            # σ everywhere it is defined, however small (no "well above rounding" filter)
            assert sigma_rel(np.array(form[f"avwap_{kind}_sd"]), sd) < 1e-3, kind
    # the month anchor runs ~8,000 bars: σ at its end must still be exact
    last = np.array(out["avwap_month_sd"])[:, -1]
    want = reference(p, month_panel, month_panel.segments["month"])[1][:, -1]
    assert np.allclose(last, want, rtol=1e-4, atol=0)


def test_naive_float32_sums_would_fail(month_panel: Panel) -> None:
    """The guard above is meaningful: unshifted float32 Σv·p² loses σ at $4,000."""
    p = np.nan_to_num(hlc3_f64(month_panel)[3]).astype(np.float32)
    v = np.where(month_panel.valid[3], month_panel.volume[3], 0).astype(np.float32)
    seg = month_panel.segments["month"]
    sl = seg == seg[-1]
    s0, s1, s2 = (np.cumsum(x[sl], dtype=np.float32) for x in (v, v * p, v * p * p))
    naive = np.sqrt(np.maximum(s2 / s0 - (s1 / s0) ** 2, 0))
    _, sd = reference(hlc3_f64(month_panel), month_panel, seg)
    pos = sd[3][sl] > 0
    assert np.max(np.abs(naive[pos] - sd[3][sl][pos]) / sd[3][sl][pos]) > 1e-2


def test_incremental_matches_batch_over_dst_holiday_half_day() -> None:
    # 2024-11-03 DST end, 11-28 Thanksgiving (closed), 11-29 half day, month/week edges
    panel = make_panel(dt.date(2024, 10, 31), dt.date(2024, 11, 5), n=3, seed=1)
    panel2 = make_panel(dt.date(2024, 11, 27), dt.date(2024, 12, 2), "extended", n=3, seed=2)
    for pan in (panel, panel2):
        batch = {k: np.array(v) for k, v in A.calendar_batch(batch_inputs(pan)).items()}
        inc = drive(A.calendar_step, A.calendar_init(3), pan)
        assert set(inc) == set(batch) == set(A.output_names())
        for name in batch:
            if name.endswith("_z"):
                ok = np.isfinite(batch[name])
                assert np.array_equal(np.isfinite(inc[name]), ok), name
                err = np.abs(inc[name][ok] - batch[name][ok]) / (1 + np.abs(batch[name][ok]))
                assert err.max(initial=0.0) <= 2e-6, name  # z near 0: absolute scale
            else:
                assert rel(inc[name], batch[name]) < 1e-6, name


# ------------------------------------------------------------------- boundaries


def test_session_is_nan_premarket_and_restarts_at_the_open() -> None:
    pan = make_panel(dt.date(2024, 11, 27), dt.date(2024, 11, 29), "extended", missing=0.0)
    out = A.calendar_batch(batch_inputs(pan))
    sess = np.array(out["avwap_session"])
    pre = pan.minute_of_session < 0
    assert np.isnan(sess[:, pre]).all()
    assert np.isfinite(sess[:, ~pre]).all()
    # first bar of each regular session and of each day: the level is that bar's price
    p = hlc3_f64(pan)
    for kind, col in (("session", pan.minute_of_session == 0), ("day", None)):
        seg = pan.segments[kind]
        starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]] & (seg != -1))
        if col is not None:
            assert np.array_equal(starts, np.flatnonzero(col))
        got = np.array(out[f"avwap_{kind}"])[:, starts]
        assert np.allclose(got, p[:, starts], rtol=1e-7)
    # 2024-11-29 is a half day: its session ends at 13:00 ET = 18:00 UTC
    day29 = pan.segments["day"] == dt.date(2024, 11, 29).toordinal()
    assert pan.session_minutes[day29][0] == 210


def test_missing_bars_contribute_nothing_and_new_segment_waits_for_first_bar() -> None:
    pan = make_panel(dt.date(2024, 3, 8), dt.date(2024, 3, 12), n=2, missing=0.0, seed=3)
    valid = pan.valid.copy()
    day = pan.segments["day"]
    second = np.flatnonzero(day == day[-1])[0]
    valid[0, second : second + 5] = False  # symbol 0 misses the first 5 minutes of day 3
    valid[1, 100:110] = False
    nan = np.where(valid, 1.0, np.nan)
    pan = dataclasses.replace(
        pan,
        open=pan.open * nan,
        high=pan.high * nan,
        low=pan.low * nan,
        close=pan.close * nan,
        volume=np.where(valid, pan.volume, 0.0),
        valid=valid,
    )
    out = {k: np.array(v) for k, v in A.calendar_batch(batch_inputs(pan)).items()}
    lvl = out["avwap_day"]
    assert np.isnan(lvl[0, second : second + 5]).all()
    assert np.isfinite(lvl[0, second + 5])
    assert (lvl[1, 100:110] == lvl[1, 99]).all()  # unchanged state repeats
    assert (out["avwap_day_z"][1, 100:110] == out["avwap_day_z"][1, 99]).all()
    lev, _ = reference(hlc3_f64(pan), pan, day)
    assert rel(lvl, lev) < 1e-6


def test_zero_volume_segment_is_nan_like_tradingview() -> None:
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 3), n=2, missing=0.0)
    vol = pan.volume.copy()
    vol[0, :10] = 0.0
    pan = dataclasses.replace(pan, volume=vol)
    out = np.array(A.calendar_batch(batch_inputs(pan))["avwap_session"])
    assert np.isnan(out[0, :10]).all() and np.isfinite(out[0, 10:]).all()


# --------------------------------------------------------------- sources, bands


@pytest.mark.parametrize("source", A.SOURCES)
def test_price_sources(source: str) -> None:
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 4), n=2, seed=4)
    out = A.calendar_batch(batch_inputs(pan), kinds=("day",), source=source)
    o, h, lo, c = (getattr(pan, f) for f in ("open", "high", "low", "close"))
    p = {"hlc3": (h + lo + c) / 3, "close": c, "hl2": (h + lo) / 2, "ohlc4": (o + h + lo + c) / 4}
    lev, _ = reference(p[source], pan, pan.segments["day"])
    assert rel(np.array(out["avwap_day"]), lev) < 1e-6


def test_band_modes() -> None:
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 4), n=2, seed=5)
    inp = batch_inputs(pan)
    sd = A.calendar_batch(inp, kinds=("day",), with_sd=True)
    pc = A.calendar_batch(inp, kinds=("day",), mode="percent")
    lvl, s = np.array(sd["avwap_day"]), np.array(sd["avwap_day_sd"])
    for i in (1, 2, 3):
        ok = np.isfinite(lvl)
        assert np.allclose(np.array(sd[f"avwap_day_up{i}"])[ok], (lvl + i * s)[ok], rtol=1e-6)
        assert np.allclose(np.array(sd[f"avwap_day_dn{i}"])[ok], (lvl - i * s)[ok], rtol=1e-6)
        assert np.allclose(np.array(pc[f"avwap_day_up{i}"])[ok], lvl[ok] * (1 + i / 100))
    z = np.array(sd["avwap_day_z"])
    c = np.array(inp.close)
    ok = np.isfinite(z) & pan.valid
    assert np.array_equal(np.isfinite(z), np.isfinite(lvl) & (s > 0))  # NaN where σ is 0
    assert np.allclose(z[ok], (c[ok] - lvl[ok]) / s[ok], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError):
        A.calendar_batch(inp, mode="bogus")
    with pytest.raises(ValueError):
        A.calendar_batch(inp, source="vwap")


# ------------------------------------------------------------------ custom anchors


def test_custom_anchor_per_symbol_batch_and_step() -> None:
    pan = make_panel(dt.date(2024, 10, 28), dt.date(2024, 11, 6), n=3, seed=6, base=4000.0)
    # an intraday minute, a Saturday (anchors at Monday's open) and a later minute
    sat = np.datetime64("2024-11-02T15:00")
    anchors = C.anchor_minutes(np.array([pan.ts[1], sat, pan.ts[2501]]))
    out = {k: np.array(v) for k, v in C.anchored_batch(batch_inputs(pan), anchors).items()}
    start = np.array([1, int(np.searchsorted(pan.ts, sat)), 2501])
    assert pan.ts[start[1]] == np.datetime64("2024-11-04T14:30")  # Monday 09:30 EST
    p = hlc3_f64(pan)
    for s in range(3):
        assert np.isnan(out["level"][s, : start[s]]).all()
        seg = np.where(np.arange(len(pan.ts)) >= start[s], 0, -1)
        lev, _ = reference(p[s : s + 1], pan.select([pan.symbols[s]]), seg)
        assert rel(out["level"][s : s + 1], lev) < 1e-6
    inc = drive(C.anchored_step, C.anchored_init(anchors, 3), pan)
    for k in ("level", "up2", "dn3"):
        assert rel(inc[k], out[k]) < 1e-6, k


@pytest.mark.parametrize("hours", ["regular", "extended"])
def test_anchors_with_the_same_segments_share_one_computation(hours: str) -> None:
    # Mon Oct 28 – Fri Nov 1 2024: one week, no quarter or year edge, so week,
    # quarter and year cut the panel alike; Oct 31 ends only the month; the
    # session and the day coincide on regular hours only
    pan = make_panel(dt.date(2024, 10, 28), dt.date(2024, 11, 1), hours, n=2, seed=9)
    inp = batch_inputs(pan)
    seg = np.stack([np.asarray(inp.segments[k]) for k in SEGMENT_KINDS])
    rows = A.distinct_partitions(seg)
    want = [0, 0 if hours == "regular" else 1, 2, 3, 2, 2]
    assert rows == want
    shared = A.calendar_batch(inp)
    alone = A.calendar_batch(inp, dedupe=False)
    for name, a in alone.items():
        assert np.array_equal(np.array(shared[name]), np.array(a), equal_nan=True), name


def test_calendar_kinds_are_the_storage_kinds() -> None:
    assert tuple(SEGMENT_KINDS) == ("session", "day", "week", "month", "quarter", "year")
    assert "avwap_week_z" in A.output_names() and "avwap_session_up2" in A.output_names()


EPS32 = 2.0**-24  # float32 unit roundoff


def outlier_panel(base: float, drift: float, seed: int) -> Panel:
    """Every session opens with a thin (1 share) print 5 % away, then heavy (1e8)
    bars with a tiny spread: the case where σ from shifted Σv·d² lost ~1 %."""
    pan = make_panel(
        dt.date(2024, 10, 1), dt.date(2024, 10, 2), n=3, base=base, vol=1e8, drift=drift,
        seed=seed, missing=0.0,
    )  # fmt: skip
    opens = np.flatnonzero(pan.minute_of_session == 0)
    for f in ("open", "high", "low", "close"):
        getattr(pan, f)[:, opens] = np.round(getattr(pan, f)[:, opens] * 1.05, 4)
    pan.volume[:, opens] = 1.0
    return pan


@pytest.mark.parametrize("base", [1.0, 512.0, 4999.0])
@pytest.mark.parametrize("drift", [2e-6, 2e-4])
def test_sigma_error_is_linear_in_distance_from_first_price(base: float, drift: float) -> None:
    """σ's float32 error is at most a few eps·|level − ref|/σ (ref: the segment's
    first price), linear where the old shifted-Σv·d² form was quadratic; so σ is
    within 1e-3 wherever it is at least 1e-5 of the level (a hundredth of a cent
    at $1), here down to σ ≈ 2e-6·level."""
    pan = outlier_panel(base, drift, seed=int(base))
    out = A.calendar_batch(batch_inputs(pan), kinds=("session",), with_sd=True)
    step = functools.partial(A.calendar_step, kinds=("session",), with_sd=True)
    inc = drive(step, A.calendar_init(3, ("session",)), pan)
    p = hlc3_f64(pan)
    lev, sd = reference(p, pan, pan.segments["session"])
    seg = pan.segments["session"]
    first = np.r_[True, seg[1:] != seg[:-1]]
    ref = p[:, first][:, np.cumsum(first) - 1]
    pos = sd > 0
    for form in (out, inc):
        assert rel(np.array(form["avwap_session"]), lev) < 1e-6
        got = np.array(form["avwap_session_sd"])
        sigma_rel(got, sd)  # NaN pattern and exact zeros
        err = np.abs(got[pos] - sd[pos]) / sd[pos]
        bound = EPS32 * np.abs(lev[pos] - ref[pos]) / sd[pos]
        assert np.all(err <= 4 * bound + 4 * EPS32), float(np.max(err / (bound + EPS32)))
        assert err[sd[pos] >= 1e-5 * lev[pos]].max() < 1e-3


def test_sigma_exact_with_extreme_volume_mix() -> None:
    """Volumes 8 decades apart side by side, first bars anywhere: σ within 1e-3."""
    base = np.array([1.0, 512.0, 4000.0])
    pan = make_panel(
        dt.date(2024, 10, 1), dt.date(2024, 10, 8), n=3, base=base, vol=1e4, vol_spread=6.0, seed=7
    )
    out = A.calendar_batch(batch_inputs(pan), kinds=("session",), with_sd=True)
    lev, sd = reference(hlc3_f64(pan), pan, pan.segments["session"])
    assert rel(np.array(out["avwap_session"]), lev) < 1e-6
    assert sigma_rel(np.array(out["avwap_session_sd"]), sd) < 1e-3
