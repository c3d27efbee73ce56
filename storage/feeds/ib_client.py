"""A thin adapter over ib_async / ib_insync: the only module that touches the IB library.

ib_insync's maintained successor ib_async has the same API, so one adapter
serves both; ``load_api()`` picks ib_async when installed, else ib_insync.
The adapter exposes only what a read-only console needs (connect, contract
details, historical bars with ``keepUpToDate``, the server time, errors): there
is deliberately no way to place, modify or cancel an order through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

#: IB error codes that are notices, not errors (farm status, delayed data …).
INFO_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158, 2100, 10167, 165, 366})
#: Notices that something is degraded but the request is still alive.
WARNING_CODES = frozenset({2103, 2105, 2157, 2110})
UNKNOWN_SYMBOL = 200
NO_PERMISSION = frozenset({354, 10168, 10197})
PACING = 162
CLIENT_ID_IN_USE = 326
MAX_TICKERS = 101
CONNECTIVITY_LOST, RESTORED_DATA_LOST, RESTORED_DATA_KEPT = 1100, 1101, 1102
EXCHANGE_TZ = ZoneInfo("America/New_York")


def is_informational(code: int) -> bool:
    return code in INFO_CODES or (2100 <= code < 2200 and code not in WARNING_CODES)


def load_api(name: str = "") -> ModuleType:
    """The IB client module: ``name`` if given, else ib_async, else ib_insync.

    A forced ``name`` that is missing is named as such: saying "neither is
    installed" while the other one is would send the user to the wrong fix.
    """
    if name:
        try:
            return importlib.import_module(name)
        except ImportError:
            raise ImportError(
                f"{name} is not installed (pip install {name}, or remove api = {name!r} "
                "from [ib] to use the installed library)"
            ) from None
    for mod in ("ib_async", "ib_insync"):
        try:
            return importlib.import_module(mod)
        except ImportError:
            continue
    raise ImportError("neither ib_async nor ib_insync is installed (pip install ib_async)")


class ClientIdInUse(ConnectionError):
    """The gateway refused the clientId: another API client (a second console, a script,
    or a session of ours the gateway has not closed yet) is connected with it."""


def utc_minute(value: Any, exchange_tz: dt.tzinfo = EXCHANGE_TZ) -> int:
    """A bar's date as epoch minutes (UTC bar start).

    formatDate=2 gives aware UTC datetimes; formatDate=1 gives exchange-local
    times, aware (``... US/Eastern``) or, from older gateways, naive: those are
    taken as exchange time, never as UTC. A date (daily bar) is its midnight.
    """
    if isinstance(value, dt.datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=exchange_tz)
    elif isinstance(value, dt.date):
        t = dt.datetime(value.year, value.month, value.day, tzinfo=exchange_tz)
    elif isinstance(value, np.datetime64):
        return int(value.astype("datetime64[m]").astype(np.int64))
    else:
        raise TypeError(f"not a bar date: {value!r}")
    return int(t.timestamp()) // 60


class IBClient:
    """One read-only API connection."""

    def __init__(self, api: str | ModuleType = "") -> None:
        self.api = api if isinstance(api, ModuleType) else load_api(api)
        self.ib = self.api.IB()
        self.ib.RaiseRequestErrors = False
        self._on_error: list[Callable[[int, int, str, str | None], None]] = []
        self._connecting_failure: str | None = None
        self._time_lock = asyncio.Lock()
        self.ib.errorEvent += self._error

    @property
    def name(self) -> str:
        return self.api.__name__

    def on_error(self, cb: Callable[[int, int, str, str | None], None]) -> None:
        """``cb(req_id, code, message, symbol_or_None)`` for every error/notice."""
        self._on_error.append(cb)

    def on_disconnect(self, cb: Callable[[], None]) -> None:
        self.ib.disconnectedEvent += cb

    def _error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        if code == CLIENT_ID_IN_USE:
            self._connecting_failure = "in use"
        symbol = getattr(contract, "symbol", None) or None
        for cb in self._on_error:
            cb(req_id, code, message, symbol)

    def is_connected(self) -> bool:
        return bool(self.ib.isConnected())

    async def connect(self, host: str, port: int, client_id: int, timeout: float) -> None:
        """Connect read-only; raises ClientIdInUse / ConnectionError / TimeoutError fast.

        The libraries wait for the full timeout when the gateway closes the
        socket during the handshake (its answer to a clientId in use), so the
        connect is cancelled as soon as the library reports that.
        """
        self._connecting_failure = None
        task = asyncio.ensure_future(
            self.ib.connectAsync(host, port, clientId=client_id, timeout=timeout, readonly=True)
        )

        def api_error(msg: str) -> None:
            if "already in use" in msg or "Peer closed" in msg:
                self._connecting_failure = self._connecting_failure or "closed"
                task.cancel()

        self.ib.client.apiError += api_error
        try:
            await task
        except asyncio.CancelledError:
            if self._connecting_failure is None:
                raise
            with contextlib.suppress(Exception):
                self.ib.disconnect()
            if self._connecting_failure == "in use" or "in use" in self._connecting_failure:
                raise ClientIdInUse(
                    f"clientId {client_id} is in use: another console or API client may be "
                    "connected with that client id"
                ) from None
            raise ConnectionError("the gateway closed the connection while logging in") from None
        finally:
            self.ib.client.apiError -= api_error

    def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.ib.disconnect()

    async def server_time(self, timeout: float = 10.0) -> float:
        """The gateway's clock, epoch seconds; TimeoutError when the gateway does not answer.

        One at a time: the libraries keep a single pending "currentTime" request,
        so a second concurrent call would orphan the first one's answer.
        """
        async with self._time_lock:
            t = await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), timeout)
        return float(t.timestamp())

    def stock(self, symbol: str) -> Any:
        return self.api.Stock(symbol, "SMART", "USD")

    async def qualify(self, symbol: str) -> Any | None:
        """The qualified contract, or None (the error callback said why)."""
        details = await self.ib.reqContractDetailsAsync(self.stock(symbol))
        if not details:
            return None
        return details[0].contract

    async def history(
        self, contract: Any, duration: str, *, keep_up_to_date: bool, use_rth: bool,
        end: str = "", timeout: float = 60.0,
    ) -> Any:
        """1-minute TRADES bars ending ``end`` (UTC ``yyyymmdd-hh:mm:ss``; "" is now,
        forming bar included); formatDate=2 gives UTC epoch stamps."""
        return await self.ib.reqHistoricalDataAsync(
            contract, end, duration, "1 min", "TRADES", use_rth,
            formatDate=2, keepUpToDate=keep_up_to_date, timeout=timeout,
        )

    def cancel(self, bars: Any) -> None:
        with contextlib.suppress(Exception):
            self.ib.cancelHistoricalData(bars)
