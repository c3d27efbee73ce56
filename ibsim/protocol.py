"""TWS socket protocol framing: the bytes on the wire, nothing about meaning.

A TWS API message is a 4-byte big-endian length followed by NUL-terminated
text fields. The client opens with ``API\\0`` and a framed ``v<min>..<max>``
version range; the server answers with a framed ``<version>\\0<time>\\0``.
Message ids and field orders are the client library's (``ib_async.decoder``),
so every encoder here lists its fields in that order.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Iterable

#: The server version the simulator speaks (both ib_async 2.x and ib_insync 0.9.86 accept it).
SERVER_VERSION = 176
MIN_SERVER_VERSION = 157

# Incoming (client -> server) message ids the simulator understands.
REQ_CONTRACT_DETAILS = 9
REQ_HISTORICAL = 20
CANCEL_HISTORICAL = 25
REQ_CURRENT_TIME = 49
REQ_REALTIME_BARS = 50
CANCEL_REALTIME_BARS = 51
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_POSITIONS = 61
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
REQ_COMPLETED_ORDERS = 99
#: Messages that would touch orders; a read-only console must never send them.
ORDER_MESSAGES = frozenset({3, 4, 8, 15, 16, 58})

# Outgoing (server -> client) message ids.
ERROR = 4
NEXT_VALID_ID = 9
CONTRACT_DETAILS = 10
MANAGED_ACCOUNTS = 15
HISTORICAL_DATA = 17
CURRENT_TIME = 49
REALTIME_BAR = 50
CONTRACT_DETAILS_END = 52
OPEN_ORDER_END = 53
ACCOUNT_DOWNLOAD_END = 54
EXEC_DETAILS_END = 55
POSITION_END = 62
ACCOUNT_UPDATE_MULTI_END = 74
HISTORICAL_DATA_UPDATE = 90
COMPLETED_ORDERS_END = 102

_VERSION_RE = re.compile(rb"v(\d+)\.\.(\d+)")


class ProtocolError(Exception):
    """The peer sent something that is not the TWS protocol."""


def fmt(value: object) -> str:
    """One field as TWS writes it: bools as 1/0, None as empty, floats without noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def encode(fields: Iterable[object]) -> bytes:
    """A framed message from its fields."""
    return frame("".join(fmt(f) + "\0" for f in fields).encode())


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    (size,) = struct.unpack(">I", head)
    if size > 16 * 1024 * 1024:
        raise ProtocolError(f"frame of {size} bytes")
    return await reader.readexactly(size)


def split_fields(payload: bytes) -> list[str]:
    fields = payload.decode(errors="replace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


async def read_handshake(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Read ``API\\0`` + the framed version range; returns (min, max) client versions."""
    magic = await reader.readexactly(4)
    if magic != b"API\0":
        raise ProtocolError(f"expected API\\0, got {magic!r}")
    payload = await read_frame(reader)
    m = _VERSION_RE.match(payload)
    if not m:
        raise ProtocolError(f"bad version range {payload[:40]!r}")
    return int(m.group(1)), int(m.group(2))


def choose_version(client_min: int, client_max: int) -> int | None:
    """The version both sides speak, or None when the ranges do not meet."""
    v = min(client_max, SERVER_VERSION)
    return v if v >= max(client_min, MIN_SERVER_VERSION) else None
