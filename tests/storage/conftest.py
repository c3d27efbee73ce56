"""Fixtures for the storage tests: one throwaway PostgreSQL server per session.

Why session-scoped: ``initdb`` plus start costs a few seconds; every sync
test gets its own database on the one server instead, so tests stay
independent. Skips (with the reason) only where no server can be made.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pg_server import PgServer, unavailable

_db_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    reason = unavailable()
    if reason:
        pytest.skip(f"no throwaway PostgreSQL: {reason}")
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards (the
    cluster stays small, so a base backup for the hot-standby test is cheap)."""
    name = f"t{next(_db_names)}"
    yield pg_server.create_db(name)
    pg_server.drop_db(name)
