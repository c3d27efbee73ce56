"""The ``[pg]`` config section: where the user's minute bars live in PostgreSQL.

Why a module of its own: the sync builds SQL from names the user typed into a
config file, and it holds a password. Both are dangerous in the wrong place,
so both are settled here, once: every identifier is checked against a strict
pattern before any SQL is built (and is quoted anyway when it is), and the DSN
is only ever shown through ``redact_dsn``.

Example (a table ``public.minute_bars(ticker, datetime, o, h, l, c, v)`` whose
``datetime`` is a ``timestamp without time zone`` in New York time)::

    [pg]
    table = "public.minute_bars"
    ts_type = "timestamp"
    ts_zone = "America/New_York"
    [pg.columns]
    symbol = "ticker"
    ts = "datetime"
    open = "o"
    high = "h"
    low = "l"
    close = "c"
    volume = "v"
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.errors import ConfigError
from storage.settings import PG, ROLES

DSN_ENV = "AVWAP_PG_DSN"

# Plain SQL identifiers: a letter or underscore, then letters, digits, _ or $,
# at most 63 bytes (PostgreSQL's NAMEDATALEN - 1). Anything else is refused
# rather than escaped: a config file is no place for exotic names.
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

def check_identifier(name: object, what: str) -> str:
    """``name`` if it is a plain SQL identifier, else a ``ConfigError`` naming ``what``."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ConfigError(
            f"[pg] {what} {name!r} is not a valid identifier: use letters, digits, _ and $, "
            "starting with a letter or _, at most 63 characters"
        )
    return name


@dataclass(frozen=True)
class PgSource:
    """Where and how to read minute bars from PostgreSQL (the ``[pg]`` section)."""

    schema: str = "public"
    """Schema of the source table (the part before the dot of ``table``)."""
    table: str = "bars"
    """The source table; configured as ``table = "schema.table"`` or ``"table"``."""
    columns: Mapping[str, str] = field(default_factory=lambda: {r: r for r in ROLES})
    """Source column name per role (symbol, ts, open, high, low, close, volume);
    roles left out keep their own name."""
    ts_type: str = "timestamptz"
    """``timestamptz``, or ``timestamp`` (without time zone) read in ``ts_zone``."""
    ts_zone: str | None = None
    """IANA zone a ``timestamp`` column is in (e.g. ``America/New_York``); required
    with ``ts_type = "timestamp"``, converted to UTC on the server."""
    dsn: str = field(default="", repr=False)
    """libpq connection string or URL; ``$AVWAP_PG_DSN`` wins over the config."""
    overlap_minutes: int = 60
    """How far before the cache's newest bar of a symbol an incremental sync
    starts again, so that late corrections in the source replace older values."""
    chunk_rows: int = 250_000
    """Rows per chunk: the unit of memory, of commit and of Ctrl-C."""
    max_connections: int = 2
    """Most connections a sync opens on the server at once (the server is the
    user's): a large read is split into this many symbol ranges read in
    parallel; 1 reads in one stream."""
    future_minutes: int = 15
    """Bars starting later than now plus this many minutes are refused
    ("timestamp in the future") and never move the incremental resume point."""

    @classmethod
    def from_section(
        cls, section: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> PgSource:
        """Build and validate from ``Config.section('pg')`` (``env`` defaults to os.environ)."""
        env = os.environ if env is None else env
        values = PG.read(section, "[pg]")  # keys, types and bounds: ``storage.settings.PG``
        parts = values["table"].split(".")
        if len(parts) > 2:
            raise ConfigError(f"[pg] table {values['table']!r}: use 'schema.table' or 'table'")
        schema, table = parts if len(parts) == 2 else ["public", parts[0]]
        check_identifier(schema, "schema")
        check_identifier(table, "table")

        cols_raw = values["columns"]
        bad_roles = sorted(set(cols_raw) - set(ROLES))
        if bad_roles:
            raise ConfigError(
                f"[pg.columns] unknown role(s): {', '.join(bad_roles)} (roles: {', '.join(ROLES)})"
            )
        columns = {r: check_identifier(cols_raw.get(r, r), f"column for {r}") for r in ROLES}
        dup = sorted({c for c in columns.values() if list(columns.values()).count(c) > 1})
        if dup:
            raise ConfigError(f"[pg.columns] one column mapped to several roles: {', '.join(dup)}")

        ts_type, ts_zone = values["ts_type"], values["ts_zone"]
        if ts_type == "timestamp":
            if not ts_zone:
                raise ConfigError(
                    "[pg] ts_type = 'timestamp' needs ts_zone, the zone the timestamps are in "
                    "(e.g. 'America/New_York' or 'UTC')"
                )
            try:
                zoneinfo.ZoneInfo(ts_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"[pg] ts_zone {ts_zone!r} is not a known time zone") from None
        elif ts_zone is not None:
            raise ConfigError("[pg] ts_zone only applies with ts_type = 'timestamp'")

        return cls(
            schema=schema,
            table=table,
            columns=columns,
            ts_type=ts_type,
            ts_zone=ts_zone,
            dsn=env.get(DSN_ENV) or values["dsn"],
            overlap_minutes=values["overlap_minutes"],
            chunk_rows=values["chunk_rows"],
            max_connections=values["max_connections"],
            future_minutes=values["future_minutes"],
        )

    @property
    def qualified(self) -> str:
        """``schema.table`` for messages (identifiers are validated, so safe to show)."""
        return f"{self.schema}.{self.table}"

    def require_dsn(self) -> str:
        if not self.dsn:
            raise ConfigError(
                f"no PostgreSQL connection: set {DSN_ENV} or dsn in the [pg] config section"
            )
        return self.dsn


# ── secrets ───────────────────────────────────────────────────────────────────

_URL_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@?#\s]*):(?P<pw>[^@/?#\s]*)@", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&]*)", re.I)
REDACTED = "***"


def dsn_password(dsn: str) -> str | None:
    """The password a DSN carries (URL userinfo, ``password=`` key or query), if any."""
    for pattern in (_URL_USERINFO, _KV_PASSWORD):
        m = pattern.search(dsn)
        if m and m.group("pw"):
            pw = m.group("pw")
            if pw.startswith("'") and pw.endswith("'") and len(pw) >= 2:
                pw = pw[1:-1].replace("\\'", "'").replace("\\\\", "\\")
            return pw
    return None


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (safe to log or show)."""
    out = _URL_USERINFO.sub(lambda m: f"{m.group('head')}:{REDACTED}@", dsn)
    return _KV_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}", out)


def scrub(text: str, dsn: str) -> str:
    """``text`` with the DSN and its password removed, for driver error messages."""
    pw = dsn_password(dsn)
    if dsn:
        text = text.replace(dsn, redact_dsn(dsn))
    if pw:
        text = text.replace(pw, REDACTED)
        from urllib.parse import quote

        text = text.replace(quote(pw, safe=""), REDACTED)
    return redact_dsn(text)
