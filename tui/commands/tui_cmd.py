"""``avwap tui`` (also plain ``avwap``): start the console.

Why the feed is chosen here: the app only sees a ``Controller`` with a feed
factory, so ``--feed replay`` (any cache, replayed as live), ``--feed demo``
(seed the demo data first if the cache is empty, then replay) and ``--feed ib``
(live minutes from TWS / IB Gateway) differ only in this file.

``--feed ib`` needs one thing the replay does not: the IB client runs on the
app's own event loop (``IBLiveSession.bind``, before the first list loads).
``run_live`` binds it around ``App.run_async`` (and closes the connection there
too, in case the app ended without its runtime's shutdown); the tests call
``build_app`` and do the same around ``App.run_test``. Feed states and notices
reach the screen as messages through the runtime's console session.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from typing import TYPE_CHECKING, TextIO

from storage import sharing
from storage.cache import Cache
from storage.config import Config
from storage.errors import AvwapError, ConfigError, TickerListError
from tui.commands.common import config_of, db_of

if TYPE_CHECKING:  # the engine (MLX) loads only when the console starts
    from storage.feeds.ib_live import IBLiveSession
    from storage.feeds.replay import ReplaySource
    from tui.app import AvwapApp


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", help="start the console (the default command)", parents=[common])
    p.add_argument("--feed", choices=("replay", "demo", "ib"), default="replay",
                   help="replay: the cache replayed as live; demo: seed demo data if the "
                        "cache is empty, then replay; ib: live bars from IB (default: replay)")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X",
                   help="replay speed: 1, 10, 60 or max (default: 1; the s key changes it)")
    p.add_argument("--list", dest="list_name", default=None, metavar="NAME",
                   help="ticker list to open (default: the config's `tickers`, else curated)")
    p.add_argument("--sessions", type=int, default=1,
                   help="sessions to replay, ending at the cache's last one (default: 1)")
    p.add_argument("--warm-days", type=int, default=None, metavar="N",
                   help="at least N sessions of bars each indicator's warm state is read "
                        "from (default: 1; more when its declared history needs it, up "
                        "to 7); calendar AVWAP anchors, OBV, A/D and relative volume are "
                        "exact from all --history-days sessions, so every output equals "
                        "its batch value")
    p.add_argument("--history-days", type=int, default=19, metavar="N",
                   help="sessions of history loaded before the replay: the AVWAP anchors' "
                        "and the relative-volume "
                        "baseline (default: 19)")
    p.add_argument("--ib-port", type=_port, default=None, metavar="PORT",
                   help="with --feed ib: TWS / IB Gateway port (default: the config's [ib] port)")
    p.set_defaults(func=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"bad port {text!r}")
    return port


def _speed(text: str) -> float | None:
    try:
        from storage.feeds.replay import parse_speed

        return parse_speed(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"bad speed {text!r}: use 1, 10, 60 or max") from e


def replay_source(cache: Cache, args: argparse.Namespace) -> ReplaySource:
    from storage.feeds.replay import ReplaySource

    history = max(args.history_days, args.warm_days or 0)
    return ReplaySource(cache, sessions=args.sessions, warm_sessions=history, speed=args.speed)


def ib_factory(cfg: Config, cache: Cache, args: argparse.Namespace) -> IBLiveSession:
    """One IB session for the console: host/port/clientId from ``[ib]``, ``--ib-port`` wins."""
    try:
        from storage.feeds.ib_client import load_api
        from storage.feeds.ib_config import IBConfig
        from storage.feeds.ib_live import IBLiveSession
    except ModuleNotFoundError as e:
        raise ConfigError("the IB feed is not part of this build; use --feed replay") from e
    ib_cfg = IBConfig.from_config(cfg)
    if args.ib_port is not None:
        ib_cfg = dataclasses.replace(ib_cfg, port=args.ib_port)
    try:
        load_api(ib_cfg.api)
    except ImportError as e:
        raise ConfigError(f"--feed ib: {e}") from e
    return IBLiveSession(ib_cfg, cache, history_sessions=args.history_days)


def opening_list(args: argparse.Namespace, cfg: Config) -> str:
    """The list the console opens with, checked before anything starts.

    Why here: an unknown name (a typo in the config's ``tickers``) used to open
    an empty console with no word; now it is one line naming the list, where the
    name came from, and the lists that exist.
    """
    from storage.tickers import load_list

    name: str = args.list_name or cfg.tickers
    origin = "--list" if args.list_name else f"{cfg.path}: tickers"
    try:
        load_list(name)
    except TickerListError as e:
        raise ConfigError(f"{origin} = {name!r}: {e}") from e
    return name


def build_app(
    args: argparse.Namespace, cfg: Config, cache: Cache
) -> tuple[AvwapApp, IBLiveSession | None]:
    """The app for ``args`` and, with ``--feed ib``, the IB session it runs on."""
    from storage.settings import ALERTS
    from tui.alerts import ALERTS_FILE, AlertBook
    from tui.app import AvwapApp
    from tui.runtime.controller import Controller
    from tui.runtime.scans import SCANS_FILE, ScanBook, ScanRunner

    list_name = opening_list(args, cfg)
    session = ib_factory(cfg, cache, args) if args.feed == "ib" else None
    source = session if session is not None else replay_source(cache, args)
    controller = Controller(cache, source, engine_warm=args.warm_days)
    # The user's alert rules live beside the config (and survive a restart).
    controller.alerts = AlertBook(cfg.path.parent / ALERTS_FILE)
    controller.scans = ScanRunner(ScanBook(cfg.path.parent / SCANS_FILE),  # the Scanner's
                                  controller.user_dir)
    app = AvwapApp(
        controller,
        list_name=list_name,
        speed=None if session is not None else args.speed,
        feed_kind=args.feed,
        keys=cfg.section("keys"),
        desktop_alerts=ALERTS.read(cfg.section("alerts"), f"{cfg.path} [alerts]")["desktop"],
    )
    return app, session


async def run_live(app: AvwapApp, session: IBLiveSession) -> None:
    """Run ``app`` with the IB client on its loop; disconnect when it exits."""
    session.bind(asyncio.get_running_loop())
    try:
        await app.run_async()
    finally:
        await session.aclose()


def require_terminal(streams: dict[str, TextIO | None] | None = None) -> None:
    """Refuse to start without a terminal on stdin, stdout and stderr.

    The console draws on stderr and reads keys from stdin; started in a pipe it
    would write escape codes into it and spin on its input. One line instead.
    """
    streams = streams if streams is not None else {
        "stdin": sys.stdin, "stdout": sys.stdout, "stderr": sys.stderr}
    for name, stream in streams.items():
        try:
            tty = stream is not None and os.isatty(stream.fileno())
        except (OSError, ValueError):
            tty = False
        if not tty:
            raise AvwapError(f"the console needs a terminal, and {name} is not one; run "
                             "`avwap tui` in a terminal (the other commands work in scripts)")


def run(args: argparse.Namespace) -> int:
    cfg = config_of(args)
    list_name = opening_list(args, cfg)  # a typo in the list is named even in a pipe
    require_terminal()
    # The screen owns the terminal: a wait for the cache is not printed over it
    # (the console's own writes never wait long; ``storage.feeds`` keeps minutes).
    sharing.configure(say=lambda line: None)
    cache = Cache(db_of(args, cfg))
    try:
        if args.feed == "demo" and cache.bar_count() == 0:
            from storage import demo
            from storage.tickers import load_list

            print(f"Seeding demo data for {list_name!r} into {cache.path}…")
            demo.seed_cache(cache, load_list(list_name).symbols)
            cache.checkpoint()
        app, session = build_app(args, cfg, cache)
        try:
            if session is None:
                app.run()
            else:
                asyncio.run(run_live(app, session))
        finally:
            # The screen is gone; a call the MLX thread was still making (a
            # first warm-up on a busy machine) may still use the cache: let it
            # end before the cache closes under it.
            app.runtime.executor.finish()
        for line in app.left_running:  # the training goes on: say which, and where
            print(line)
    finally:
        cache.close()
    return app.return_code or 0  # 128 + the signal after SIGHUP/SIGTERM
