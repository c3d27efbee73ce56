"""Making a model active with a large list loaded keeps the live minutes coming.

The model's windows are primed from the rows the console kept (the warm-up's
last minutes and every minute since: ``ModelPicks.tape``), the highlighted
symbol first, then a chunk of symbols per MLX call; the replay's minutes run
between those calls. Everything is counted, never timed:

- minutes stepped between the priming calls (the frames): at max replay speed a
  minute is queued behind each chunk, so a console that froze for the whole
  activation (priming every symbol in one call) emits none;
- the registry computations the activation asks for: none of the registry, only
  the few lookback-scaled outputs the tape keeps too briefly (a recompute of
  every output over each symbol's history, as before, fails it);
- the highlighted symbol's picks are there after the first priming call.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import engine.compute
from storage import demo
from storage.cache import Cache
from storage.feeds.replay import ReplaySource
from storage.tickers import load_list
from tui.app import AvwapApp
from tui.runtime.controller import Controller
from tui.runtime.selector import NO_MODEL, ModelPicks
from tui.screens.console.watchlist import Watchlist

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))

from _mdata import save_untrained

N = 24  # symbols: six chunks of ModelPicks.CHUNK


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.duckdb"
    with Cache(path) as cache:
        # one session to warm on, four to replay: at max speed the feed is still
        # running when the model is made active (priming takes a few calls)
        demo.seed_cache(cache, load_list("all").symbols[:N], 5, end=demo.DEFAULT_END)
        cache.checkpoint()
    return path


async def test_activation_keeps_the_replay_clock_moving(
        big_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.registry import use

    root = tmp_path / "models"
    monkeypatch.setenv("AVWAP_MODELS_DIR", str(root))
    save_untrained(root, "tiny", lookback=20)
    tickers = tmp_path / "tickers"
    tickers.mkdir()
    (tickers / "big.txt").write_text("\n".join(load_list("all").symbols[:N]))
    cache = Cache(big_db, read_only=True)
    ctl = Controller(cache, ReplaySource(cache, end=demo.DEFAULT_END, warm_sessions=1, sessions=4,
                                         speed=None), clock=lambda: 0.0, user_dir=tickers)
    notes: list[str] = []
    calls: list[str] = []  # the MLX thread's work in order: "S" a minute, "P" a priming call
    step, prime, asked = ctl.step, ctl.prime_model, ctl.picks_for
    computed: list[tuple[str, ...]] = []  # the registry outputs each batch computation asked
    compute = engine.compute.compute

    def stepping(batch):  # type: ignore[no-untyped-def]
        frame = step(batch)
        notes.append(frame.picks_source)
        calls.append("S")
        return frame

    def priming(n: int | None = None) -> int:
        calls.append("P")
        return prime(n)

    def picks_for(symbol: str):  # type: ignore[no-untyped-def]
        got = asked(symbol)
        calls.append("K" if got[0] else "k")  # picks for the highlighted one, or none yet
        return got

    def computing(panel, names, *a, **kw):  # type: ignore[no-untyped-def]
        computed.append(tuple(names))
        return compute(panel, names, *a, **kw)

    monkeypatch.setattr(ctl, "step", stepping)
    monkeypatch.setattr(ctl, "prime_model", priming)
    monkeypatch.setattr(ctl, "picks_for", picks_for)
    monkeypatch.setattr(engine.compute, "compute", computing)
    monkeypatch.setattr(ModelPicks, "KEPT_CHUNK", 4)  # several chunks of a small list
    app = AvwapApp(ctl, list_name="big", speed=None, live=True, clock=lambda: 0.0,
                   render_interval=0.0, chart_interval=0.0)
    async with app.run_test(size=(160, 48)) as pilot:
        session = app.console_screen.session
        await pilot.pause()
        await session.settled()
        assert ctl.model.live is None and ctl.model.note == NO_MODEL
        use(root, "tiny")
        wl = app.console_screen.query_one(Watchlist)
        wl.focus()
        await pilot.press("down", "down", "down")  # not the first symbol: it goes first
        await pilot.pause()
        focus = wl.cursor_symbol
        assert focus is not None and focus != ctl.universe.view[0]
        while ctl.frame is None:  # the feed's first minute (polling, not synchronisation)
            await pilot.pause(0.05)
        assert ctl.model.tape.cover(ctl.symbols).min() >= ctl.model.tape.length  # kept
        notes[:], calls[:] = [], []
        session.model_changed(focus)
        await session.model_primed()
        live = ctl.model.live
        assert live is not None and not ctl.model.pending
        first, last = calls.index("P"), len(calls) - 1 - calls[::-1].index("P")
        primes = calls.count("P")
        assert primes == 1 + -(-(N - 1) // ModelPicks.KEPT_CHUNK)  # the focus, then chunks
        minutes = calls[first:last].count("S")  # minutes stepped while priming went on
        assert minutes >= (primes - 1) // 2, calls  # one whole-list call would give 0
        # the focus's picks after one priming call: the first ask after it has them
        assert next(c for c in calls[first + 1:] if c in "PKk") == "K", calls
        # no registry recompute: only the lookback-scaled outputs, in batch
        scaled = {n for n, r in zip(live.selector.features, live._roll, strict=True) if r}
        assert computed and all(set(names) <= scaled for names in computed), computed
        # once the model is loading the pane never says there is none
        while notes and notes[0] == NO_MODEL:  # a minute already queued before the call
            notes.pop(0)
        shown = notes
        assert shown and NO_MODEL not in shown
        assert shown[0].startswith(("loading model tiny", "model tiny"))
        assert all(live.seen(s) >= live.needed for s in live.symbols)
        await pilot.pause()
        picks = ctl.frame.picks.get(focus) if ctl.frame is not None else None
        if picks is None:  # the feed may have ended: ask as the pane does
            picks, _ = ctl.picks_for(focus)
        assert picks and ctl.model.note.startswith("model tiny")  # + its edge note
        assert np.isfinite([w for _, w, _ in picks]).all()
