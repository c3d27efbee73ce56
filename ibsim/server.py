"""The gateway simulator: an asyncio TCP server on 127.0.0.1 that plays IB Gateway.

It answers what ib_async/ib_insync send on connect (positions, open and
completed orders, account updates, executions: each with its end message),
contract details, historical 1-minute bars and ``keepUpToDate`` updates, and
errors. Tests drive it with controls instead of the wall clock: ``advance()``
closes a minute, ``tick()`` revises the forming one, ``drop()`` restarts
"TWS", ``stall()`` silences streams, ``reject()``/``deny()`` refuse symbols.
It also enforces IB's historical pacing rules (error 162) on an injectable
clock, so a test can prove the feed's queue never provokes a violation.

Faults, for the feed's recovery tests (the simulated clock is kept through
all of them, as a real gateway's market goes on while the client is away):
``kill()``/``restart()`` (the process dies: the port refuses connections, then
listens again on the same port), ``freeze()``/``thaw()`` (SIGSTOP/SIGCONT:
sockets stay open, nothing is read or answered), ``refuse_pacing()`` (the next
historical requests are refused with 162 whatever the rules say),
``lose_bars()`` (an answer missing its oldest bars), ``close_minute_in_answer()``
(a minute closes between a request and its answer) and ``broadcast_error()``
(1100/1101/1102 and other notices).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ibsim import protocol as p
from ibsim.bars import Bar, SimBars
from storage.feeds.pacing import PacingRules

log = logging.getLogger(__name__)
_IB_RULES = PacingRules()
_NY = ZoneInfo("America/New_York")


@dataclass
class _Sub:
    req_id: int
    symbol: str
    rth: bool
    format_date: int
    stalled: bool = False


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    version: int = 0
    client_id: int | None = None
    subs: dict[int, _Sub] = field(default_factory=dict)

    def send(self, *fields: object) -> None:
        if not self.writer.is_closing():
            self.writer.write(p.encode(fields))


class GatewaySim:
    """A fake IB Gateway serving ``bars``. Use ``async with GatewaySim(bars) as sim``."""

    def __init__(
        self,
        bars: SimBars,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: tuple[str, ...] = ("DU0000001",),
        clock: Callable[[], float] = time.monotonic,
        pacing: PacingRules | None = _IB_RULES,
        max_lines: int | None = None,
    ) -> None:
        self.bars = bars
        self.host, self.port = host, port
        self.accounts = accounts
        self.clock = clock
        self.pacing = pacing
        self.max_lines = max_lines
        self.conns: list[_Conn] = []
        self.received: collections.Counter[int] = collections.Counter()
        self.history_log: list[tuple[float, str, tuple[str, ...]]] = []
        self.pacing_violations = 0
        self.connections = 0
        self.rejected: set[str] = set()
        self.denied: dict[str, int] = {}
        self.refusals: collections.Counter[str] = collections.Counter()  # symbol|"*" -> left
        self.lossy: dict[str, int] = {}
        self.refused = 0  # requests refused by refuse_pacing (not the client's fault)
        self.boundaries = 0  # historical answers left that first close a minute
        self.killed = False
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._busy: dict[int, int] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for c in list(self.conns):
            c.writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for t in list(self._tasks):
            t.cancel()

    async def kill(self) -> None:
        """The gateway process dies: every socket is reset and the port refuses connections."""
        self.killed = True
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop()

    async def restart(self) -> None:
        """The gateway comes back on the same port, its market clock where it was."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.killed = False

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, but nothing is read, answered or streamed."""
        self._thawed.clear()

    def thaw(self) -> None:
        """SIGCONT: the gateway answers again (what was queued is processed now)."""
        self._thawed.set()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def refuse_pacing(self, times: int = 1, symbol: str | None = None) -> None:
        """The next ``times`` historical requests (of ``symbol``; any when None) get 162."""
        self.refusals[symbol or "*"] += times

    def close_minute_in_answer(self, times: int = 1) -> None:
        """The next ``times`` historical answers each close the forming minute first
        (``advance()`` between the request and its answer): a minute ends while the
        client waits, so the answer holds a closed bar the client's clock says is forming."""
        self.boundaries += times

    def lose_bars(self, symbol: str, first: int) -> None:
        """The next historical answer for ``symbol`` leaves out its ``first`` oldest bars
        (a lossy gateway: the client is left with a hole it must find and repair)."""
        self.lossy[symbol] = first

    async def __aenter__(self) -> GatewaySim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- controls
    @property
    def order_messages(self) -> int:
        """How many order-related messages clients sent (a read-only client sends none)."""
        return sum(self.received[m] for m in p.ORDER_MESSAGES)

    @property
    def subscriptions(self) -> list[str]:
        return sorted(s.symbol for c in self.conns for s in c.subs.values())

    def advance(self, minutes: int = 1) -> float:
        """Close the forming minute (its final bar) and open the next.

        Returns ``time.perf_counter()`` at the moment the encoded bars are written
        to the sockets (the start of the latency a benchmark measures).
        """
        t0 = time.perf_counter()
        for _ in range(minutes):
            t0 = time.perf_counter()
            if self.frozen:  # the market goes on; the stopped gateway sends nothing
                self.bars.advance()
                continue
            closing = self.bars.now
            out: dict[int, list[bytes]] = {}
            for c in self.conns:
                buf = out.setdefault(id(c), [])
                for s in c.subs.values():
                    bar = None if s.stalled else self.bars.final_at(s.symbol, closing)
                    if bar is not None and self._in_hours(s, bar):
                        buf.append(self._update(c, s, bar))
            self.bars.advance()
            for c in self.conns:
                buf = out.setdefault(id(c), [])
                for s in c.subs.values():
                    bar = None if s.stalled else self.bars.forming(s.symbol)
                    if bar is not None and self._in_hours(s, bar):
                        buf.append(self._update(c, s, bar))
            t0 = time.perf_counter()  # encoded; the bytes go on the wire now
            for c in self.conns:
                buf = out.get(id(c), [])
                if buf and not c.writer.is_closing():
                    c.writer.write(b"".join(buf))
        return t0

    def tick(self) -> None:
        """Revise the forming minute: every live stream gets its new version."""
        self.bars.tick()
        for c in self.conns if not self.frozen else []:
            buf = []
            for s in c.subs.values():
                bar = None if s.stalled else self.bars.forming(s.symbol)
                if bar is not None and self._in_hours(s, bar):
                    buf.append(self._update(c, s, bar))
            if buf and not c.writer.is_closing():
                c.writer.write(b"".join(buf))

    def drop(self, busy_attempts: int = 0) -> None:
        """Close every connection (a TWS restart). The next ``busy_attempts`` logins
        with a dropped clientId are refused with 326 (the old session lingers)."""
        for c in list(self.conns):
            if c.client_id is not None and busy_attempts:
                self._busy[c.client_id] = busy_attempts
            c.writer.transport.abort()
        self.conns.clear()

    def stall(self, symbol: str | None = None) -> None:
        """Silence the current streams of ``symbol`` (all when None); new ones work."""
        for c in self.conns:
            for s in c.subs.values():
                if symbol is None or s.symbol == symbol:
                    s.stalled = True

    def reject(self, symbol: str) -> None:
        """Contract details for ``symbol`` fail with 200 (unknown security)."""
        self.rejected.add(symbol)

    def deny(self, symbol: str, code: int = 354) -> None:
        """Historical data for ``symbol`` fails with ``code`` (354 or 10168: no permission)."""
        self.denied[symbol] = code

    def broadcast_error(self, code: int, message: str, req_id: int = -1) -> None:
        """Send an error/notice to every client (1100, 1101, 1102, 2104 …)."""
        for c in self.conns:
            self._error(c, req_id, code, message)

    # ------------------------------------------------------------ connection
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = _Conn(reader, writer)
        try:
            await self._thawed.wait()
            lo, hi = await p.read_handshake(reader)
            version = p.choose_version(lo, hi)
            if version is None:
                writer.close()
                return
            conn.version = version
            self.connections += 1
            now = dt.datetime.fromtimestamp(self.bars.server_time(), _NY)
            writer.write(p.encode([version, now.strftime("%Y%m%d %H:%M:%S EST")]))
            self.conns.append(conn)
            while True:
                payload = await p.read_frame(reader)
                await self._thawed.wait()
                fields = p.split_fields(payload)
                if fields:
                    self._dispatch(conn, fields)
                    if conn.writer.is_closing():
                        break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, p.ProtocolError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a simulator bug must not look like a network drop
            log.exception("gateway simulator failed on a message")
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _error(self, c: _Conn, req_id: int, code: int, message: str) -> None:
        c.send(p.ERROR, 2, req_id, code, message, "")

    def _dispatch(self, c: _Conn, f: list[str]) -> None:
        msg = int(f[0])
        self.received[msg] += 1
        if msg == p.START_API:
            self._start_api(c, int(f[2]))
        elif msg == p.REQ_POSITIONS:
            c.send(p.POSITION_END, 1)
        elif msg == p.REQ_OPEN_ORDERS:
            c.send(p.OPEN_ORDER_END, 1)
        elif msg == p.REQ_COMPLETED_ORDERS:
            c.send(p.COMPLETED_ORDERS_END)
        elif msg == p.REQ_ACCOUNT_UPDATES:
            if f[2] == "1":
                c.send(8, 1, "09:30")
                c.send(p.ACCOUNT_DOWNLOAD_END, 1, f[3])
        elif msg == p.REQ_ACCOUNT_UPDATES_MULTI:
            c.send(p.ACCOUNT_UPDATE_MULTI_END, 1, f[2])
        elif msg == p.REQ_EXECUTIONS:
            c.send(p.EXEC_DETAILS_END, 1, f[2])
        elif msg == p.REQ_CURRENT_TIME:
            c.send(p.CURRENT_TIME, 1, self.bars.server_time())
        elif msg == p.REQ_CONTRACT_DETAILS:
            self._contract_details(c, f)
        elif msg == p.REQ_HISTORICAL:
            self._historical(c, f)
        elif msg == p.CANCEL_HISTORICAL:
            c.subs.pop(int(f[2]), None)
        elif msg == p.REQ_REALTIME_BARS:
            self._error(c, int(f[2]), 321, "real-time bars are not simulated; use keepUpToDate")
        elif msg in p.ORDER_MESSAGES:
            self._error(c, -1, 321, "the simulator is read-only")

    def _start_api(self, c: _Conn, client_id: int) -> None:
        in_use = any(o is not c and o.client_id == client_id for o in self.conns)
        if in_use or self._busy.get(client_id, 0) > 0:
            if not in_use:
                self._busy[client_id] -= 1
            self._error(c, -1, 326, "Unable to connect as the client id is already in use. "
                        "Retry with a unique client id.")
            c.writer.close()
            return
        c.client_id = client_id
        c.send(p.NEXT_VALID_ID, 1, 1)
        c.send(p.MANAGED_ACCOUNTS, 1, ",".join(self.accounts))
        for code, text in (
            (2104, "Market data farm connection is OK:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ):
            self._error(c, -1, code, text)

    # ------------------------------------------------------------- requests
    @staticmethod
    def con_id(symbol: str) -> int:
        return zlib.crc32(symbol.encode()) % 900_000_000 + 1000

    def _contract_details(self, c: _Conn, f: list[str]) -> None:
        req_id, symbol, sec_type = int(f[2]), f[4], f[5] or "STK"
        if symbol in self.rejected or not self.bars.has(symbol) or sec_type != "STK":
            self._error(c, req_id, 200, "No security definition has been found for the request")
            return
        c.send(
            p.CONTRACT_DETAILS, req_id, symbol, "STK", "", 0.0, "", "SMART", "USD", symbol,
            symbol, symbol, self.con_id(symbol), 0.01, "", "LMT,MKT", "SMART,NYSE,NASDAQ", 1, 0,
            f"{symbol} INC", "NASDAQ", "", "", "", "", "US/Eastern", "", "", "", "", 0,
            1, "", "", "26", "", "COMMON", 1, 1, 100,
        )
        c.send(p.CONTRACT_DETAILS_END, 1, req_id)

    def _pacing_ok(self, symbol: str, what: str, key: tuple[str, ...]) -> bool:
        rules = self.pacing
        now = self.clock()
        if rules is None:
            self.history_log.append((now, symbol, key))
            return True
        recent = [e for e in self.history_log if now - e[0] < rules.window_s]
        same = [e for e in recent if e[1] == symbol and now - e[0] < rules.same_contract_window_s]
        identical = any(e[2] == key and now - e[0] < rules.identical_window_s for e in recent)
        if len(recent) >= rules.max_per_window or len(same) >= rules.max_same_contract or identical:
            self.pacing_violations += 1
            return False
        self.history_log.append((now, symbol, key))
        return True

    def _historical(self, c: _Conn, f: list[str]) -> None:
        req_id, symbol = int(f[1]), f[3]
        end_str, bar_size, duration = f[15], f[16], f[17]
        rth, what, fmt_date, keep = f[18] == "1", f[19], int(f[20] or 1), f[21] == "1"
        refused = next((k for k in (symbol, "*") if self.refusals[k] > 0), None)
        if refused is not None:
            self.refusals[refused] -= 1
            self.refused += 1
        if refused is not None or not self._pacing_ok(symbol, what, tuple(f[2:22])):
            self._error(c, req_id, 162, "Historical Market Data Service error message:"
                        "API historical data query cancelled: pacing violation")
            return
        if not self.bars.has(symbol) or symbol in self.rejected:
            self._error(c, req_id, 200, "No security definition has been found for the request")
            return
        if symbol in self.denied:
            code = self.denied[symbol]
            self._error(c, req_id, code, "Historical Market Data Service error message:"
                        "No market data permissions for NASDAQ STK")
            return
        if bar_size.strip() != "1 min":
            self._error(c, req_id, 321, f"bar size {bar_size!r} is not simulated (1 min only)")
            return
        if keep and end_str:
            self._error(c, req_id, 321, "End date not supported with live updates")
            return
        if keep and self.max_lines is not None and sum(len(o.subs) for o in self.conns) >= (
            self.max_lines
        ):
            self._error(c, req_id, 101, "Max number of tickers has been reached")
            return
        if self.boundaries > 0:
            self.boundaries -= 1
            self.advance()
        try:
            end_s = _parse_end(end_str)
            bars = self.bars.history(symbol, end_s, duration, rth)
        except ValueError as e:
            self._error(c, req_id, 321, f"Error validating request: {e}")
            return
        lost = self.lossy.pop(symbol, 0)
        if lost:
            bars = bars[lost:]
        fields: list[object] = [p.HISTORICAL_DATA, req_id]
        start = bars[0].ts if bars else self.bars.now
        fields += [_fmt_date(start, fmt_date), _fmt_date(self.bars.now, fmt_date), len(bars)]
        for b in bars:
            fields += [_fmt_date(b.ts, fmt_date), b.open, b.high, b.low, b.close, b.volume,
                       b.wap, 1]
        c.send(*fields)
        if keep:
            c.subs[req_id] = _Sub(req_id, symbol, rth, fmt_date)

    def _in_hours(self, s: _Sub, bar: Bar) -> bool:
        if not s.rth:
            return True
        return self.bars.is_rth(s.symbol, bar.ts)

    def _update(self, c: _Conn, s: _Sub, b: Bar) -> bytes:
        return p.encode([
            p.HISTORICAL_DATA_UPDATE, s.req_id, 1, _fmt_date(b.ts, s.format_date),
            b.open, b.close, b.high, b.low, b.wap, b.volume,
        ])


def _fmt_date(ts_s: int, format_date: int) -> str:
    """formatDate 2: epoch seconds (UTC); 1: exchange-local time with its zone name."""
    if format_date == 2:
        return str(ts_s)
    return dt.datetime.fromtimestamp(ts_s, _NY).strftime("%Y%m%d %H:%M:%S US/Eastern")


def _parse_end(s: str) -> int | None:
    """A request's endDateTime as epoch seconds ("" is now)."""
    s = s.strip()
    if not s:
        return None
    if "-" in s[:9] and " " not in s:  # 20251121-15:30:00 is UTC
        day, clock = s.split("-", 1)
        tz: dt.tzinfo = dt.UTC
    else:
        parts = s.split(" ")
        day, clock = parts[0], parts[1] if len(parts) > 1 else "23:59:59"
        tz = ZoneInfo(parts[2]) if len(parts) > 2 and parts[2] != "UTC" else dt.UTC
    t = dt.datetime.strptime(day + clock, "%Y%m%d%H:%M:%S").replace(tzinfo=tz)
    return int(t.timestamp())
