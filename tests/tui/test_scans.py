"""The Scanner's book and runner: scans kept atomically beside the config, an invalid one
explained with suggestions, and each minute's matches equal to the batch scan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _panels import make_panel

from engine.expr.batch import compile_scans, scan_panel, scan_values
from engine.snapshot import Snapshot
from tui.runtime.scans import Scan, ScanBook, ScanRunner, check

TEXTS = ["close crosses above avwap_session", "close > avwap_session and rsi_14 > 50",
         "close < ema_9"]


def test_book_round_trips_atomically(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "scans.json"
    book = ScanBook(path)
    book.put(Scan("up", "close > avwap_session_up2 and rvol > 2", "rvol", ("AAA", "BBB")))
    bad = book.put(Scan("typo", "close > avwap_sesion_up2", universe="all"))
    assert not bad.ok and "did you mean avwap_session_up2" in bad.message
    assert "avwap_session_up2" in bad.suggestions
    assert [p.name for p in path.parent.iterdir()] == ["scans.json"]  # no temp file left
    again = ScanBook(path)
    assert again.scans == book.scans and again.load_error == ""
    assert json.loads(path.read_text())["scans"][0]["universe"] == ["AAA", "BBB"]
    again.remove("typo")
    assert [s.name for s in ScanBook(path).scans] == ["up"]


def test_a_broken_file_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "scans.json"
    path.write_text("{not json")
    book = ScanBook(path)
    assert book.scans == [] and "scans not loaded" in book.load_error


def test_check_never_raises() -> None:
    assert check("close crosses above avwap_session").names == ("close", "avwap_session")
    assert "expected 'above' or 'below'" in check("close crosses 3").message
    assert "must be a condition" in check("close + 1").message


def test_runner_matches_the_batch_minute_by_minute() -> None:
    panel = make_panel(s=6, seed=5, missing=0.1)
    prog = compile_scans(TEXTS)
    vals = scan_values(panel, prog.names)
    want = scan_panel(panel, prog, vals)
    names = tuple(n for n in prog.names if n != "close")
    mat = np.stack([vals[n] for n in names], axis=2)  # [S, T, F]
    book = ScanBook()
    for i, t in enumerate(TEXTS):
        book.put(Scan(f"s{i}", t, sort="close"))
    book.put(Scan("mine", TEXTS[1], universe=("S0", "S2")))
    book.put(Scan("broken", "close > nope"))
    run = ScanRunner(book)
    entered = 0
    for t in range(panel.shape[1]):
        # The snapshot's close is the bar's (``last``, float32 as the engine keeps it).
        snap = Snapshot(panel.ts[t], panel.symbols, names, mat[:, t], vals["close"][:, t],
                        panel.volume[:, t], panel.valid[:, t], np.zeros(6, np.int64))
        res = {r.scan.name: r for r in run.step(snap)}
        assert not res["broken"].check.ok and res["broken"].symbols == ()
        for i in range(len(TEXTS)):
            r = res[f"s{i}"]
            hit = {s for k, s in enumerate(panel.symbols) if want[i, k, t]}
            assert set(r.symbols) == hit, (t, i)
            closes = r.values[:, 0]
            assert list(closes) == sorted(closes, reverse=True)  # sorted by the sort column
            if t > 0:
                was = {s for k, s in enumerate(panel.symbols) if want[i, k, t - 1]}
                assert {s for s, n in zip(r.symbols, r.new, strict=True) if n} == hit - was
                entered += len(hit - was)
        assert set(res["mine"].symbols) == set(res["s1"].symbols) & {"S0", "S2"}
    assert entered > 10


def test_a_revised_minute_keeps_new_marks_and_a_jump_back_clears_them() -> None:
    book = ScanBook()
    book.put(Scan("up", "close > ema_9"))
    assert "unknown name 'open'" in check("close > open").message  # not kept live
    run = ScanRunner(book)
    names = ("ema_9",)

    def snap(ts: int, close: float) -> Snapshot:
        return Snapshot(np.datetime64(ts, "m"), ("A",), names, np.array([[10.0]]),
                        np.array([close]), np.array([1.0]), np.array([True]), np.zeros(1))

    assert run.step(snap(1, 9.0))[0].symbols == ()
    assert run.step(snap(2, 11.0))[0].new == (True,)
    assert run.step(snap(2, 11.5))[0].new == (True,)  # the same minute revised
    assert run.step(snap(3, 12.0))[0].new == (False,)
    assert run.step(snap(0, 12.0))[0].new == (False,)  # a jump back: no previous minute


def test_an_alerting_scan_fires_on_entry_with_the_band_alerts_cooldown() -> None:
    from tui.alerts import COOLDOWN

    book = ScanBook()
    book.put(Scan("up", "close > ema_9", alert=True))
    book.put(Scan("quiet", "close > ema_9"))
    run = ScanRunner(book)
    cool = int(COOLDOWN / np.timedelta64(1, "m"))

    def step(ts: int, close: float) -> tuple[str, ...]:
        snap = Snapshot(np.datetime64(ts, "m"), ("A",), ("ema_9",), np.array([[10.0]]),
                        np.array([close]), np.array([1.0]), np.array([True]), np.zeros(1))
        run.step(snap)
        return tuple(f"{h.scan}:{h.symbol}" for h in run.hits)

    assert step(0, 9.0) == ()
    assert step(1, 11.0) == ("up:A",)  # entered (the non-alerting scan stays quiet)
    assert step(1, 11.5) == ()  # the same minute revised: no second alert
    assert step(2, 9.0) == () and step(3, 11.0) == ()  # back in within the cooldown
    assert step(1 + cool - 1, 11.0) == ()
    assert step(1 + cool, 11.0) == ("up:A",)  # still in when the cooldown ends: it fires
    assert step(1 + cool + 1, 9.0) == () and step(1 + cool + 2, 11.0) == ()
    assert step(2 + 2 * cool, 9.0) == ()  # left before the cooldown ended: nothing pending
    assert step(3 + 2 * cool, 11.0) == ("up:A",)
    assert run.hits[0].message == "A entered scan 'up': close > ema_9"


def test_a_young_anchor_is_not_scanned_live_as_in_the_backtester() -> None:
    """Issue 30: scans use the backtester's band-validity rule. On a session's first bars
    σ = 0 (the bands equal the level) or σ is a sample of a few points: a live scan reads
    the session anchor as NaN there, as `avwap scan` and the backtester do."""
    names = ("avwap_session", "avwap_session_up1", "avwap_session_up2")
    book = ScanBook()
    book.put(Scan("stretched", "close > avwap_session_up2"))
    run = ScanRunner(book)
    open_utc = np.datetime64("2025-11-21T14:30")  # 09:30 ET, the session's first minute
    seen = []
    for m in range(7):
        width = 0.0 if m == 0 else 0.5  # σ = 0 on the first bar
        vals = np.array([[100.0, 100.0 + width, 100.0 + 2 * width]], np.float32)
        snap = Snapshot(open_utc + np.timedelta64(m, "m"), ("AAA",), names, vals,
                        np.array([105.0], np.float32), np.array([1000.0], np.float32),
                        np.array([True]), np.zeros(1, np.int64))
        seen.append(run.step(snap)[0].symbols == ("AAA",))
    # valid from the 5th bar with volume (engine.bands.MIN_BARS), never on σ = 0
    assert seen == [False, False, False, False, True, True, True]
