"""Console benchmark: first frame, per-minute update cost, peak RSS (headless Textual).

Seeds a temporary cache with the ``all`` list (~650 symbols) × 20 demo sessions,
then runs the real app headless (``App.run_test``) on it:

- ``first_frame_s``: from before importing the app to the first painted screen
  (Textual's ``Ready`` event, posted right after the first compositor refresh;
  the engine warms in the background; the screen is interactive at once);
- ``first_idle_s``: the previous definition of the first frame — until Pilot's
  ``pause()`` returns, which waits for the *process* to go idle (or 1 s), so it
  also counts the background warm-up keeping a core busy, not just the paint;
- ``update_p50_ms`` / ``update_p99_ms``: per replayed minute, the engine step
  on the session thread (wall) plus updating every pane (wall) plus the CPU
  time Textual spends painting it (its frame-pacing waits are not counted);
  ``step_*`` and ``render_*`` split it; ``render_max_ms`` is the worst UI-thread frame;
- ``max_frame_ms``: the worst single update (step + panes + paint, the quantity
  the ``update_*`` percentiles summarise) — the issue asks for none over 100 ms;
- ``peak_rss_mb``: the process's peak RSS with all × 20 days loaded and warmed;
- ``train_update_p50_ms`` / ``train_update_p99_ms``: the per-minute update again
  while a real ``avwap train`` runs in a child process (the Training screen's
  job, on 32 symbols × 5 days; measured once it is training, not building).

- ``scans_update_p50_ms`` / ``scans_update_p99_ms`` (``--scan-minutes M``): the
  per-minute update with the Scanner's ten scans active over every warm symbol,
  beside ``noscans_update_*``, its peer in the same run (alternating blocks of 10
  minutes of the same replay); the issue's goal: within noise of each other.

Prints one JSON object as the last line. Usage: ``.venv/bin/python bench/tui.py
[--minutes 120] [--days 20] [--warm-days N] [--train-minutes 60] [--scan-minutes M]
[--only-updates]``. Goals: first
frame ≤ 1.5 s, update p99 ≤ 50 ms (also while training), RSS ≤ 600 MB,
``list_switch_s`` ≤ 1, ``anchor_add_ms`` ≤ 100, ``warm_s`` ≤ 3, ``model_activate_s`` ≤ 1,
``minutes_missed_during_activate`` = 0 (``model_activation``).

Before and after in one run: ``--code DIR`` imports the app from another
checkout (e.g. ``git archive main | tar -x -C DIR``) under this same harness and
demo data; run it and then without ``--code`` in one shell line.

- ``rss_warm_mb``: RSS right after the warm-up; ``rss_*_mb`` (after the replayed
  minutes): the bars (``panels``), the engines' MLX state, their NumPy histories
  (``hosts``), the session checkpoints' own arrays, the charts (each array
  counted once), MLX's allocator (``mlx_active``, ``mlx_cache``) and ``rss_now``.

- ``warm_s``: the first warm-up of the ``all`` list on a fresh cache (nothing saved);
  ``warm_saved_s``: the same list's warm-up on a second start, which loads the
  state the first one saved beside the cache (the peer of ``warm_s`` in this run);
- ``list_switch_s``: back to ``all`` after ``curated`` (both views of the warm
  universe: ``list_switch_warmups`` must be 0), until its rows are painted;
- ``anchor_add_ms``: a custom anchor on the highlighted symbol, three sessions
  back, from the call until the AVWAP pane shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = ROOT = Path(__file__).resolve().parent.parent
if "--code" in sys.argv[1:-1]:  # measure another checkout's app with this harness
    ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    """The process's resident memory now (Linux; NaN elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    """The process's peak RSS so far (``peak_rss_mb`` at the end; by phase, to find it)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _parts(ctl) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``rss_*_mb``: what the console holds, by part, each array counted once (by
    identity): the bars (panels), the engines' MLX state, their NumPy histories,
    the session checkpoints' own arrays (beyond what the engines hold), the charts;
    with MLX's allocator (active, cache) and the RSS now."""
    import mlx.core as mx
    import numpy as np

    seen: set[int] = set()

    def size(x) -> int:  # type: ignore[no-untyped-def]
        if isinstance(x, dict):
            return sum(size(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return sum(size(v) for v in x)
        if isinstance(x, (np.ndarray, mx.array)) and id(x) not in seen:
            seen.add(id(x))
            return int(x.nbytes)
        return 0

    groups = ctl.universe.groups
    out = {
        "rss_panels_mb": sum(size(vars(g.panel)) for g in groups),
        "rss_engine_state_mb": sum(size(g.engine.state) for g in groups),
        "rss_engine_hosts_mb": sum(size([hs for _, hs in g.engine._hosts]) for g in groups),
        "rss_checkpoints_mb": sum(size([(cp.state, cp.before, cp.hosts) for cp in
                                        g.starts.values()]) for g in groups),
        "rss_charts_mb": sum(size(g.chart) for g in groups),
    }
    out = {k: v / 2**20 for k, v in out.items()}
    out["checkpoints"] = sum(len(g.starts) for g in groups)
    out["rss_mlx_active_mb"] = mx.get_active_memory() / 2**20
    out["rss_mlx_cache_mb"] = mx.get_cache_memory() / 2**20
    out["rss_now_mb"] = _rss_mb()
    return out


def _close(cache) -> None:  # type: ignore[no-untyped-def]
    """Close the cache once the app's last background query has let go of it."""
    for _ in range(100):
        try:
            cache.close()
            return
        except Exception:
            time.sleep(0.1)


def _pct(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


async def run(args: argparse.Namespace, db: Path, t_start: float) -> dict[str, float]:
    from textual import events
    from textual.message import Message

    from storage.cache import Cache
    from storage.feeds.replay import ReplaySource
    from tui.app import AvwapApp
    from tui.runtime.controller import Controller

    cache = Cache(db)  # writable: the anchors a trader adds are kept in it

    source = ReplaySource(cache, warm_sessions=args.days - 1, speed=None)

    ctl = Controller(cache, source, engine_warm=args.warm_days)
    app = AvwapApp(ctl, list_name="all", speed=None, live=False)
    out: dict[str, float] = {}
    painted: list[float] = []

    def hook(message: Message) -> None:
        if isinstance(message, events.Ready) and not painted:
            painted.append(time.perf_counter())

    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await pilot.pause()
        out["first_idle_s"] = time.perf_counter() - t_start
        out["first_frame_s"] = (painted[0] if painted else float("nan")) - t_start
        out["peak_at_first_frame_mb"] = _peak_mb()
        t0 = time.perf_counter()
        await pilot.pause()
        await app.console_screen.session.settled()
        await pilot.pause()
        out["warm_s"] = time.perf_counter() - t0
        out["rss_warm_mb"] = _rss_mb()
        out["peak_at_warm_mb"] = _peak_mb()
        screen = app.console_screen
        steps, renders, totals = await _updates(pilot, screen, args.minutes)
        out.update(
            update_p50_ms=_pct(totals, 50), update_p99_ms=_pct(totals, 99),
            step_p50_ms=_pct(steps, 50), step_p99_ms=_pct(steps, 99),
            render_p50_ms=_pct(renders, 50), render_p99_ms=_pct(renders, 99),
            render_max_ms=max(renders) if renders else float("nan"),
            max_frame_ms=max(totals) if totals else float("nan"),
            minutes=len(totals), symbols=len(ctl.symbols),
        )
        if hasattr(ctl, "universe"):  # the parts (this harness on an older checkout: skipped)
            out.update(_parts(ctl))
        out["peak_at_updates_mb"] = _peak_mb()
        if args.scan_minutes:
            out.update(await _with_scans(pilot, screen, args.scan_minutes))
        if args.only_updates:
            await pilot.press("q")
            _close(cache)
            return out
        out.update(await _list_switch(pilot, screen))
        out.update(await _anchor_add(pilot, screen))
        out["peak_at_anchor_mb"] = _peak_mb()
        out.update(await model_activation(pilot, screen))
        if args.train_minutes:
            out.update(await _while_training(app, pilot, screen, cache, args.train_minutes))
        await pilot.press("q")
    _close(cache)
    return out


BASELINE_MINUTES = 30


async def model_activation(pilot, screen, interval_s: float = 1.0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """A model made active with ``all`` loaded, while a 60x replay clock ticks.

    - ``model_activate_s``: from the activation (what the Training screen's "use"
      calls) until the highlighted symbol's picks are painted in the Indicators pane;
    - ``model_prime_s``: until every symbol's window is primed (the rest, between minutes);
    - ``minutes_missed_during_activate``: a minute is due every ``interval_s`` (60x
      replay); each one that fell due while the previous was still waiting for the
      MLX thread is missed (the clock stood still). Goal 0; before: 37-50 s frozen.
    - ``minutes_during_activate``: the minutes stepped meanwhile;
      ``minutes_missed_without_activate`` / ``minutes_without_activate``: the same
      clock for ``BASELINE_MINUTES`` just before, with no activation (the peer).
    """
    sys.path.insert(0, str(HERE / "tests" / "models"))
    from _mdata import save_untrained

    from models.registry import use
    from tui.screens.console.watchlist import Watchlist

    session = screen.session
    root = Path(tempfile.mkdtemp(prefix="bench-models-"))
    before = os.environ.get("AVWAP_MODELS_DIR")
    os.environ["AVWAP_MODELS_DIR"] = str(root)
    try:
        save_untrained(root, "bench", lookback=120, patch=10)
        use(root, "bench")
        focus = screen.query_one(Watchlist).cursor_symbol
        stop = asyncio.Event()
        counts = {"stepped": 0, "missed": 0}

        async def clock() -> None:
            due = time.perf_counter()
            while not stop.is_set():
                due += interval_s
                now = time.perf_counter()
                if now > due:  # the previous minute ran past this one's time
                    late = int((now - due) // interval_s) + 1
                    counts["missed"] += late
                    due += late * interval_s
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if await session.step_next() is None:
                    break
                counts["stepped"] += 1

        # the peer: the same clock for as many minutes with no activation (a busy
        # machine misses minutes by itself when a step outlasts the interval)
        ticker = asyncio.get_running_loop().create_task(clock())
        await asyncio.sleep(BASELINE_MINUTES * interval_s)
        stop.set()
        await ticker
        baseline = dict(counts)
        stop.clear()
        counts.update(stepped=0, missed=0)
        ticker = asyncio.get_running_loop().create_task(clock())
        t0 = time.perf_counter()
        session.model_changed(focus)
        activate = float("nan")
        while time.perf_counter() - t0 < 120:
            await pilot.pause(0.02)
            shown = screen._picks.get(focus)  # PicksReady handled: the pane was given them
            if shown and shown[0]:
                # painted: its events handled and the screen updated (``pause()`` with
                # no delay would also wait up to 1 s for the process to go idle, which
                # it does not while the other symbols prime in the background)
                await pilot.pause(0)
                activate = time.perf_counter() - t0
                break
        await session.model_primed()
        primed = time.perf_counter() - t0
        stop.set()
        await ticker
        held = _model_parts(session.controller)
    finally:
        if before is None:
            os.environ.pop("AVWAP_MODELS_DIR", None)
        else:
            os.environ["AVWAP_MODELS_DIR"] = before
    return {"model_activate_s": activate, "model_prime_s": primed,
            "minutes_missed_during_activate": counts["missed"],
            "minutes_during_activate": counts["stepped"],
            "minutes_missed_without_activate": baseline["missed"],
            "minutes_without_activate": baseline["stepped"], **held}


def _model_parts(ctl) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``rss_tape_mb``: the rows kept for a model made active (``ModelPicks.tape``;
    absent on an older checkout); ``rss_selector_mb``: the active model's live window."""
    import numpy as np

    out: dict[str, float] = {}
    tape = getattr(ctl.model, "tape", None)
    if tape is not None:
        out["rss_tape_mb"] = tape.nbytes / 2**20
    live = ctl.model.live
    if live is not None:
        out["rss_selector_mb"] = sum(
            v.nbytes for v in vars(live).values() if isinstance(v, np.ndarray)) / 2**20
    return out


async def _list_switch(pilot, screen) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``list_switch_s``: back to the ``all`` list (warmed) after the curated one, until
    its rows are painted; ``list_switch_warmups`` counts warm-ups in both switches."""
    ctl, session = screen.avwap_app.controller, screen.session
    warmups: list[str] = []
    prepare, grow = ctl.prepare, ctl.grow
    ctl.prepare = lambda *a, **k: (warmups.append("prepare"), prepare(*a, **k))[1]
    ctl.grow = lambda *a, **k: (warmups.append("grow"), grow(*a, **k))[1]
    session.switch_list("curated")
    await session.settled()
    await pilot.pause()
    assert screen.list_name == "curated", screen.list_name
    a = time.perf_counter()
    session.switch_list("all")
    await session.settled()
    b = time.perf_counter()
    cpu = time.process_time()
    await pilot.pause()
    paint = time.process_time() - cpu
    assert screen.list_name == "all" and len(screen.frame.snapshot.symbols) == len(ctl.symbols)
    ctl.prepare, ctl.grow = prepare, grow
    return {"list_switch_s": b - a + paint, "list_switch_warmups": len(warmups)}


async def _anchor_add(pilot, screen) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``anchor_add_ms``: a custom anchor three sessions back on the highlighted symbol,
    from the call until the AVWAP pane shows it (call wall + Textual's paint CPU)."""
    import numpy as np

    from tui.screens.console.watchlist import Watchlist

    session, ctl = screen.session, screen.avwap_app.controller
    symbol = screen.query_one(Watchlist).cursor_symbol
    g = ctl.groups[0]
    day = g.panel.segments["day"]
    now = g.index_at(g.last_ts)
    days = np.unique(day[: now + 1])
    start = int(np.searchsorted(day, days[max(0, len(days) - 4)])) + 37  # 10:07 ET
    ts = g.panel.ts[start]
    a = time.perf_counter()
    anchor = await session.add_anchor(symbol, ts, "bench")
    b = time.perf_counter()
    cpu = time.process_time()
    await pilot.pause()
    paint = time.process_time() - cpu
    levels = ctl.frame.anchors.get(symbol, ()) if ctl.frame is not None else ()
    assert any(lv.anchor.id == anchor.id for lv in levels), "the anchor is not in the frame"
    await session.delete_anchor(anchor.id)
    return {"anchor_add_ms": (b - a + paint) * 1e3}


async def _updates(pilot, screen, minutes: int) -> tuple[list[float], list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Per replayed minute: engine step (wall), panes (wall) + Textual's painting (CPU)."""
    steps: list[float] = []
    renders: list[float] = []
    totals: list[float] = []
    for _ in range(minutes):
        a = time.perf_counter()
        frame = await screen.session.step_next()
        b = time.perf_counter()
        if frame is None:
            break
        screen.show_frame(frame)
        c = time.perf_counter()
        # Painting: CPU spent until Textual is idle again (its frame pacing
        # waits are not work, so wall time would overstate the cost).
        cpu = time.process_time()
        await pilot.pause()
        paint = time.process_time() - cpu
        steps.append((b - a) * 1e3)
        renders.append((c - b + paint) * 1e3)
        totals.append((c - a + paint) * 1e3)
    return steps, renders, totals


#: Ten scans over the whole warm universe: bench/scan.py's, but the ninth reads the live
#: bar's open/high/low (which the console's scans get each minute) instead of prior_high.
SCANS = (
    "close > avwap_session_up2 and rvol > 2",
    "close crosses above avwap_session",
    "close crosses below avwap_session_dn1",
    "rsi_14 < 30 and close > avwap_session_dn2",
    "rsi_14 > 70 and close < avwap_session_up2",
    "ema_9 crosses above ema_21",
    "(close - avwap_session) / avwap_session * 100 > 0.5 and rvol > 1.5",
    "close > avwap_day and close > avwap_week and rvol > 1",
    "close > high - 0.1 * (high - low) and close > open and rvol > 1.2",
    "not close > sma_20 and rsi_14 crosses above 30",
)
SCAN_BLOCK = 10


async def _with_scans(pilot, screen, minutes: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``scans_update_p50/p99_ms``: the per-minute update (as ``update_*``) with the ten
    scans above active over every warm symbol, and ``noscans_update_*`` without them,
    its peer: blocks of ``SCAN_BLOCK`` minutes alternate between the two (the same
    replay stretch, the same machine load), ``minutes`` each. The scans are not
    alerting (a toast per entry would measure the notifications, not the scans)."""
    from tui.runtime.scans import Scan, ScanBook, ScanRunner

    ctl = screen.avwap_app.controller
    book = ScanBook()
    for i, text in enumerate(SCANS):
        book.put(Scan(f"s{i}", text, sort="rvol"))
    off, on = ScanRunner(ScanBook(), ctl.user_dir), ScanRunner(book, ctl.user_dir)
    before = ctl.scans
    got: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[float]] = {False: [], True: []}
    scanned = False
    try:
        while min(len(v) for v in got.values()) < minutes:
            ctl.scans = on if scanned else off
            step, _render, total = await _updates(pilot, screen, SCAN_BLOCK)
            if not total:
                break
            got[scanned] += total
            steps[scanned] += step
            scanned = not scanned
    finally:
        ctl.scans = before
    out = {}
    for key, name in ((True, "scans"), (False, "noscans")):
        out[f"{name}_update_p50_ms"] = _pct(got[key], 50)
        out[f"{name}_update_p99_ms"] = _pct(got[key], 99)
        out[f"{name}_step_p50_ms"] = _pct(steps[key], 50)
        out[f"{name}_minutes"] = len(got[key])
    frame = ctl.frame
    out["scans_matches"] = sum(len(r.symbols) for r in frame.scans) if frame else 0
    return out


async def _while_training(app, pilot, screen, cache, minutes: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``train_update_p99_ms``: the same per-minute update while a real ``avwap train``
    runs in a child process (the Training screen's job: the shared cache, JSON lines
    read by the runtime), measured once the child is past its data set build."""
    import os

    from storage import events
    try:
        from tui.runtime.jobs import cli_argv
    except ImportError:  # --code at a commit from before cli_argv moved beside ProcessJob
        from tui.screens.training.request import cli_argv  # type: ignore[no-redef]
    from tui.screens.training.jobs import RunOnCache
    from tui.screens.training.screen import TRAIN_NICE

    tmp = Path(tempfile.mkdtemp(prefix="avwap-bench-train-"))
    os.environ["AVWAP_MODELS_DIR"] = str(tmp / "models")
    symbols = list(screen.avwap_app.controller.symbols[:32])
    training = asyncio.Event()
    job = RunOnCache("train", cache, symbols, 5, lambda db: [
        *cli_argv(), "--db", db, "train", "--tickers", ",".join(symbols), "--days", "5",
        "--epochs", "1000", "--min-samples", "10", "--name", "bench", "--progress-json"],
        nice=TRAIN_NICE)
    post = job.post

    def seen(message):  # type: ignore[no-untyped-def]
        if isinstance(getattr(message, "event", None), events.Step):
            training.set()
        post(message)

    job.post = seen  # type: ignore[method-assign]
    app.runtime.start(job)
    await asyncio.wait_for(training.wait(), 300)
    _, _, totals = await _updates(pilot, screen, minutes)
    app.runtime.cancel("train")
    await app.runtime.wait("train")
    return {"train_update_p50_ms": _pct(totals, 50), "train_update_p99_ms": _pct(totals, 99),
            "train_minutes": len(totals)}


async def _second_start(args: argparse.Namespace, db: Path) -> dict[str, float]:
    """``warm_saved_s``: a second console start on the same cache — the warm-up loads the
    state the first start saved (``tui.runtime.warm_store``) instead of stepping."""
    from storage.cache import Cache
    from storage.feeds.replay import ReplaySource
    from tui.app import AvwapApp
    from tui.runtime.controller import Controller

    cache = Cache(db)
    ctl = Controller(cache, ReplaySource(cache, warm_sessions=args.days - 1, speed=None),
                     engine_warm=args.warm_days)
    app = AvwapApp(ctl, list_name="all", speed=None, live=False)
    warmed: list[int] = []
    real = ctl.prepare
    ctl.prepare = lambda *a, **k: (warmed.append(1), real(*a, **k))[1]  # type: ignore
    async with app.run_test(size=(160, 48)) as pilot:
        t0 = time.perf_counter()
        await pilot.pause()
        await app.console_screen.session.settled()
        await pilot.pause()
        out = {"warm_saved_s": time.perf_counter() - t0}
        frame = await app.console_screen.session.step_next()  # the loaded state steps on
        assert frame is not None and len(frame.snapshot.symbols) == len(ctl.symbols)
        await pilot.press("q")
    _close(cache)
    assert warmed == [1]
    return out


def _saved_run(cache: object, trades: int = 10_000, days: int = 20) -> int:
    """A saved run of ``trades`` trades over 50 symbols and ``days`` sessions of equity."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa

    from engine.backtest.stats import NAMES
    from storage.results import save_run
    from storage.types import RunTables

    rng = np.random.default_rng(7)
    syms = np.array([f"S{i:02d}" for i in range(50)], dtype=object)
    day0 = np.datetime64("2025-10-27T14:30", "m")
    day = rng.integers(0, days, trades) * 1440
    entry = day0 + (day + rng.integers(0, 300, trades)).astype("timedelta64[m]")
    exit_ = entry + rng.integers(1, 60, trades).astype("timedelta64[m]")
    price = rng.uniform(20, 500, trades)
    pnl = rng.normal(0, 20, trades)
    us = lambda a: pa.array(a.astype("datetime64[us]"), pa.timestamp("us", tz="UTC"))  # noqa
    tr = pa.table({
        "combo": pa.array(np.zeros(trades, np.int32)), "symbol": pa.array(syms[rng.integers(
            0, 50, trades)], pa.string()), "entry_ts": us(entry), "exit_ts": us(exit_),
        "direction": pa.array(rng.choice([-1, 1], trades).astype(np.int8)),
        "shares": np.full(trades, 20.0), "entry_price": price, "exit_price": price * 1.001,
        "entry_fees": np.ones(trades), "exit_fees": np.ones(trades),
        "slippage": np.full(trades, 0.5), "pnl": pnl, "ret": pnl / (20 * price),
        "reason": pa.array(rng.choice(["signal", "stop_loss", "session_end"], trades),
                           pa.string())})
    k = 2000
    ts = day0 + (np.arange(k) * (days * 1440 // k)).astype("timedelta64[m]")
    eq = pa.table({"combo": pa.array(np.zeros(k, np.int32)), "symbol": ["*"] * k,
                   "ts": us(ts), "value": 5e6 + np.cumsum(rng.normal(0, 100, k))})
    n = len(NAMES)
    st = pa.table({"combo": pa.array(np.zeros(n, np.int32)), "symbol": ["*"] * n,
                   "period": ["all"] * n, "stat": list(NAMES), "value": rng.normal(0, 1, n)})
    run = {"strategy": "avwap-reversion", "grid": {}, "combos": [{"anchor": "session"}],
           "best": 0, "neighbours": [], "rank_by": "sharpe", "symbols": list(syms),
           "skipped": [], "start_date": dt.date(2025, 10, 27), "end_date": dt.date(2025, 11, 21),
           "split_date": None, "settings": {}, "code_version": "bench"}
    return save_run(cache, RunTables(run=run, stats=st, trades=tr, equity=eq))  # type: ignore


async def backtest_bench(tmp: Path, moves: int = 300) -> dict[str, float]:
    """``backtest_open_ms``: open a run of 10,000 trades and 20 days of equity (read, show,
    paint); ``backtest_scroll_p99_ms``: one cursor move through its trades (key + paint)."""
    from storage import demo
    from storage.cache import Cache
    from storage.feeds.replay import ReplaySource
    from tui.app import AvwapApp
    from tui.runtime.controller import Controller
    from tui.screens.backtests.screen import BacktestsScreen
    from tui.screens.backtests.table import Table

    cache = Cache(tmp / "backtests.duckdb")
    demo.seed_cache(cache, ["SPY"], 1)
    run_id = _saved_run(cache)
    ctl = Controller(cache, ReplaySource(cache, warm_sessions=0, speed=None))
    app = AvwapApp(ctl, list_name="SPY", speed=None, live=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        session = app.console_screen.session
        assert session is not None
        await session.settled()  # the console's own start-up is not timed
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BacktestsScreen)
        # Wall time of the call, plus the CPU Textual spends painting it (Pilot's
        # pause also waits for the process to go idle, which is not this work).
        a = time.perf_counter()
        screen.open_run(run_id)
        b = time.perf_counter()
        cpu = time.process_time()
        await pilot.pause()
        open_ms = (b - a + time.process_time() - cpu) * 1e3
        call_ms = (b - a) * 1e3
        assert screen.detail is not None and len(screen.detail.trades) == 10_000
        await pilot.pause()
        table = screen.query_one("#run-trades", Table)
        moves_ms: list[float] = []
        for _ in range(moves):
            a = time.perf_counter()
            table.action_move(1)  # what the down key calls
            b = time.perf_counter()
            cpu = time.process_time()
            await pilot.pause()
            moves_ms.append((b - a + time.process_time() - cpu) * 1e3)
        assert table.cursor == moves
        await pilot.press("q")
    _close(cache)
    return {"backtest_open_ms": open_ms,
            "backtest_open_call_ms": call_ms, "backtest_scroll_p99_ms": _pct(moves_ms, 99),
            "backtest_scroll_p50_ms": _pct(moves_ms, 50)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=120)
    ap.add_argument("--train-minutes", type=int, default=60,
                    help="minutes measured while a training runs in a child (0: skip)")
    ap.add_argument("--profile", action="store_true", help="cProfile to stderr")
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--warm-days", type=int, default=None,
                    help="sessions the engine warms on (default: the app's, week start)")
    ap.add_argument("--scan-minutes", type=int, default=0,
                    help="minutes each with and without ten active scans, alternating in "
                         "blocks of 10 (scans_update_* vs noscans_update_*; 0: skip)")
    ap.add_argument("--only-updates", action="store_true",
                    help="stop after the update figures (and --scan-minutes): no list "
                         "switch, anchor, model, training, second start or backtests")
    ap.add_argument("--code", type=Path, default=None,
                    help="import the app from this checkout (another commit: before/after "
                         "in one run with the same harness)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="avwap-bench-"))
    db = tmp / "bench.duckdb"
    t = time.perf_counter()
    # Seed in a child process so its memory does not count in this one's peak RSS.
    subprocess.run(
        [sys.executable, "-m", "tui.cli", "--db", str(db), "demo-data", "--symbols", "all",
         "--days", str(args.days)],
        check=True, stdout=subprocess.DEVNULL, cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE)},  # the same demo data for any --code
    )
    seed_s = time.perf_counter() - t
    print(f"seeded all × {args.days} days in {seed_s:.1f} s", file=sys.stderr)

    t_start = time.perf_counter()  # before the app and its libraries are imported
    if "--profile" in sys.argv[1:] or False:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        out = asyncio.run(run(args, db, t_start))
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    else:
        out = asyncio.run(run(args, db, t_start))
    out["peak_rss_mb"] = _peak_mb()
    if not args.only_updates:
        out.update(asyncio.run(_second_start(args, db)))
        out.update(asyncio.run(backtest_bench(tmp)))
    out["seed_s"] = seed_s
    out["days"] = args.days
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
