"""The console's AnchorBook on a real cache: add, step, revise, jump back, delete.

The history function is the real cache panel cut at the minute last stepped
(what ``Controller.panel_until_now`` returns); every value is checked against
a float64 two-pass reference from the cache's bars.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from storage import demo
from storage.anchors import AnchorError, list_anchors
from storage.cache import Cache
from storage.types import Panel
from tui.runtime.anchors import AnchorBook, output_name

SYMBOLS = ("SPY", "AAPL", "MSFT")


class History:
    """The bars of a cache panel up to the minute last stepped."""

    def __init__(self, panel: Panel) -> None:
        self.panel, self.now = panel, -1

    def __call__(self, symbols) -> Panel | None:
        have = [s for s in symbols if s in self.panel.symbols]
        if not have:
            return None
        return self.panel.select(have).slice_time(0, self.now + 1)


@pytest.fixture
def setup(tmp_path: Path):
    with Cache(tmp_path / "b.duckdb") as cache:
        demo.seed_cache(cache, SYMBOLS, 3, end=demo.DEFAULT_END)
        dates = demo.sessions_for(3, demo.DEFAULT_END)
        panel = cache.load_panel(SYMBOLS, dates[0], dates[-1])
        yield cache, panel


def want(panel: Panel, symbol: str, ts: np.datetime64, upto: int) -> dict[str, float]:
    """Float64 reference of an anchor at ``ts`` after minute ``upto``."""
    i = panel.symbols.index(symbol)
    p = (panel.high[i] + panel.low[i] + panel.close[i]) / 3.0
    on = panel.valid[i, : upto + 1] & (panel.ts[: upto + 1] >= ts)
    v, x = panel.volume[i, : upto + 1][on], p[: upto + 1][on]
    level = float((v * x).sum() / v.sum())
    sd = float(np.sqrt((v * (x - level) ** 2).sum() / v.sum()))
    last = panel.close[i, : upto + 1][panel.valid[i, : upto + 1]][-1]
    return {"level": level, "up2": level + 2 * sd, "dn3": level - 3 * sd,
            "z": (last - level) / sd}


def close_to(lv, ref: dict[str, float], price: float) -> None:
    for k in ("level", "up2", "dn3"):
        assert abs(lv.value(k) - ref[k]) <= 1e-5 * price, (k, lv.value(k), ref[k])
    assert abs(lv.z - ref["z"]) <= 1e-4 * (1 + abs(ref["z"]))


def test_book_adds_steps_revises_rewinds_and_deletes(setup) -> None:
    cache, panel = setup
    hist = History(panel)
    book = AnchorBook(cache, hist)
    now = 2 * 390 + 60  # Friday 10:30 ET
    for t in range(now - 3, now + 1):  # the console stepped these minutes
        hist.now = t
        book.step(panel.batch(t))
    assert book.levels() == {}
    # Anchor on Wednesday's 11:00 bar: values right away, from the history.
    wed = panel.ts[90]
    a = book.add("AAPL", wed, "gap")
    price = float(np.nanmedian(panel.close[1]))
    (lv,) = book.levels()["AAPL"]
    assert lv.anchor == a and not lv.partial
    close_to(lv, want(panel, "AAPL", wed, now), price)
    assert book.alert_values()["AAPL"][output_name(a.id, "up2")] == lv.up2
    # An anchor ahead of the replay (the cache has the bar, the console is not there yet)
    later = book.add("SPY", panel.ts[now + 30])
    assert np.isnan(book.levels()["SPY"][0].level)
    for t in range(now + 1, now + 40):
        hist.now = t
        book.step(panel.batch(t))
    close_to(book.levels()["AAPL"][0], want(panel, "AAPL", wed, now + 39), price)
    spy_price = float(np.nanmedian(panel.close[0]))
    close_to(book.levels()["SPY"][0], want(panel, "SPY", panel.ts[now + 30], now + 39),
             spy_price)
    # A forming minute revised: the revision replaces, never adds.
    t = now + 40
    hist.now = t
    forming = dataclasses.replace(panel.batch(t, final=False),
                                  close=panel.batch(t).close * 1.001)
    book.step(forming)
    book.step(panel.batch(t))
    close_to(book.levels()["AAPL"][0], want(panel, "AAPL", wed, t), price)
    # The replay jumps back to Friday's open: the rows are rebuilt from the history.
    t = 2 * 390
    hist.now = t
    book.step(panel.batch(t))
    close_to(book.levels()["AAPL"][0], want(panel, "AAPL", wed, t), price)
    assert np.isnan(book.levels()["SPY"][0].level)
    # Delete: gone from the rows and the cache; a second delete is one clear line.
    assert book.delete(later.id) == later
    assert "SPY" not in book.levels() and [x.id for x in list_anchors(cache)] == [a.id]
    with pytest.raises(AnchorError, match=f"no anchor with id {later.id}"):
        book.delete(later.id)
    # A fresh book (a restart) finds the anchor and rebuilds the same values.
    again = AnchorBook(cache, hist)
    again.step(panel.batch(t))
    assert again.levels()["AAPL"][0] == book.levels()["AAPL"][0]


def test_anchor_on_a_symbol_not_loaded_is_kept_for_later(setup) -> None:
    cache, panel = setup
    hist = History(panel.select(["SPY", "AAPL"]))
    book = AnchorBook(cache, hist)
    hist.now = 100
    book.step(hist.panel.batch(100))
    a = book.add("MSFT", panel.ts[50])  # cached, not in the console's symbols
    assert book.levels() == {} and list_anchors(cache, ["MSFT"]) == [a]
    # MSFT joins the universe (a second group): the book rebuilds with it.
    # (its history ends a minute before the batch: the book rebuilds, then steps it)
    hist.panel = panel
    book.step([panel.select(["SPY", "AAPL"]).batch(101), panel.select(["MSFT"]).batch(101)])
    close_to(book.levels()["MSFT"][0], want(panel, "MSFT", panel.ts[50], 101),
             float(np.nanmedian(panel.close[2])))
    # A new universe warmed over the same symbols (``invalidate``): rebuilt from history.
    hist.now = 102
    book.invalidate()
    book.step([panel.select(["SPY", "AAPL"]).batch(102), panel.select(["MSFT"]).batch(102)])
    close_to(book.levels()["MSFT"][0], want(panel, "MSFT", panel.ts[50], 102),
             float(np.nanmedian(panel.close[2])))
    hist.now = 103
    book.step([panel.select(["SPY", "AAPL"]).batch(103), panel.select(["MSFT"]).batch(103)])
    close_to(book.levels()["MSFT"][0], want(panel, "MSFT", panel.ts[50], 103),
             float(np.nanmedian(panel.close[2])))


def test_alert_rules_on_custom_and_auto_anchors(tmp_path: Path) -> None:
    from engine.snapshot import Snapshot
    from tui.alerts import AlertBook, AlertRule, custom_anchor
    from tui.alerts import output_name as alert_output

    assert alert_output(custom_anchor(7), "up2") == output_name(7, "up2") == "anchor_7_up2"
    assert alert_output("hh", "level") == "avwap_hh"
    with pytest.raises(ValueError, match="anchor:<id>"):
        AlertRule("AAPL", "anchor:x", "level")

    def snap(last: float, minute: int) -> Snapshot:
        return Snapshot(ts=np.datetime64("2025-11-21T15:00") + np.timedelta64(minute, "m"),
                        symbols=("AAPL",), names=("avwap_session",),
                        values=np.array([[1.0]], np.float32), last=np.array([last], np.float32),
                        volume=np.zeros(1), valid=np.ones(1, bool), regime=np.zeros(1, np.int8))

    path = tmp_path / "alerts.json"
    book = AlertBook(path)
    rule = book.add(AlertRule("AAPL", custom_anchor(7), "up1", name="gap"))
    assert rule.label == "AAPL crosses gap +1σ"
    extra = {"AAPL": {"anchor_7_up1": 100.0}}
    assert book.evaluate(snap(99.0, 0), extra) == []
    assert book.evaluate(snap(101.0, 1)) == []  # no value for it this minute: nothing
    (hit,) = book.evaluate(snap(101.0, 2), extra)
    assert (hit.direction, hit.level, hit.rule.name) == ("up", 100.0, "gap")
    again = AlertBook(path)  # kept in alerts.json with its name
    assert [(r.anchor, r.band, r.name) for r in again.rules] == [("anchor:7", "up1", "gap")]
    assert again.remove_anchor(7) == 1 and again.rules == []
    assert AlertBook(path).rules == []
