"""The leave test of an alerting scan (``engine.expr.deadband.widen``): price comparisons
loosened by the dead band, tightened under ``not``, a cross read as its state, and other
comparisons left alone; it always holds where the scan does."""

from __future__ import annotations

import numpy as np
import pytest

from engine.expr import parse
from engine.expr.deadband import widen
from engine.expr.program import Program

BP5 = 5e-4


def run(text: str, **values: float | np.ndarray) -> tuple[bool, bool]:
    """(the scan, its leave test) at one bar with the previous bar equal to it."""
    tree = parse(text)
    prog = Program([tree, widen(tree, BP5)], conditions=True)
    vals = {k: np.array([v, v], np.float32).reshape(1, 2) if np.ndim(v) == 0
            else np.asarray(v, np.float32).reshape(1, 2) for k, v in values.items()}
    raw, wide = prog.run(vals)
    return bool(np.broadcast_to(raw, (1, 2))[0, 1]), bool(np.broadcast_to(wide, (1, 2))[0, 1])


def test_a_price_comparison_is_loosened_by_the_dead_band() -> None:
    band = 101.0
    assert run("close > avwap_session_up2", close=band * 1.0001, avwap_session_up2=band) \
        == (True, True)
    # 3 bp under the band: out of the scan, still inside its dead band (not left)
    assert run("close > avwap_session_up2", close=band * (1 - 3e-4), avwap_session_up2=band) \
        == (False, True)
    # 8 bp under: left
    assert run("close > avwap_session_up2", close=band * (1 - 8e-4), avwap_session_up2=band) \
        == (False, False)
    assert run("close < 50", close=50.02) == (False, True)  # a price and a number
    assert run("close < 50", close=50.05) == (False, False)


def test_not_tightens_and_a_cross_stays_in_its_state() -> None:
    assert run("not close > ema_9", close=100.03, ema_9=100.0) == (False, True)
    assert run("not close > ema_9", close=100.08, ema_9=100.0) == (False, False)
    # a cross is an event of one bar; its leave test is the state it crossed into
    now = run("close crosses above avwap_session", close=[99.0, 100.5], avwap_session=100.0)
    assert now == (True, True)
    assert run("close crosses above avwap_session", close=99.97, avwap_session=100.0) \
        == (False, True)
    assert run("close crosses above avwap_session", close=99.9, avwap_session=100.0) \
        == (False, False)


@pytest.mark.parametrize("text", ["rvol > 2", "rsi_14 < 30", "close - avwap_session > atr_14",
                                  "close == avwap_session"])
def test_comparisons_without_a_price_scale_are_left_alone(text: str) -> None:
    tree = parse(text)
    assert widen(tree, BP5) == tree


def test_a_price_plus_a_move_is_a_price() -> None:
    text = "close > avwap_session + 2 * atr_14 and rvol > 2"
    assert run(text, close=101.97, avwap_session=100.0, atr_14=1.0, rvol=3.0) == (False, True)
    assert run(text, close=101.97, avwap_session=100.0, atr_14=1.0, rvol=1.5) == (False, False)


def test_the_leave_test_holds_wherever_the_scan_does() -> None:
    rng = np.random.default_rng(11)
    texts = ["close > avwap_session_up2 and rvol > 2", "not (close < ema_9 or high > sma_20)",
             "close crosses below avwap_session_dn1", "prev(close) > 1.001 * ema_9",
             "(close > ema_9) and not (low < avwap_session - atr_14)"]
    n = 20_000
    vals = {k: (100 + rng.normal(0, 0.3, (1, n))).astype(np.float32)
            for k in ("close", "avwap_session_up2", "avwap_session_dn1", "ema_9", "high",
                      "sma_20", "low", "avwap_session")}
    vals["rvol"] = rng.uniform(0, 4, (1, n)).astype(np.float32)
    vals["atr_14"] = rng.uniform(0, 0.5, (1, n)).astype(np.float32)
    trees = [parse(t) for t in texts]
    out = Program([*trees, *(widen(t, BP5) for t in trees)], conditions=True).run(vals)
    for i, t in enumerate(texts):
        raw, wide = out[i], out[len(texts) + i]
        assert raw.any() and not (raw & ~wide).any(), t
        assert (wide & ~raw).any(), t  # and it does widen
