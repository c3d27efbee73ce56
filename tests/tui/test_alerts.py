"""Alert rules: crossing detection on hand-made Snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from engine.snapshot import Snapshot
from tui.alerts import AlertBook, AlertRule, output_name

NAMES = ("avwap_session", "avwap_session_up2")


def snap(last: float, level: float, up2: float = np.nan, minute: int = 0) -> Snapshot:
    return Snapshot(
        ts=np.datetime64("2025-11-21T14:30") + np.timedelta64(minute, "m"),
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
