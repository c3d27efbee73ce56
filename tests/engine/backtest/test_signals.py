"""Signals on real sessions: young anchors, history before the start, crosses over gaps,
the session's end from the calendar, and the run's notes (hand-made bars and SPY 2011)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from _panels import make_panel

from engine import bands
from engine.backtest import strategies
from engine.backtest.bars import prev_bar
from engine.backtest.grid import build
from engine.backtest.result import BacktestResult, Settings
from engine.backtest.runner import MLXBacktester, decide
from engine.backtest.sim import REASONS, SESSION_END
from storage.types import Panel

SETTINGS = Settings(commission_min=0.0, commission_per_share=0.0, slippage_bps=0.0)



def _with(panel: Panel, **arrays: np.ndarray) -> Panel:
    fields = {f: getattr(panel, f) for f in ("open", "high", "low", "close", "volume", "valid")}
    fields.update(arrays)
    return Panel(symbols=panel.symbols, ts=panel.ts, segments=panel.segments,
                 minute_of_session=panel.minute_of_session,
                 session_minutes=panel.session_minutes, hours=panel.hours, **fields)


def _keep(panel: Panel, keep: np.ndarray) -> Panel:
    """``panel`` with only the bars where ``keep`` (the others become missing minutes)."""
    valid = panel.valid & keep
    nan = lambda a: np.where(valid, a, np.nan)  # noqa: E731
    return _with(panel, open=nan(panel.open), high=nan(panel.high), low=nan(panel.low),
                 close=nan(panel.close), volume=np.where(valid, panel.volume, 0.0), valid=valid)


def _run(panel: Panel, start: Any, end: Any, strategy: str, params: dict[str, Any],
         settings: Settings = SETTINGS) -> BacktestResult:
    return MLXBacktester().run_vectorized_backtest(
        list(panel.symbols), start, end, strategy, params, settings, panel=panel)


# -- 1. zero-width bands on a session's first bars ---------------------------------------

def test_bars_since_anchor_counts_traded_bars_and_restarts() -> None:
    valid = np.array([[True, True, False, True, True, True]])
    volume = np.array([[10.0, 0.0, 0.0, 5.0, 5.0, 5.0]])
    segment = np.array([-1, 7, 7, 7, 8, 8])
    got = bands.bars_since_anchor(valid, volume, segment)
    # -1 counts nothing; a zero-volume bar and a missing minute add nothing.
    np.testing.assert_array_equal(got, [[0, 0, 0, 1, 1, 2]])


def test_incremental_count_equals_the_batch() -> None:
    panel = make_panel(s=3, seed=2, missing=0.2)
    panel = _with(panel, volume=np.where(np.arange(panel.shape[1]) % 7 == 0, 0.0, panel.volume))
    live = bands.AnchorBars()
    for t in range(panel.shape[1]):
        b = panel.batch(t)
        got = live.step(b.ts, b.segments, b.valid & (b.volume > 0), b.minute_of_session)
        for kind in ("session", "week"):
            want = bands.bars_since_anchor(panel.valid, panel.volume, panel.segments[kind])[:, t]
            np.testing.assert_array_equal(got[kind], want, err_msg=f"{kind} at {t}")


def _young(panel: Panel, kind: str = "session") -> np.ndarray:
    return bands.bars_since_anchor(panel.valid, panel.volume, panel.segments[kind]) \
        < bands.MIN_BARS


@pytest.mark.parametrize("name,params", [
    ("avwap-reversion", {"k": 1}), ("avwap-reversion", {"k": 2}), ("avwap-reclaim", {}),
    ("expr", {"entry": "cross_below(close, avwap_session_dn1)"}),
])
def test_no_signal_on_a_young_or_zero_width_band(name: str, params: dict[str, Any]) -> None:
    panel = make_panel(s=4, seed=3, missing=0.05)
    strat = strategies.get(name)
    sig = decide(panel, 0, strat, build(strat, params))
    entries = (sig[0] | sig[2])[0]
    assert entries.any()
    # No entry is decided while the band is young, nor on the first bar it is valid
    # (a cross compares with the previous bar, whose band was not valid).
    young = _young(panel)
    assert not (entries & young).any()
    assert not (entries & (prev_young := np.take_along_axis(
        young, np.maximum(prev_bar(panel.valid), 0), axis=1))).any(), prev_young.sum()


def test_spy_reversion_never_enters_on_the_opening_bars(spy: Panel) -> None:
    res = _run(spy, "2011-03-01", "2011-03-31", "avwap-reversion", {"k": 2})
    tr = res.trades
    assert len(tr) > 20
    mos = spy.minute_of_session[tr.entry_idx]
    # The signal is decided at the close before the fill: at least MIN_BARS + 1 bars in.
    assert mos.min() >= bands.MIN_BARS + 1, np.bincount(mos)[:10]


# -- 2. anchors with their history before --start ----------------------------------------

def _trades(res: BacktestResult, since: np.datetime64) -> set[tuple[Any, ...]]:
    tr = res.trades
    out = set()
    for i in range(len(tr)):
        ts = res.ts[tr.entry_idx[i]]
        if ts >= since:
            out.add((int(tr.row[i]), ts, res.ts[tr.exit_idx[i]], float(tr.direction[i]),
                     float(tr.size[i]), float(tr.entry_price[i]), float(tr.exit_price[i])))
    return out


@pytest.mark.parametrize("anchor", ["week", "month"])
def test_a_later_start_trades_like_an_earlier_one(anchor: str) -> None:
    panel = make_panel(s=3, seed=3, start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30),
                       missing=0.02)
    params = {"anchor": anchor}
    late = _run(panel, "2024-04-17", "2024-04-30", "avwap-reclaim", params)
    early = _run(panel, "2024-04-01", "2024-04-30", "avwap-reclaim", params)
    since = late.ts[0]
    got, want = _trades(late, since), _trades(early, since)
    assert len(want) > 5
    assert got == want
    assert late.partial == () and not any("partial" in n for n in late.notes)


def test_missing_history_marks_the_anchor_partial() -> None:
    panel = make_panel(s=2, seed=8, start=dt.date(2024, 4, 10), end=dt.date(2024, 4, 30))
    res = _run(panel, "2024-04-17", "2024-04-30", "avwap-reclaim", {"anchor": "month"})
    assert res.partial == ("month",)
    assert res.combo_label(0) == "anchor=month*"
    assert any(n.startswith("month* is partial: 2 of 2 symbols") for n in res.notes), res.notes
    # A start on the week's first session needs nothing before it.
    ok = _run(panel, "2024-04-15", "2024-04-30", "avwap-reclaim", {"anchor": "week"})
    assert ok.partial == ()


def test_spy_month_anchor_uses_march_before_the_start(spy: Panel) -> None:
    params = {"anchor": "month", "k": 1}
    late = _run(spy, "2011-03-16", "2011-03-31", "avwap-reversion", params)
    early = _run(spy, "2011-03-01", "2011-03-31", "avwap-reversion", params)
    want = _trades(early, late.ts[0])
    assert len(want) > 0
    assert _trades(late, late.ts[0]) == want


# -- 3. crosses compare with the previous bar --------------------------------------------

def _steps(panel: Panel, every: int) -> Panel:
    """A panel whose symbol has a bar every ``every`` minutes, closing 99, 101, 99, …"""
    t = panel.shape[1]
    keep = (np.arange(t) % every == 0)[None, :]
    n = np.cumsum(keep[0]) - 1
    px = np.repeat(np.where(n % 2 == 0, 99.0, 101.0)[None, :], panel.shape[0], 0)
    flat = _with(panel, open=px, high=px, low=px, close=px)
    return _keep(flat, np.repeat(keep, panel.shape[0], 0))


@pytest.mark.parametrize("every", [2, 10])
def test_crosses_over_missing_minutes_and_ten_minute_bars(every: int) -> None:
    panel = _steps(make_panel(s=1, seed=1, missing=0.0), every)
    strat = strategies.get("expr")
    sig = decide(panel, 0, strat, build(strat, {"entry": "cross_above(close, 100)",
                                                "exit": "prev(close) > 100"}))
    bars = np.nonzero(panel.valid[0])[0]
    ups = bars[1:][np.diff(panel.close[0, bars]) > 0]  # every bar at 101 after one at 99
    assert len(ups) > 10
    np.testing.assert_array_equal(np.nonzero(sig[0][0, 0])[0], ups)
    np.testing.assert_array_equal(np.nonzero(sig[1][0, 0])[0], bars[2::2])


def test_spy_ten_minute_bars_cross_like_pandas(spy: Panel) -> None:
    import pandas as pd

    t = spy.shape[1]
    ten = _keep(spy, (np.arange(t) % 10 == 0)[None, :])
    level = float(np.nanmedian(spy.close)) + 0.005  # between two cents: no ties
    strat = strategies.get("expr")
    sig = decide(ten, 0, strat, build(strat, {"entry": f"cross_above(close, {level})"}))
    c = pd.Series(ten.close[0]).dropna()
    want = c.index[(c > level) & (c.shift(1) <= level)].to_numpy()
    assert len(want) > 5
    np.testing.assert_array_equal(np.nonzero(sig[0][0, 0])[0], want)


# -- 4. the session's end comes from the calendar ----------------------------------------

def test_session_end_exit_does_not_move_when_the_last_bars_are_missing() -> None:
    panel = make_panel(s=2, seed=4, missing=0.0)
    cut = panel.minute_of_session >= panel.session_minutes - 20
    thin = _keep(panel, ~cut[None, :])
    params = {"entry": "close > 0"}  # in a position all day: every session ends one
    full = _run(panel, "2024-03-05", "2024-03-07", "expr", params)
    gap = _run(thin, "2024-03-05", "2024-03-07", "expr", params)
    for res, p in ((full, panel), (gap, thin)):
        ends = res.trades.reason == SESSION_END
        assert ends.sum() == 2 * 3, REASONS
        idx = res.trades.exit_idx[ends]
        # The calendar's last minute (15:59), with or without a bar there.
        assert (p.minute_of_session[idx] == p.session_minutes[idx] - 1).all()
    np.testing.assert_array_equal(full.trades.exit_idx[full.trades.reason == SESSION_END],
                                  gap.trades.exit_idx[gap.trades.reason == SESSION_END])
    # Without bars after 15:39 the exit fills at the last close before the gap.
    ends = gap.trades.reason == SESSION_END
    rows, idx = gap.trades.row[ends], gap.trades.exit_idx[ends]
    last = np.array([thin.close[r, np.nonzero(thin.valid[r, :i])[0][-1]]
                     for r, i in zip(rows, idx, strict=True)])
    np.testing.assert_allclose(gap.trades.exit_price[ends], last, rtol=0, atol=1e-12)


def test_spy_session_end_from_the_calendar(spy: Panel) -> None:
    cut = spy.minute_of_session >= spy.session_minutes - 7
    thin = _keep(spy, ~cut[None, :])
    res = _run(thin, "2011-03-01", "2011-03-31", "expr", {"entry": "close > 0"})
    ends = res.trades.reason == SESSION_END
    assert ends.sum() >= 20
    idx = res.trades.exit_idx[ends]
    assert (thin.minute_of_session[idx] == thin.session_minutes[idx] - 1).all()


# -- 7. half days and zero volume are in the notes ---------------------------------------

def test_half_days_and_zero_volume_are_noted() -> None:
    panel = make_panel(s=2, seed=6, start=dt.date(2024, 11, 26), end=dt.date(2024, 12, 3))
    vol = panel.volume.copy()
    vol[0, 100:103] = 0.0
    res = _run(_with(panel, volume=vol), "2024-11-26", "2024-12-03", "orb", {"minutes": 5})
    text = " ".join(res.notes)
    assert "1 half day(s) (2024-11-29)" in text, res.notes
    zero = int((panel.valid & (vol <= 0)).sum())
    assert f"{zero:,} bars have zero volume" in text


def test_statistics_report_progress_on_a_grid() -> None:
    panel = make_panel(s=2, seed=6)
    seen: list[tuple[str, float]] = []
    MLXBacktester().run_vectorized_backtest(
        list(panel.symbols), "2024-03-05", "2024-03-07", "orb",
        {"minutes": [5, 15], "stop_pct": [0.1, 0.2, 0.3, 0.4, 0.5]}, panel=panel,
        progress=lambda stage, f: seen.append((stage, f)))
    stats = [f for stage, f in seen if stage == "statistics"]
    assert len(stats) >= 10 and stats == sorted(stats)
