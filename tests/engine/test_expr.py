"""The engine's expression language: grammar, errors with suggestions, one program for
many expressions, and the live window agreeing with the batch minute by minute."""

from __future__ import annotations

import numpy as np
import pytest

from engine.expr import (
    ExpressionError,
    LiveScans,
    Program,
    check_names,
    condition,
    evaluate,
    parse,
    prev_bar,
    prev_depth,
)

KNOWN = ["close", "open", "volume", "avwap_session", "avwap_session_up2", "rsi_14", "rvol"]
V = {
    "close": np.array([[10.0, 11.0, 9.0, 12.0]]),
    "open": np.array([[10.0, 10.0, 10.0, 10.0]]),
    "avwap_session": np.array([[10.5, 10.5, 10.5, 10.5]]),
    "rsi_14": np.array([[25.0, 50.0, 20.0, np.nan]]),
}


def test_crosses_infix_is_the_function() -> None:
    assert parse("close crosses above avwap_session") == \
        ("call", "cross_above", ("name", "close", 0), ("name", "avwap_session", 20))
    for a, b in [("close crosses above avwap_session", "cross_above(close, avwap_session)"),
                 ("close crosses below 10.5", "cross_below(close, 10.5)"),
                 ("close + 1 crosses above open * 1.1 and rsi_14 < 30",
                  "cross_above(close + 1, open * 1.1) and rsi_14 < 30")]:
        np.testing.assert_array_equal(condition(parse(a), V, (1, 4)),
                                      condition(parse(b), V, (1, 4)))
    np.testing.assert_array_equal(condition(parse("close crosses above avwap_session"), V,
                                            (1, 4)), [[False, True, False, True]])
    np.testing.assert_array_equal(condition(parse("close crosses below avwap_session"), V,
                                            (1, 4)), [[False, False, True, False]])


def test_precedence_arithmetic_and_logic() -> None:
    np.testing.assert_allclose(evaluate(parse("-close + 2 * (open - 1) / 2"), V),
                               [[-1.0, -2.0, 0.0, -3.0]])
    out = condition(parse("not close > 10 or rsi_14 < 30 and close < 10"), V, (1, 4))
    np.testing.assert_array_equal(out, [[True, False, True, False]])


@pytest.mark.parametrize(("text", "message"), [
    ("close crosses 3", "expected 'above' or 'below' after 'crosses' at '3' (column 15)"),
    ("close crosses above", "expected a number, a name or '(' at the end"),
    ("close crosses above 1 > 2", "chained comparison (use 'and')"),
    ("crosses above 1", "expected a number, a name or '(' at 'crosses'"),
    ("cross_abov(close, 1)", "unknown function 'cross_abov' (known: prev, cross_above, "
                             "cross_below); did you mean cross_above?"),
    ("(close > 1) crosses above 2", "need numbers, got a condition"),
    ("close and 1", "'and', 'or' and 'not' need conditions"),
    ("close + 1", "the signal must be a condition"),
])
def test_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as err:
        Program([parse(text)], conditions=True)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_names_suggest_registry_names() -> None:
    with pytest.raises(ExpressionError, match=r"'avwap_sesion_up2' \(did you mean "
                                              r"avwap_session_up2"):
        check_names(parse("close > avwap_sesion_up2 and rvol > 2"), KNOWN)


def test_the_registry_names_are_known() -> None:
    from engine.expr import known_names
    from engine.registry import output_names

    known = known_names()
    assert {"close", "volume", "avwap_session_up2", "rvol"} <= set(known)
    assert set(output_names()) <= set(known)


def test_one_program_shares_parts_and_types_once() -> None:
    trees = [parse("close > avwap_session"), parse("close > avwap_session and rsi_14 < 30"),
             parse("close crosses above avwap_session")]
    prog = Program(trees, conditions=True)
    assert prog.names == ["close", "avwap_session", "rsi_14"]
    # close, avwap_session, close>avwap (shared by all three), rsi_14, 30, rsi<30, and,
    # prev(close), prev(avwap_session), prev<=prev, cross: 11 slots (15 unshared)
    assert prog.size == 11
    for tree, got in zip(trees, prog.run(V), strict=True):
        np.testing.assert_array_equal(got, evaluate(tree, V))


def test_prev_depth_sizes_the_live_window() -> None:
    assert prev_depth(parse("close > 1")) == 0
    assert prev_depth(parse("close crosses above open")) == 1
    assert prev_depth(parse("prev(prev(close)) > 1 or cross_above(prev(close), open)")) == 2


def _random(s: int, t: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    vals = {n: rng.normal(100, 1, (s, t)).astype(np.float32) for n in ("close", "open")}
    vals["avwap_session"] = np.full((s, t), 100, np.float32)  # exact ties with close
    vals["close"][rng.random((s, t)) < 0.2] = 100
    vals["rsi_14"] = np.where(rng.random((s, t)) < 0.1, np.nan,
                              rng.uniform(0, 100, (s, t))).astype(np.float32)
    valid = rng.random((s, t)) > 0.3
    return vals, valid


SCANS = ["close crosses above avwap_session", "close crosses below avwap_session and rsi_14 > 40",
         "prev(close) < close and close > open", "cross_above(prev(close), prev(open))",
         "rsi_14 < 30 or (close - open) / open * 100 > 0.5",
         # a repeated scan, one that is a part of another, a constant, a bare comparison
         "close crosses above avwap_session", "close > open", "1 > 0",
         "close > open and rsi_14 < 50"]


def test_live_window_matches_the_batch_minute_by_minute() -> None:
    s, t = 7, 200
    vals, valid = _random(s, t, 1)
    names = tuple(vals)
    batch = Program([parse(x) for x in SCANS], conditions=True).run(vals, prev_bar(valid))
    live = LiveScans(SCANS, KNOWN)
    mat = np.stack([vals[n] for n in names], axis=2)  # [S, T, F]
    hits = 0
    for i in range(t):
        got = live.step(np.datetime64(i, "m"), names, mat[:, i], valid[:, i])
        if i % 17 == 0:  # a revised minute: the same minute again changes nothing
            got = live.step(np.datetime64(i, "m"), names, mat[:, i], valid[:, i])
        want = np.stack([np.broadcast_to(b, (s, t))[:, i] & valid[:, i] for b in batch])
        np.testing.assert_array_equal(got, want, err_msg=f"minute {i}")
        hits += int(got.sum())
    assert hits > 50


def test_a_jump_back_starts_the_window_afresh() -> None:
    live = LiveScans(["close crosses above open"])
    names = ("close", "open")
    ok = np.array([True])
    live.step(np.datetime64(10, "m"), names, np.array([[1.0, 2.0]]), ok)
    assert live.step(np.datetime64(11, "m"), names, np.array([[3.0, 2.0]]), ok)[0, 0]
    assert not live.step(np.datetime64(5, "m"), names, np.array([[3.0, 2.0]]), ok)[0, 0]
