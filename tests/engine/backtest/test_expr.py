"""The expression language: what it accepts, and one clear error for what it does not."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backtest.expr import ExpressionError, check_names, condition, evaluate, parse

KNOWN = ["close", "open", "volume", "avwap_session", "rsi_14", "sma_20"]
V = {
    "close": np.array([[10.0, 11.0, 9.0, 12.0]]),
    "open": np.array([[10.0, 10.0, 10.0, 10.0]]),
    "avwap_session": np.array([[10.5, 10.5, 10.5, 10.5]]),
    "rsi_14": np.array([[25.0, 50.0, 20.0, np.nan]]),
    "sma_20": np.array([[10.0, 10.0, 10.0, 10.0]]),
}


def test_precedence_and_values() -> None:
    out = condition(parse("close > avwap_session and rsi_14 < 30 or not close >= 10"), V, (1, 4))
    np.testing.assert_array_equal(out, [[False, False, True, False]])
    np.testing.assert_allclose(evaluate(parse("-close + 2 * (open - 1) / 2"), V),
                               [[-1.0, -2.0, 0.0, -3.0]])
    np.testing.assert_array_equal(condition(parse("cross_above(close, avwap_session)"), V,
                                            (1, 4)), [[False, True, False, True]])
    np.testing.assert_array_equal(condition(parse("prev(close) < close"), V, (1, 4)),
                                  [[False, True, False, True]])
    # NaN compares false: no signal from a value not yet warmed up.
    assert not condition(parse("rsi_14 < 100"), V, (1, 4))[0, 3]


@pytest.mark.parametrize(("text", "message"), [
    ("", "expression: empty"),
    ("close >", "expected a number, a name or '(' at the end (column 8)"),
    ("close > > 1", "at '>' (column 9)"),
    ("close @ 1", "unexpected '@' at column 7"),
    ("(close > 1", "expected ')' at the end"),
    ("close > 1 )", "unexpected at ')'"),
    ("1 < close < 3", "chained comparison (use 'and')"),
    ("foo(close)", "unknown function 'foo' (known: prev, cross_above, cross_below)"),
    ("prev(close, open)", "prev() takes 1 argument(s), got 2"),
    ("close and rsi_14 < 3", "'and', 'or' and 'not' need conditions, got a number"),
    ("(close > 1) + 1", "need numbers, got a condition"),
    ("close + 1", "the signal must be a condition"),
])
def test_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as err:
        tree = parse(text)
        condition(tree, V, (1, 4))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_names_are_reported_with_suggestions() -> None:
    with pytest.raises(ExpressionError, match=r"unknown name 'avwap_sesion' \(did you mean "
                       r"avwap_session\?\); 'rsi14' \(did you mean rsi_14\?\)"):
        check_names(parse("close > avwap_sesion and rsi14 < 30"), KNOWN)
    with pytest.raises(ExpressionError, match=r"unknown name 'zzz'$"):
        check_names(parse("zzz > 1"), KNOWN)
    assert check_names(parse("close > sma_20"), KNOWN) == ["close", "sma_20"]


def test_never_evaluates_python() -> None:
    for text in ("__import__('os')", "close.__class__", "[1]", "close; 1", "lambda: 1"):
        with pytest.raises(ExpressionError):
            check_names(parse(text), KNOWN)
