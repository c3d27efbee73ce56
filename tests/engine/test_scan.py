"""Scans over a panel equal a NumPy evaluation of the same expression over the batch
registry (SPY bars and a random panel), and a cross is the backtester's signal."""

from __future__ import annotations

import numpy as np
import pytest
from _panels import make_panel, spy_panel

from engine import bands
from engine.backtest import strategies
from engine.backtest.grid import build
from engine.backtest.runner import decide
from engine.expr.batch import scan_panel
from storage.types import Panel


def _registry(panel: Panel, names: list[str]) -> dict[str, np.ndarray]:
    """The batch registry's outputs and the prices, with the band rule, as float32."""
    import mlx.core as mx

    from engine.compute import compute_outputs
    from engine.inputs import batch_inputs

    cols = compute_outputs(batch_inputs(panel), names)
    mx.eval(list(cols.values()))
    v = {k: np.array(a) for k, a in cols.items()}
    v |= {f: getattr(panel, f).astype(np.float32) for f in ("open", "close", "volume")}
    return bands.mask(v, panel.valid, panel.volume, panel.segments)


def _prev(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each symbol's value at its previous bar, one symbol at a time (the plain way)."""
    out = np.full(x.shape, np.nan, dtype=np.float64)
    for s in range(x.shape[0]):
        bars = np.nonzero(valid[s])[0]
        out[s, bars[1:]] = x[s, bars[:-1]]
        gaps = np.nonzero(~valid[s])[0]  # a minute without a bar: its previous bar
        j = np.searchsorted(bars, gaps) - 1
        out[s, gaps[j >= 0]] = x[s, bars[j[j >= 0]]]
    return out


def _numpy(panel: Panel) -> list[tuple[str, np.ndarray]]:
    names = ["avwap_session", "avwap_session_up1", "avwap_session_up2", "avwap_session_dn1",
             "rvol", "rsi_14", "ema_9"]
    v = _registry(panel, names)
    c, o, ok = v["close"], v["open"], panel.valid
    pc, pa = _prev(c, ok), _prev(v["avwap_session"], ok)
    pe = _prev(v["ema_9"], ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [
            ("close > avwap_session_up2 and rvol > 2", (c > v["avwap_session_up2"])
             & (v["rvol"] > 2)),
            ("close crosses above avwap_session", (c > v["avwap_session"]) & (pc <= pa)),
            ("close crosses below ema_9 or rsi_14 < 30", ((c < v["ema_9"]) & (pc >= pe))
             | (v["rsi_14"] < 30)),
            ("not (close - open) / open * 100 > 0.05 and volume > 0",
             ~((c - o) / o * 100 > 0.05) & (v["volume"] > 0)),
            ("close crosses above avwap_session_dn1 and rsi_14 > 20",
             (c > v["avwap_session_dn1"]) & (pc <= _prev(v["avwap_session_dn1"], ok))
             & (v["rsi_14"] > 20)),
        ]


def _check(panel: Panel, min_hits: int) -> None:
    cases = _numpy(panel)
    got = scan_panel(panel, [text for text, _ in cases])
    for (text, want), g in zip(cases, got, strict=True):
        np.testing.assert_array_equal(g, want & panel.valid, err_msg=text)
        assert g.sum() >= min_hits, text


def test_scan_equals_numpy_on_a_random_panel() -> None:
    _check(make_panel(s=6, seed=11, missing=0.1), 3)


def test_scan_equals_numpy_on_spy() -> None:
    spy = spy_panel(hours="regular")
    if spy is None:
        pytest.skip("../shared/data/spy-2011 not present")
    _check(spy, 2)


@pytest.mark.parametrize("entry", ["close crosses above avwap_session_up1",
                                   "cross_below(close, avwap_session) and rvol > 1",
                                   "prev(close) crosses below prev(ema_9)"])
def test_crosses_are_the_backtesters_signal(entry: str) -> None:
    panel = make_panel(s=5, seed=2, missing=0.15)
    strat = strategies.get("expr")
    sig = decide(panel, 0, strat, build(strat, {"entry": entry}))[0][0]
    got = scan_panel(panel, [entry])[0]
    assert sig.sum() > 3
    np.testing.assert_array_equal(got, sig)
