"""Live custom anchors (``engine.avwap.live_custom``) against a float64 reference.

The bars are a real DuckDB cache's (demo data), read back with ``load_panel``;
the reference is a two-pass float64 VWAP and σ of hlc3 from each anchor bar on,
per symbol, with the per-symbol tolerances of ``_tolerance``. Rows include two
anchors on one symbol, an anchor on a minute without a bar (the next bar
starts it), one on the history's last minute, and a symbol absent from the
batch (its row never gets a bar).
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from _tolerance import assert_close, symbol_prices

from engine import stepping
from engine.avwap import custom as C
from engine.avwap import live_custom as L
from engine.inputs import batch_inputs, step_inputs
from storage import demo
from storage.cache import Cache
from storage.types import Panel

SYMBOLS = ("SPY", "AAPL", "NVDA", "TSLA")
LEVEL, BANDS = "avwap_session", ("up1", "dn1", "up2", "dn2", "up3", "dn3")


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Panel:
    path: Path = tmp_path_factory.mktemp("live_custom") / "c.duckdb"
    with Cache(path) as cache:
        demo.seed_cache(cache, SYMBOLS, 3, end=demo.DEFAULT_END)
        dates = demo.sessions_for(3, demo.DEFAULT_END)
        pan = cache.load_panel(SYMBOLS, dates[0], dates[-1])
    # Knock out a few bars (halts): an anchor on one of them starts at the next bar.
    valid = pan.valid.copy()
    valid[1, 500:503] = False
    nan = np.where(valid, 1.0, np.nan)
    return Panel(symbols=pan.symbols, ts=pan.ts, open=pan.open * nan, high=pan.high * nan,
                 low=pan.low * nan, close=pan.close * nan,
                 volume=np.where(valid, pan.volume, 0.0), valid=valid, segments=pan.segments,
                 minute_of_session=pan.minute_of_session,
                 session_minutes=pan.session_minutes)


def _rows(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """(symbol index, UTC minute) per row."""
    t = len(panel.ts)
    at = [(0, 0), (1, 500), (1, 900), (2, 390 + 17), (3, t - 1), (0, 2 * 390 + 200)]
    sym = np.array([s for s, _ in at])
    minutes = C.anchor_minutes(panel.ts[[i for _, i in at]]).astype(np.int64)
    return sym, minutes


def reference(panel: Panel, sym: np.ndarray, minutes: np.ndarray,
              upto: int) -> dict[str, np.ndarray]:
    """Float64 two-pass level, σ bands and z of each row after minute ``upto``."""
    p = (panel.high + panel.low + panel.close) / 3.0
    tm = C.anchor_minutes(panel.ts).astype(np.int64)
    out = {k: np.full(len(sym), np.nan) for k in L.OUTPUTS}
    for r, (s, a) in enumerate(zip(sym, minutes, strict=True)):
        on = panel.valid[s, : upto + 1] & (tm[: upto + 1] >= a)
        v, x = panel.volume[s, : upto + 1][on], p[s, : upto + 1][on]
        if v.sum() <= 0:
            continue
        level = float((v * x).sum() / v.sum())
        sd = float(np.sqrt((v * (x - level) ** 2).sum() / v.sum()))
        # One price (a single bar, or flat bars): (v·x)/v can miss x by an ulp, which
        # made σ 1e-14 and z 1e12 here; σ below float64's resolution of the level is 0.
        sd = sd if sd > 8 * np.finfo(np.float64).eps * abs(level) else 0.0
        out["level"][r] = level
        for k in (1, 2, 3):
            out[f"up{k}"][r], out[f"dn{k}"][r] = level + k * sd, level - k * sd
        last = panel.close[s, : upto + 1][panel.valid[s, : upto + 1]][-1]
        out["z"][r] = (last - level) / sd if sd > 0 else np.nan
    return out


def _check(got: dict[str, mx.array], want: dict[str, np.ndarray], price: np.ndarray,
           where: str) -> None:
    for k in L.OUTPUTS:
        name = f"{LEVEL}_z" if k == "z" else LEVEL if k == "level" else f"{LEVEL}_{k}"
        assert_close(name, np.asarray(got[k], np.float64)[:, None], want[k][:, None], price,
                      where=f" {k}{where}")


def test_stepped_rows_match_float64_and_the_batch_form(panel: Panel) -> None:
    sym, minutes = _rows(panel)
    price = symbol_prices(panel.close)[sym]
    step = stepping.compile_step(L.rows_step)
    st = L.rows_init(sym, minutes)
    batch = {k: np.array(v) for k, v in C.anchored_batch(
        batch_inputs(panel.select([panel.symbols[s] for s in sym])), minutes).items()}
    t = len(panel.ts)
    for i in range(t):
        st, out = step(st, step_inputs(panel.batch(i)))
        if i % 97 == 0 or i == t - 1 or i in (500, 501, 503):
            _check(out, reference(panel, sym, minutes, i), price, f" at minute {i}")
        # batch vs step: the same numbers bar for bar (both float32, same moments)
        for k in ("level", "up3", "z"):
            a, b = np.asarray(out[k], np.float64), batch[k][:, i]
            assert np.array_equal(np.isnan(a), np.isnan(b)), (k, i)
    for k in L.OUTPUTS:
        name = f"{LEVEL}_z" if k == "z" else LEVEL if k == "level" else f"{LEVEL}_{k}"
        assert_close(name, np.asarray(out[k], np.float64)[:, None], batch[k][:, -1:], price,
                     where=f" batch {k}")


@pytest.mark.parametrize("cut", [390 + 200, 2 * 390 + 201])
def test_state_from_history_continues_like_stepping(panel: Panel, cut: int) -> None:
    """A new anchor days back gets its state from the history in closed form; the
    next minutes then step exactly as if every minute had been stepped."""
    sym, minutes = _rows(panel)
    price = symbol_prices(panel.close)[sym]
    step = stepping.compile_step(L.rows_step)
    stepped = L.rows_init(sym, minutes)
    for i in range(cut):
        stepped, _ = step(stepped, step_inputs(panel.batch(i)))
    warmed = L.rows_state_from_panel(panel.slice_time(0, cut), sym, minutes)
    # Values right away, before any further minute: already the reference's.
    _check(L.rows_outputs(warmed), reference(panel, sym, minutes, cut - 1), price, " warmed")
    for i in range(cut, min(cut + 60, len(panel.ts))):
        stepped, a = step(stepped, step_inputs(panel.batch(i)))
        warmed, b = step(warmed, step_inputs(panel.batch(i)))
        for k in L.OUTPUTS:
            name = f"{LEVEL}_z" if k == "z" else LEVEL if k == "level" else f"{LEVEL}_{k}"
            assert_close(name, np.asarray(b[k], np.float64)[:, None],
                         np.asarray(a[k], np.float64)[:, None], price, where=f" {k} at {i}")
    _check(b, reference(panel, sym, minutes, i), price, " after the warm")


def test_rows_added_removed_and_absent_symbols(panel: Panel) -> None:
    sym, minutes = _rows(panel)
    cut = 2 * 390 + 100
    hist = panel.slice_time(0, cut)
    first = L.rows_state_from_panel(hist, sym[:3], minutes[:3])
    added = L.concat_rows(first, L.rows_state_from_panel(hist, sym[3:], minutes[3:]))
    whole = L.rows_state_from_panel(hist, sym, minutes)
    for k in L.OUTPUTS:
        a, b = L.rows_outputs(added)[k], L.rows_outputs(whole)[k]
        assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True), k
    kept = L.take_rows(whole, np.array([4, 0]))
    assert np.array_equal(np.asarray(L.rows_outputs(kept)["level"]),
                          np.asarray(L.rows_outputs(whole)["level"])[[4, 0]], equal_nan=True)
    # Row 0's symbol leaves the batch: it gets no bar while the others go on.
    gone = L.with_symbols(whole, np.where(sym == 0, 0, sym), sym != 0)
    before = np.asarray(L.rows_outputs(gone)["level"])
    step = stepping.compile_step(L.rows_step)
    for i in range(cut, cut + 5):
        gone, out = step(gone, step_inputs(panel.batch(i)))
    level = np.asarray(out["level"])
    assert np.array_equal(level[sym == 0], before[sym == 0], equal_nan=True)
    want = reference(panel, sym, minutes, cut + 4)["level"]
    price = symbol_prices(panel.close)[sym]
    moved = sym != 0
    assert np.array_equal(np.isnan(level[moved]), np.isnan(want[moved]))
    ok = moved & ~np.isnan(want)
    assert np.all(np.abs(level[ok] - want[ok]) <= 1e-5 * price[ok])


def test_bad_source_is_refused(panel: Panel) -> None:
    with pytest.raises(ValueError, match="price source"):
        L.rows_state_from_panel(panel, np.array([0]), np.array([0]), source="vwap")


def test_adversarial_bars_from_1_to_5000_dollars() -> None:
    """Zero volume, flat bars, ties and a halt, $1 to $5,000: the closed-form state
    continues like stepping and both hold against the float64 reference."""
    from _panels import adversarial_panel

    panel = adversarial_panel()
    s = len(panel.symbols)
    zero = [int(np.flatnonzero((panel.volume[i] == 0) & panel.valid[i])[3]) for i in range(s)]
    rows = [(i, zero[i]) for i in range(s)] + [(2, 510), (0, 1), (s - 1, 777)]
    sym = np.array([r[0] for r in rows])
    minutes = C.anchor_minutes(panel.ts[[r[1] for r in rows]]).astype(np.int64)
    price = symbol_prices(panel.close)[sym]
    step = stepping.compile_step(L.rows_step)
    cut = 2 * 390 + 33
    stepped = L.rows_init(sym, minutes)
    for i in range(cut):
        stepped, _ = step(stepped, step_inputs(panel.batch(i)))
    warmed = L.rows_state_from_panel(panel.slice_time(0, cut), sym, minutes)
    _check(L.rows_outputs(warmed), reference(panel, sym, minutes, cut - 1), price, " warmed")
    for i in range(cut, cut + 30):
        stepped, a = step(stepped, step_inputs(panel.batch(i)))
        warmed, b = step(warmed, step_inputs(panel.batch(i)))
    _check(a, reference(panel, sym, minutes, cut + 29), price, " stepped")
    _check(b, reference(panel, sym, minutes, cut + 29), price, " warmed then stepped")
