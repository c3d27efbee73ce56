"""``avwap sim-gateway``: run the IB Gateway simulator for a live-looking demo without IB.

Point the console's ``[ib]`` port at it; it serves bars from the cache (or the
demo generator) and plays them forward one simulated minute every ``--speed``
seconds, revising the forming minute ``--ticks`` times on the way.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from rich.console import Console

from storage.cache import Cache
from tui.commands.common import cli_console, db_of
from tui.commands.demo_cmd import symbols_from

if TYPE_CHECKING:  # the simulator pulls in the engine package (MLX): load it on use
    from ibsim import SimBars


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sim-gateway", help="run an offline IB Gateway simulator (TWS protocol)", parents=[common]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4002, help="port to listen on (default: 4002)")
    p.add_argument("--demo", action="store_true", help="serve generated demo bars, not the cache")
    p.add_argument("--symbols", default="curated", help="list name or A,B,C (with --demo)")
    p.add_argument("--days", type=int, default=5, help="demo sessions to generate (default: 5)")
    p.add_argument(
        "--speed", type=float, default=5.0,
        help="wall seconds per simulated minute; 0 waits for Enter (default: 5)",
    )
    p.add_argument("--ticks", type=int, default=4, help="forming-bar revisions per minute")
    p.add_argument("--no-pacing", action="store_true", help="do not enforce IB's pacing rules")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ibsim import SimBars

    console = cli_console()
    if args.demo:
        bars = SimBars.from_demo(symbols_from(args.symbols), days=args.days)
    else:
        with Cache(db_of(args), read_only=True) as cache:
            bars = SimBars.from_cache(cache)
    if not bars.symbols:
        console.print("[red]no bars to serve: run `avwap demo-data` or pass --demo[/]")
        return 2
    asyncio.run(_serve(console, bars, args))
    return 0


async def _serve(console: Console, bars: SimBars, args: argparse.Namespace) -> None:
    from ibsim import GatewaySim

    kw = {"pacing": None} if args.no_pacing else {}
    async with GatewaySim(bars, host=args.host, port=args.port, **kw) as sim:  # type: ignore[arg-type]
        console.print(
            f"IB Gateway simulator on {args.host}:{sim.port}: {len(bars.symbols)} symbols, "
            f"clock at {_stamp(bars.now)}. Ctrl-C stops."
        )
        loop = asyncio.get_running_loop()
        while not bars.ended:
            if args.speed <= 0:
                await loop.run_in_executor(None, input, "Enter = next minute ")
            else:
                for _ in range(max(args.ticks, 0)):
                    await asyncio.sleep(args.speed / (args.ticks + 1))
                    sim.tick()
                await asyncio.sleep(args.speed / (args.ticks + 1))
            sim.advance()
            console.print(f"{_stamp(bars.now)}  {len(sim.subscriptions)} streams", highlight=False)
        console.print("end of the data; still serving history. Ctrl-C stops.")
        await asyncio.Event().wait()


def _stamp(ts_s: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_s, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
