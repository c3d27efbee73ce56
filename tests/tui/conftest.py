"""Fixtures for the console tests: a small fixed demo cache and an app factory.

Everything is deterministic: demo bars for six symbols over three sessions ending
at ``storage.demo.DEFAULT_END``, a frozen clock (no wall time on screen), and
rendering without throttling, so Pilot and snapshot tests see exact values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage import demo
from storage.cache import Cache
from storage.feeds.replay import ReplaySource
from tui.app import AvwapApp
from tui.runtime.controller import Controller

SYMBOLS = ("SPY", "AAPL", "MSFT", "NVDA", "TSLA", "JPM")
DAYS = 3


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "demo.duckdb"
    with Cache(path) as cache:
        demo.seed_cache(cache, SYMBOLS, DAYS, end=demo.DEFAULT_END)
        cache.checkpoint()
    return path


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A user tickers folder: ``mini`` (all in the cache), ``half`` (some missing), ``broken``."""
    d = tmp_path / "tickers"
    d.mkdir()
    (d / "mini.json").write_text(json.dumps({"description": "six", "symbols": list(SYMBOLS)}))
    (d / "half.txt").write_text("SPY, AAPL\nZZZZ\n")
    (d / "broken.json").write_text('{"symbols": ["SPY", ')
    (d / "nodata.txt").write_text("QQQQ\n")
    return d


def make_controller(db: Path, user_dir: Path | None, *, warm: int = 0,
                    limit: int | None = None) -> Controller:
    """A controller replaying the demo cache's last session at max speed.

    ``warm=0`` (no warm-up: indicators start NaN, RVol and change % unknown)
    keeps Pilot tests fast on a busy machine; value and snapshot tests warm one
    session.
    """
    cache = Cache(db, read_only=True)
    source = ReplaySource(cache, end=demo.DEFAULT_END, warm_sessions=warm, speed=None,
                          limit=limit)
    return Controller(cache, source, clock=lambda: 0.0, user_dir=user_dir)


@pytest.fixture
def make_app(demo_db: Path, user_dir: Path) -> Callable[..., AvwapApp]:
    def make(list_name: str = "mini", *, live: bool = False, db: Path | None = None,
             warm: int = 0, limit: int | None = None, **kw: object) -> AvwapApp:
        ctl = make_controller(db or demo_db, user_dir, warm=warm, limit=limit)
        opts: dict[str, object] = {"clock": lambda: 0.0, "render_interval": 0.0,
                                   "chart_interval": 0.0, **kw}
        return AvwapApp(ctl, list_name=list_name, speed=None, live=live,
                        **opts)  # type: ignore[arg-type]

    return make


async def _ready(pilot: object) -> None:
    """Wait until the list is loaded and warmed (the session's switch done), then settle."""
    app = pilot.app  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    await app.console_screen.session.settled()
    await pilot.pause()  # type: ignore[attr-defined]
    await app.console_screen.session.settled()
    await pilot.pause()  # type: ignore[attr-defined]


async def _replay(pilot: object, minutes: int) -> None:
    """Step ``minutes`` minutes synchronously and render the last one."""
    app = pilot.app  # type: ignore[attr-defined]
    frame = None
    for _ in range(minutes):
        frame = await app.console_screen.session.step_next()
    assert frame is not None
    app.console_screen.show_frame(frame)
    await pilot.pause()  # type: ignore[attr-defined]


@pytest.fixture
def ready() -> Callable[..., object]:
    return _ready


@pytest.fixture
def replay() -> Callable[..., object]:
    return _replay


@pytest.fixture(scope="session", autouse=True)
def own_tmux_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test process gets its own tmux server (``TMUX_TMPDIR``), so tmux tests
    running in parallel workers never share windows, sizes or sessions."""
    import os
    import shutil
    import subprocess

    old = os.environ.get("TMUX_TMPDIR")
    os.environ["TMUX_TMPDIR"] = str(tmp_path_factory.mktemp("tmux"))
    yield
    tmux = shutil.which("tmux")
    if tmux:
        subprocess.run([tmux, "kill-server"], capture_output=True, check=False)
    if old is None:
        os.environ.pop("TMUX_TMPDIR", None)
    else:
        os.environ["TMUX_TMPDIR"] = old


@pytest.fixture(autouse=True)
def _drop_textual_style_caches() -> Iterator[None]:
    """After each test, let its app's widgets go: Textual's ``StylesCache.get_inner_outer``
    is an ``lru_cache`` (1,024 entries) on a method, so its keys keep the last ~50 apps'
    style caches and their rendered strips alive (~6,000 objects per app). The console
    collects the whole heap when a list is warmed (``tui.runtime.memory``), so in a test
    worker each warm-up's collection grew with the apps before it."""
    yield
    from textual._styles_cache import StylesCache

    clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if clear is not None:  # a later Textual may cache it differently
        clear()
