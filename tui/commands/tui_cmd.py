"""``avwap tui`` (also plain ``avwap``): start the console.

Why the feed is chosen here: the app only sees a ``Controller`` with a feed
factory, so ``--feed replay`` (any cache, replayed as live), ``--feed demo``
(seed the demo data first if the cache is empty, then replay) and ``--feed ib``
(the live IB feed, when ``engine.feeds.ib`` exists) differ only in this file.
"""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from storage.cache import Cache
from storage.config import Config
from storage.errors import AvwapError, ConfigError
from tui.commands.common import config_of, db_of

if TYPE_CHECKING:  # the engine (MLX) loads only when the console starts
    from engine.feeds.replay import ReplayFeed


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
                   help="sessions to warm the engine on before the replay "
                        "(default: back to the start of the replay day's week)")
    p.add_argument("--history-days", type=int, default=19, metavar="N",
                   help="sessions of history loaded before the replay, the relative-volume "
                        "baseline (default: 19)")
    p.set_defaults(func=run)


def _speed(text: str) -> float | None:
    try:
        from engine.feeds.replay import parse_speed

        return parse_speed(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"bad speed {text!r}: use 1, 10, 60 or max") from e


def replay_factory(cache: Cache, args: argparse.Namespace) -> Any:
    from engine.feeds.replay import ReplayFeed

    def make(symbols: tuple[str, ...], resume_at: np.datetime64 | None) -> ReplayFeed:
        history = max(args.history_days, args.warm_days or 0)
        return ReplayFeed(cache, symbols, sessions=args.sessions, warm_sessions=history,
                          speed=args.speed, resume_at=resume_at)

    return make


def ib_factory(cfg: Config) -> Any:
    try:
        ib = importlib.import_module("engine.feeds.ib")
    except ModuleNotFoundError as e:
        raise ConfigError("the IB feed is not part of this build yet; use --feed replay") from e
    make = getattr(ib, "make_feed", None)
    if make is None:
        raise ConfigError("engine.feeds.ib has no make_feed(config, symbols, resume_at)")
    return lambda symbols, resume_at: make(cfg, symbols, resume_at)


def run(args: argparse.Namespace) -> int:
    from tui.app import AvwapApp
    from tui.controller import Controller

    cfg = config_of(args)
    list_name = args.list_name or cfg.tickers
    try:
        cache = Cache(db_of(args, cfg))
    except AvwapError:
        raise
    try:
        if args.feed == "demo" and cache.bar_count() == 0:
            from storage import demo
            from storage.tickers import load_list

            print(f"Seeding demo data for {list_name!r} into {cache.path}…")
            demo.seed_cache(cache, load_list(list_name).symbols)
            cache.checkpoint()
        factory = ib_factory(cfg) if args.feed == "ib" else replay_factory(cache, args)
        app = AvwapApp(
            Controller(cache, factory, engine_warm=args.warm_days),
            list_name=list_name,
            speed=args.speed,
            feed_kind=args.feed,
            keys=cfg.section("keys"),
        )
        app.run()
    finally:
        cache.close()
    return 0
