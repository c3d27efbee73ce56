"""Alert rules: crossing detection on hand-made Snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from engine.snapshot import Snapshot
from tui.alerts import AlertBook, AlertRule, output_name

NAMES = ("avwap_session", "avwap_session_up2")


def snap(last: float, level: float, up2: float = np.nan, minute: int = 0) -> Snapshot:
    return Snapshot(
        # 10:30 New York: the session anchor is an hour old (engine.bands' rule holds)
        ts=np.datetime64("2025-11-21T15:30") + np.timedelta64(minute, "m"),
        symbols=("AAPL",), names=NAMES, values=np.array([[level, up2]], dtype=np.float32),
        last=np.array([last], dtype=np.float32), volume=np.zeros(1), valid=np.ones(1, bool),
        regime=np.zeros(1, np.int8),
    )


def test_fires_on_each_cross_not_on_touch() -> None:
    book = AlertBook()
    book.add(AlertRule("AAPL", "session", "level"))
    assert book.evaluate(snap(99, 100)) == []  # first side seen: no cross yet
    assert book.evaluate(snap(100, 100, minute=1)) == []  # touching is not crossing
    hits = book.evaluate(snap(101, 100, minute=2))
    assert [h.direction for h in hits] == ["up"]
    assert book.evaluate(snap(102, 100, minute=3)) == []
    assert [h.direction for h in book.evaluate(snap(98, 100, minute=30))] == ["down"]
    assert len(book.history) == 2 and "crosses session AVWAP" in book.history[0].message


def test_nan_level_forgets_the_side_and_removed_rule_is_silent() -> None:
    book = AlertBook()
    rule = book.add(AlertRule("AAPL", "session", "up2"))
    book.evaluate(snap(99, 90, up2=100))
    book.evaluate(snap(99, 90, up2=np.nan))  # new segment: no level yet
    assert book.evaluate(snap(101, 90, up2=100)) == []
    book.remove(rule.id)
    assert book.evaluate(snap(99, 90, up2=100)) == []


def test_unknown_symbol_is_skipped_and_bad_band_rejected() -> None:
    book = AlertBook()
    book.add(AlertRule("MSFT", "session", "level"))
    assert book.evaluate(snap(1, 2)) == []
    with pytest.raises(ValueError):
        AlertRule("AAPL", "session", "up4")
    assert output_name("week", "dn3") == "avwap_week_dn3"


def test_a_price_hugging_the_level_does_not_fire_every_minute() -> None:
    """Issue 17: 35 firings a day around AAPL's session AVWAP; now a dead band and a cooldown."""
    book = AlertBook()
    book.add(AlertRule("AAPL", "session", "level"))
    # Inside the dead band (5 bp of 100 = 0.05): never a side, never a firing.
    wiggle = [book.evaluate(snap(100 + (0.02 if m % 2 else -0.02), 100, minute=m))
              for m in range(60)]
    assert sum(map(len, wiggle)) == 0
    # Beyond the band every minute for an hour: at most one firing per 10 minutes.
    swing = [book.evaluate(snap(100 + (0.3 if m % 2 else -0.3), 100, minute=60 + m))
             for m in range(60)]
    fired = [h for hits in swing for h in hits]
    assert 1 <= len(fired) <= 6
    gaps = np.diff([h.ts for h in fired]).astype(int)
    assert (gaps >= 10).all()


def test_a_cross_that_holds_fires_after_the_cooldown() -> None:
    book = AlertBook()
    book.add(AlertRule("AAPL", "session", "level"))
    book.evaluate(snap(99, 100))
    assert [h.direction for h in book.evaluate(snap(101, 100, minute=1))] == ["up"]
    assert book.evaluate(snap(99, 100, minute=3)) == []  # back down inside the cooldown
    assert [h.direction for h in book.evaluate(snap(99, 100, minute=11))] == ["down"]


def test_rules_persist_across_restarts(tmp_path) -> None:
    path = tmp_path / "cfg" / "alerts.json"
    book = AlertBook(path)
    book.add(AlertRule("AAPL", "session", "up2"))
    gone = book.add(AlertRule("MSFT", "year", "level"))
    book.remove(gone.id)
    again = AlertBook(path)  # the next console start
    assert [(r.symbol, r.anchor, r.band) for r in again.rules] == [("AAPL", "session", "up2")]
    assert again.load_error == ""
    path.write_text("{not json")
    broken = AlertBook(path)
    assert broken.rules == [] and str(path) in broken.load_error


def _open_snap(minute: int, last: float, level: float, up1: float) -> Snapshot:
    """AAPL at 09:30 + ``minute`` New York (14:30 UTC on 2025-11-21), one traded bar."""
    return Snapshot(
        ts=np.datetime64("2025-11-21T14:30") + np.timedelta64(minute, "m"),
        symbols=("AAPL",), names=("avwap_session", "avwap_session_up1", "avwap_session_up2"),
        values=np.array([[level, up1, level + 2 * (up1 - level)]], dtype=np.float32),
        last=np.array([last], dtype=np.float32), volume=np.ones(1), valid=np.ones(1, bool),
        regime=np.zeros(1, np.int8))


def test_a_young_session_band_never_fires() -> None:
    # The session's first bar has sigma 0 (up1 == level) and the next ones are a
    # sample of two to four bars: engine.bands' rule (5 bars with volume, width > 0)
    # keeps the +2 sigma band silent however the price jumps across it.
    book = AlertBook()
    book.add(AlertRule("AAPL", "session", "up2"))
    prices = [99.0, 101.0, 99.0, 101.0, 99.0]
    for m, p in enumerate(prices):
        up1 = 100.0 if m == 0 else 100.2
        assert book.evaluate(_open_snap(m, p, 100.0, up1)) == [], m
    # From the fifth bar on, the band counts: below it, then a cross above it fires.
    assert book.evaluate(_open_snap(5, 99.0, 100.0, 100.2)) == []
    hits = book.evaluate(_open_snap(6, 101.0, 100.0, 100.2))
    assert [h.direction for h in hits] == ["up"]


def test_a_zero_width_band_is_not_a_level() -> None:
    book = AlertBook()
    book.add(AlertRule("AAPL", "session", "up2"))
    for m in range(10):  # an hour in, but sigma is 0: the band is no level
        assert book.evaluate(_open_snap(60 + m, 99.0 + 2 * (m % 2), 100.0, 100.0)) == []
