"""Auto anchors (highest high / lowest low / highest volume of the prior N days):
float32 batch against a float64 two-pass reference written straight from the
documented rules (σ to 1e-4 wherever it is > 0), a thin anchor bar far from
heavy later bars (where the shifted Σv·(p−ref)² form lost ~1e-2 of σ), planted
extremes and ties, gaps and whole missing days, and incremental equal to batch
(σ included) with live revisions on regular and extended grids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import mlx.core as mx
import numpy as np
import pytest
from test_avwap import hlc3_f64, make_panel
from test_avwap_parity import forming

from engine import stepping
from engine.avwap import auto as U
from engine.inputs import batch_inputs
from engine.registry import BatchInputs, indicator_for
from storage.types import Panel

KEYS = {"hh": "high", "ll": "low", "hv": "volume"}


def reference(panel: Panel, n_days: int = U.DEFAULT_DAYS) -> dict[str, tuple[np.ndarray, ...]]:
    """Float64 two-pass level, σ and anchor price per kind, from the rules in
    ``engine.avwap.auto``'s docstring.

    Pass one: the final VWAP ``c`` of the bars from the anchor to the day's end.
    Pass two: prefix sums of ``v·(p−c)`` and ``v·(p−c)²`` around it, so nothing
    cancels at float64.
    """
    p = hlc3_f64(panel)
    v = np.where(panel.valid, panel.volume.astype(np.float32), 0.0).astype(np.float64)
    day = panel.segments["day"]
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    ends = np.r_[starts[1:], len(day)]
    s_, t_ = p.shape
    res: dict[str, tuple[np.ndarray, ...]] = {}
    for kind, field in KEYS.items():
        key = getattr(panel, field).astype(np.float32).astype(np.float64)
        if kind != "hv":  # prices compare in exact ticks (engine.avwap.auto)
            key = np.rint(getattr(panel, field) * 1e4)
        key = -key if kind == "ll" else key
        lev, sd, ar = (np.full((s_, t_), np.nan) for _ in range(3))
        for s in range(s_):
            for d, (a, b) in enumerate(zip(starts, ends, strict=True)):
                lo = starts[max(d - n_days, 0)]
                bars = np.flatnonzero(panel.valid[s, lo:a]) + lo
                if not len(bars):
                    continue
                k = bars[np.argmax(key[s, bars])]  # first of equal maxima
                vs = v[s, k:b]
                ps = np.where(panel.valid[s, k:b], p[s, k:b], 0.0)
                c = (vs * ps).sum() / vs.sum() if vs.sum() > 0 else 0.0
                dv = np.where(vs > 0, ps - c, 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    v0 = np.cumsum(vs)
                    m = np.cumsum(vs * dv) / v0
                    var = np.cumsum(vs * dv * dv) / v0 - m * m
                lev[s, a:b] = (c + m)[a - k :]
                sd[s, a:b] = np.sqrt(np.maximum(var, 0))[a - k :]
                ar[s, a:b] = p[s, k]
        res[kind] = (lev, sd, ar)
    return res


def assert_sigma(got: np.ndarray, sd: np.ndarray, what: object, rtol: float = 1e-3) -> None:
    """σ within ``rtol`` of the reference wherever it is > 0, ~0 where it is 0."""
    pos = sd > 0
    err = np.abs(got[pos] - sd[pos]) / sd[pos]
    assert err.max() <= rtol, (what, err.max())
    zero = sd == 0
    assert (np.abs(got[zero]) <= 1e-6 * np.abs(got[pos]).max()).all(), what


def with_valid(pan: Panel, valid: np.ndarray) -> Panel:
    nan = np.where(valid, 1.0, np.nan)
    return dataclasses.replace(
        pan, open=pan.open * nan, high=pan.high * nan, low=pan.low * nan,
        close=pan.close * nan, volume=np.where(valid, pan.volume, 0.0), valid=valid,
    )  # fmt: skip


def live(inp: BatchInputs, s: int, seed: int, n_days: int) -> dict[str, np.ndarray]:
    """Step every minute; ~1/3 first arrive forming (stepped and dropped), then final."""
    run = stepping.compile_step(functools.partial(U.auto_step, with_sd=True))
    state = U.auto_init(s, n_days)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[mx.array]] = {}
    for t in range(inp.close.shape[1]):
        final = stepping.step_at(inp, t)
        if rng.random() < 0.33:
            _, out = run(state, forming(final, rng))  # state before the minute is kept
            mx.eval(out)
        state, out = run(state, final)
        mx.eval(state, out)
        for k, a in out.items():
            rows.setdefault(k, []).append(a)
    return {k: np.array(mx.stack(v, axis=1)) for k, v in rows.items()}


@pytest.fixture(scope="module")
def gappy() -> Panel:
    """Eight sessions at $1 … $5,000 with 20 % missing bars; S2 absent all of day 3."""
    base = np.array([1.0, 37.0, 4000.0, 5000.0])
    vol = np.array([1.0, 1e3, 1e6, 1e8])
    pan = make_panel(
        dt.date(2024, 10, 21), dt.date(2024, 10, 30), n=4, base=base, vol=vol, vol_spread=1.5,
        seed=11, drift=2e-3,
    )  # fmt: skip
    valid = pan.valid.copy()
    day = pan.segments["day"]
    valid[2, day == np.unique(day)[2]] = False
    return with_valid(pan, valid)


def test_batch_matches_float64_reference(gappy: Panel) -> None:
    out = {k: np.array(a) for k, a in U.auto_batch(batch_inputs(gappy), with_sd=True).items()}
    ref = reference(gappy)
    day = gappy.segments["day"]
    first = day == day[0]
    for kind, (lev, sd, _) in ref.items():
        got = out[f"avwap_{kind}"]
        assert np.isnan(got[:, first]).all(), kind  # no prior day yet
        assert np.array_equal(np.isfinite(got), np.isfinite(lev)), kind
        ok = np.isfinite(lev)
        assert ok[:, ~first].mean() > 0.99
        assert (np.abs(got[ok] - lev[ok]) / lev[ok]).max() < 1e-6, kind
        assert_sigma(out[f"avwap_{kind}_sd"], sd, kind, rtol=1e-4)
        assert np.allclose(out[f"avwap_{kind}_up1"][ok], (got + out[f"avwap_{kind}_sd"])[ok])


def outlier_panel() -> Panel:
    """Heavy bars (~1e7) clustered tightly at $4,000 and $37, with one thin (volume 1)
    bar 3 % above them on day 1 (the ``hh`` anchor) and one 3 % below (``ll``)."""
    pan = make_panel(
        dt.date(2024, 6, 3), dt.date(2024, 6, 11), n=2, base=np.array([4000.0, 37.0]),
        vol=1e7, vol_spread=0.3, missing=0.0, seed=3, drift=2e-5,
    )  # fmt: skip
    o, h, lo, c, v = (getattr(pan, f).copy() for f in ("open", "high", "low", "close", "volume"))
    for bar, f in ((100, 1.03), (200, 0.97)):
        o[:, bar] = h[:, bar] = lo[:, bar] = c[:, bar] = c[:, bar] * f
        v[:, bar] = 1.0
    return dataclasses.replace(pan, open=o, high=h, low=lo, close=c, volume=v)


def test_thin_outlier_anchor_keeps_sigma() -> None:
    """The shifted form lost ~1e-2 of σ here even with exact sums (rounding
    Σv·(p−ref)²/Σv to float32 before subtracting the squared mean); m2 does not."""
    pan = outlier_panel()
    inp = batch_inputs(pan)
    batch = {k: np.array(a) for k, a in U.auto_batch(inp, with_sd=True).items()}
    step = stepping.replay(functools.partial(U.auto_step, with_sd=True), U.auto_init(2), inp)
    ref = reference(pan)
    for kind in ("hh", "ll"):
        lev, sd, ar = ref[kind]
        assert (np.abs(ar - lev) > 50 * sd)[:, 390 : 6 * 390].all(), kind  # days 2-6 are hard
        f32 = np.float32
        mean = (lev - ar).astype(f32)
        shifted = np.sqrt(np.maximum((sd**2 + (lev - ar) ** 2).astype(f32) - mean * mean, 0))
        pos = sd > 0
        assert (np.abs(shifted[pos] - sd[pos]) / sd[pos]).max() > 5e-3, kind
        assert_sigma(batch[f"avwap_{kind}_sd"], sd, kind, rtol=1e-3)
        assert_sigma(np.array(step[f"avwap_{kind}_sd"]), sd, kind, rtol=1e-3)


def test_planted_extremes_and_ties_anchor_as_documented() -> None:
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 11), n=2, missing=0.0, seed=5)
    high, low, vol = pan.high.copy(), pan.low.copy(), pan.volume.copy()
    # day 1: two equal record highs (the earlier wins); day 2: the lowest low and
    # the volume spike
    high[:, [50, 300]] = np.nanmax(high[:, : 390 * 7], axis=1, keepdims=True) * 1.01
    low[:, 500] = np.nanmin(low[:, : 390 * 7], axis=1) * 0.99
    vol[:, 600] = 1e7
    pan = dataclasses.replace(pan, high=high, low=low, volume=vol)
    out = {k: np.array(v) for k, v in U.auto_batch(batch_inputs(pan)).items()}
    p = hlc3_f64(pan)
    v = pan.volume.astype(np.float32).astype(np.float64)
    for kind, bar in (("hh", 50), ("ll", 500), ("hv", 600)):
        for d in range(1, 7):  # days whose window holds the planted bar
            sl = slice(d * 390, (d + 1) * 390)
            if bar >= d * 390 or bar < (d - 5) * 390:
                continue
            cum = np.cumsum(v[:, bar : sl.stop], axis=1)
            want = np.cumsum(v[:, bar : sl.stop] * p[:, bar : sl.stop], axis=1) / cum
            got = out[f"avwap_{kind}"][:, sl]
            assert np.allclose(got, want[:, sl.start - bar :], rtol=1e-6), (kind, d)
    # day 7 (index 6) no longer sees day 1's highs in its 5-day window
    t = 6 * 390
    from_50 = np.sum(v[:, 50 : t + 1] * p[:, 50 : t + 1], 1) / np.sum(v[:, 50 : t + 1], 1)
    assert not np.allclose(out["avwap_hh"][:, t], from_50, rtol=1e-6)


def test_a_one_tick_higher_extreme_wins_where_float32_ties() -> None:
    """At $4,999 two highs (lows) one tick apart are one float32; the later,
    higher high (lower low) is the anchor, in the batch and the step."""
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 4), n=2, missing=0.0, seed=7,
                     base=4990.0, drift=1e-4)
    high, low = pan.high.copy(), pan.low.copy()
    def tie(x: float, step: float) -> float:  # x and x + step ticks: one float32
        while np.float32(x) != np.float32(x + step):
            x = round(x + 1e-4, 4)
        return x

    top = tie(round(float(np.nanmax(high)) + 1.0, 4), 1e-4)
    bottom = tie(round(float(np.nanmin(low)) - 1.0, 4), -1e-4)
    assert np.float32(top) == np.float32(top + 1e-4)  # a float32 tie of two ticks
    assert np.float32(bottom) == np.float32(bottom - 1e-4)
    high[:, 50], high[:, 300] = top, top + 1e-4  # the later is one tick higher
    low[:, 60], low[:, 310] = bottom, bottom - 1e-4  # the later is one tick lower
    pan = dataclasses.replace(pan, high=high, low=low)
    inp = batch_inputs(pan)
    p = hlc3_f64(pan)
    v = pan.volume.astype(np.float32).astype(np.float64)
    batch = {k: np.array(a) for k, a in U.auto_batch(inp).items()}
    step = live(inp, 2, 3, U.DEFAULT_DAYS)
    for kind, bar in (("hh", 300), ("ll", 310)):
        want = np.cumsum(v[:, bar:] * p[:, bar:], axis=1) / np.cumsum(v[:, bar:], axis=1)
        for form, out in (("batch", batch), ("step", step)):
            got = out[f"avwap_{kind}"][:, 390:]
            assert np.allclose(got, want[:, 390 - bar :], rtol=1e-6), (kind, form)


def test_symbol_absent_for_the_whole_window_is_nan_then_recovers() -> None:
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 12), n=2, missing=0.1, seed=6)
    valid = pan.valid.copy()
    valid[1, 390 : 2 * 390 + 17] = False  # S1 misses day 2 and the start of day 3
    pan = with_valid(pan, valid)
    lvl = np.array(U.auto_batch(batch_inputs(pan), n_days=1)["avwap_hh"])
    assert np.isnan(lvl[1, 2 * 390 : 3 * 390]).all()  # window (day 2) has no bar
    assert np.isfinite(lvl[1, 3 * 390 :]).all()  # day 3's late bars anchor day 4
    assert np.isfinite(lvl[0, 390:]).all()


def test_all_zero_volume_window_is_nan_like_tradingview() -> None:
    pan = make_panel(dt.date(2024, 6, 3), dt.date(2024, 6, 4), n=2, missing=0.0, seed=7)
    vol = pan.volume.copy()
    vol[0, :] = 0.0
    out = U.auto_batch(batch_inputs(dataclasses.replace(pan, volume=vol)))
    assert np.isnan(np.array(out["avwap_hv"])[0]).all()
    assert np.isfinite(np.array(out["avwap_hv"])[1, 390:]).all()


@pytest.mark.parametrize(
    ("start", "end", "hours", "n_days"),
    [
        # DST end, 5 sessions: a 2-day window fills, slides and evicts
        (dt.date(2024, 10, 31), dt.date(2024, 11, 6), "regular", 2),
        (dt.date(2024, 11, 26), dt.date(2024, 11, 29), "extended", 5),  # holiday, half day
    ],
)
def test_incremental_equals_batch_with_revisions(
    start: dt.date, end: dt.date, hours: str, n_days: int
) -> None:
    pan = make_panel(
        start, end, hours, n=3, seed=8, base=np.array([2.0, 300.0, 4500.0]), missing=0.3
    )
    valid = pan.valid.copy()
    day = pan.segments["day"]
    valid[2, day == np.unique(day)[1]] = False
    pan = with_valid(pan, valid)
    inp = batch_inputs(pan)
    batch = {k: np.array(v) for k, v in U.auto_batch(inp, n_days, with_sd=True).items()}
    inc = live(inp, 3, seed=9, n_days=n_days)
    sds = {f"avwap_{k}_sd" for k in U.KINDS}
    assert set(inc) == set(batch) == set(U.output_names()) | sds
    for name, want in batch.items():
        got = inc[name]
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        ok = ~np.isnan(want)
        if name.endswith("_z"):
            assert np.allclose(got[ok], want[ok], rtol=1e-4, atol=1e-4), name
        elif name.endswith("_sd"):  # σ itself, relative to σ (measured ≤ 5e-7)
            assert (np.abs(got[ok] - want[ok]) / want[ok]).max() <= 1e-5, name
        else:
            assert (np.abs(got[ok] - want[ok]) / np.abs(want[ok])).max() <= 1e-6, name
    for kind, (_, sd, _) in reference(pan, n_days).items():
        assert_sigma(inc[f"avwap_{kind}_sd"], sd, kind, rtol=1e-4)


def test_registered_in_the_avwap_family() -> None:
    ind = indicator_for("avwap_hv_z")
    assert ind.key == "avwap_auto" and ind.family == "avwap"
    assert ind.outputs == U.output_names() and len(ind.outputs) == 24
