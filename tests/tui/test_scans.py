"""The Scanner's book and runner: scans kept atomically beside the config, an invalid one
explained with suggestions, and each minute's matches equal to the batch scan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _panels import make_panel

from engine.expr.batch import compile_scans, scan_panel, scan_values
from engine.snapshot import Snapshot
from tui.runtime.scans import Scan, ScanBook, ScanResult, ScanRunner, check

TEXTS = ["close crosses above avwap_session", "close > avwap_session and rsi_14 > 50",
         "close < ema_9", "close > open and high - low > atr_14",
         "low crosses below avwap_session_dn1 or high crosses above avwap_session_up1"]


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
    names = tuple(n for n in prog.names if n not in ("open", "high", "low", "close"))
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
        bar = {f: getattr(panel, f)[:, t] for f in ("open", "high", "low")}
        res = {r.scan.name: r for r in run.step(snap, bar)}
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
    assert check("close > open and high > low").ok  # a live minute has the whole bar
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


def test_scan_columns_write_prices_to_the_cent() -> None:
    """A $249.04 close under a $248.97 band read '249  249' with 4 significant digits."""
    from tui.screens.scanner.screen import cell_format

    assert cell_format("close")(249.04) == "249.04"
    assert cell_format("avwap_session_dn1")(248.97) == "248.97"
    assert cell_format("avwap_session_z")(1.5) == "+1.50σ"
    assert cell_format("volume")(1_234_567) == "1.2M"


def _band_minutes(closes: np.ndarray, valid: np.ndarray | None = None,
                  scan: str = "close > avwap_session_up2") -> tuple[int, list[int]]:
    """Step an alerting scan over ``closes`` against a fixed +2σ band at 101 (mid-session,
    the anchor long valid); how many minutes the symbol entered the scan, and the
    minutes its alert fired."""
    names = ("avwap_session", "avwap_session_up1", "avwap_session_up2", "rvol")
    book = ScanBook()
    book.put(Scan("up", scan, alert=True))
    run = ScanRunner(book)
    t0 = np.datetime64("2025-11-20T16:00")  # 11:00 ET
    ok = np.ones(len(closes), bool) if valid is None else valid
    entered, fired = 0, []
    for m, c in enumerate(closes):
        snap = Snapshot(t0 + np.timedelta64(m, "m"), ("AAA",), names,
                        np.array([[100.0, 100.5, 101.0, 3.0]], np.float32),
                        np.array([c], np.float32), np.array([1000.0], np.float32),
                        np.array([ok[m]]), np.zeros(1, np.int64))
        entered += sum(run.step(snap)[0].new)
        fired += [m for _ in run.hits]
    return entered, fired


def test_a_price_flickering_across_the_band_alerts_once() -> None:
    """Issue 30: scan alerts have the band alerts' dead band. A close within 4 bp either side
    of the band (seeded) enters the scan again and again; it fires once, where an alert on
    every entry (the cooldown alone) fired every ten minutes."""
    rng = np.random.default_rng(31)
    below = np.full(5, 100.5)
    flicker = 101.0 * (1 + rng.uniform(-4e-4, 4e-4, 120))
    out = flicker <= 101.0
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, out, 0])))[::2]  # lengths of stays out
    assert runs.max() < 10  # never out for the re-arm time: only the dead band could re-arm
    entered, fired = _band_minutes(np.r_[below, flicker])
    assert entered > 25 and fired == [int(np.argmax(np.r_[below, flicker] > 101.0))]
    # Beyond the dead band (20 bp under) and back: a new entry, it fires again.
    entered, fired = _band_minutes(np.r_[below, flicker, [100.8], flicker[:3] * 0 + 101.2])
    assert len(fired) == 2 and fired[1] == len(below) + len(flicker) + 1


def test_out_of_the_scan_for_ten_minutes_inside_the_dead_band_re_arms() -> None:
    from tui.runtime.scan_alerts import REARM

    rearm = int(REARM / np.timedelta64(1, "m"))
    hover = np.full(rearm, 101.0 * (1 - 3e-4))  # 3 bp under: inside the dead band
    _, fired = _band_minutes(np.r_[100.5, 101.2, hover, 101.2])
    assert fired == [1, 2 + rearm]
    _, fired = _band_minutes(np.r_[100.5, 101.2, hover[:-1], 101.2])  # a minute short
    assert fired == [1]


def test_a_missing_bar_neither_leaves_nor_enters() -> None:
    closes = np.r_[100.5, 101.2, 90.0, np.full(12, 101.2)]
    valid = np.ones(len(closes), bool)
    valid[2] = False
    _, fired = _band_minutes(closes, valid)
    assert fired == [1]  # the minute without a bar (a stale close) did not make it leave
    _, fired = _band_minutes(closes)
    assert fired == [1, 11]  # with a bar it left: the re-entry fires when the cooldown ends


def test_a_condition_without_prices_has_the_cooldown_only() -> None:
    from tui.alerts import COOLDOWN

    cool = int(COOLDOWN / np.timedelta64(1, "m"))
    book = ScanBook()
    book.put(Scan("busy", "rvol > 2", alert=True))
    run = ScanRunner(book)
    fired = []
    for m in range(3 * cool):
        rvol = 2.5 if m % 2 else 1.5  # in and out every minute
        snap = Snapshot(np.datetime64("2025-11-20T16:00") + np.timedelta64(m, "m"), ("AAA",),
                        ("rvol",), np.array([[rvol]], np.float32), np.array([10.0]),
                        np.array([1.0]), np.array([True]), np.zeros(1))
        run.step(snap)
        fired += [m for _ in run.hits]
    assert fired == [1, 1 + cool, 1 + 2 * cool]


def test_a_list_universe_follows_the_list_as_it_is_edited(tmp_path: Path) -> None:
    """A scan on a list keeps the list's name: adding a symbol to the list (the console's
    `+`) or removing one moves the scan at the next minute; a deleted list is named."""
    from storage.tickers import add_symbols, create_list, delete_list, remove_symbols
    from tui.screens.scanner.spec import parse_spec

    create_list("mine", ["AAA"], user_dir=tmp_path)
    scan = parse_spec("m: close > ema_9 | universe mine", "scan1", lambda n: ())
    assert scan.universe == "mine"
    book = ScanBook()
    book.put(scan)
    run = ScanRunner(book, tmp_path)
    syms = ("AAA", "BBB", "CCC")

    def step(m: int) -> ScanResult:
        snap = Snapshot(np.datetime64(m, "m"), syms, ("ema_9",), np.full((3, 1), 10.0),
                        np.full(3, 11.0), np.ones(3), np.ones(3, bool), np.zeros(3))
        return run.step(snap)[0]

    assert step(0).symbols == ("AAA",)
    add_symbols("mine", ["CCC"], tmp_path)
    assert set(step(1).symbols) == {"AAA", "CCC"}
    remove_symbols("mine", ["AAA"], tmp_path)
    assert step(2).symbols == ("CCC",)
    delete_list("mine", tmp_path)
    r = step(3)
    assert r.symbols == () and "'mine'" in r.note


def test_a_scan_name_is_one_word_of_plain_characters() -> None:
    from tui.screens.scanner.spec import SpecError, parse_spec

    assert parse_spec("up-2.b: close > 1", "scan1", lambda n: ()).name == "up-2.b"
    assert parse_spec("close / open > 1", "scan1", lambda n: ()).name == "scan1"
    try:
        parse_spec("/up: close > 1", "scan1", lambda n: ())
    except SpecError as e:
        assert "scan name '/up'" in str(e)
    else:
        raise AssertionError("a '/' in a scan's name was accepted")


def test_the_console_scans_the_whole_bar_as_the_batch_does(demo_db: Path, user_dir: Path) -> None:
    """Live scans read the minute's open, high and low (the controller hands them beside the
    snapshot), and match the batch scan of the same bars minute by minute."""
    from tests.tui.conftest import make_controller

    texts = ["close > open", "high - low > 0.0015 * open", "low crosses below prev(low)"]
    ctl = make_controller(demo_db, user_dir)
    for i, t in enumerate(texts):
        ctl.scans.book.put(Scan(f"s{i}", t))
    tl, present, missing = ctl.resolve_list("mini")
    ctl.prepare(tl, present, missing)
    seen: dict[np.datetime64, list[set[str]]] = {}
    for _ in range(40):
        frame = ctl.step_next()
        assert frame is not None
        seen[frame.snapshot.ts] = [set(r.symbols) for r in frame.scans]
    panel = ctl.panel_until_now(ctl.symbols)
    assert panel is not None
    want = scan_panel(panel, texts)
    pos = {ts: t for t, ts in enumerate(panel.ts.astype("datetime64[m]"))}
    hits = 0
    for ts, got in seen.items():
        t = pos[np.datetime64(ts, "m")]
        for i in range(len(texts)):
            assert got[i] == {s for k, s in enumerate(panel.symbols) if want[i, k, t]}, (ts, i)
            hits += len(got[i])
    assert hits > 40


def test_alert_state_follows_each_symbol_when_the_universe_grows() -> None:
    """New symbols join the warm universe (a list grows): a symbol already in an alerting
    scan keeps its state by name, and a newcomer already in the scan does not fire."""
    book = ScanBook()
    book.put(Scan("up", "close > ema_9", alert=True))
    run = ScanRunner(book)

    def step(m: int, syms: tuple[str, ...], closes: list[float]) -> list[str]:
        n = len(syms)
        snap = Snapshot(np.datetime64("2025-11-20T16:00") + np.timedelta64(m, "m"), syms,
                        ("ema_9",), np.full((n, 1), 10.0), np.array(closes),
                        np.ones(n), np.ones(n, bool), np.zeros(n))
        run.step(snap)
        return [h.symbol for h in run.hits]

    assert step(0, ("A",), [9.0]) == []
    assert step(1, ("A",), [11.0]) == ["A"]
    assert step(2, ("B", "A"), [11.0, 11.0]) == []  # A stays in; B is new (no entry seen)
    assert step(3, ("B", "A"), [9.0, 9.0]) == []
    assert step(20, ("B", "A"), [11.0, 11.0]) == ["B", "A"]
