"""The ``[pg]`` section and the DSN redaction (no server needed)."""

from __future__ import annotations

import pytest

from storage.errors import ConfigError
from storage.pg_config import PgSource, dsn_password, redact_dsn, scrub


def test_defaults_and_mapping() -> None:
    src = PgSource.from_section(
        {"table": "public.minute_bars", "columns": {"symbol": "ticker", "ts": "datetime"}},
        env={},
    )
    assert (src.schema, src.table) == ("public", "minute_bars")
    assert src.columns["symbol"] == "ticker" and src.columns["close"] == "close"
    assert src.ts_type == "timestamptz" and src.overlap_minutes == 60


def test_env_dsn_wins_and_is_not_in_repr() -> None:
    src = PgSource.from_section({"dsn": "host=a password=cfgpw"}, env={"AVWAP_PG_DSN": "host=b"})
    assert src.dsn == "host=b"
    assert "cfgpw" not in repr(PgSource.from_section({"dsn": "password=cfgpw"}, env={}))


@pytest.mark.parametrize(
    "section, fragment",
    [
        ({"table": "bars; DROP TABLE x"}, "not a valid identifier"),
        ({"table": 'a."b'}, "not a valid identifier"),
        ({"table": "a.b.c"}, "schema.table"),
        ({"columns": {"symbol": "tick er"}}, "not a valid identifier"),
        ({"columns": {"price": "p"}}, "unknown role"),
        ({"columns": {"open": "x", "close": "x"}}, "several roles"),
        ({"ts_type": "timestamp"}, "needs ts_zone"),
        ({"ts_type": "timestamp", "ts_zone": "Mars/Base"}, "not a known time zone"),
        ({"ts_zone": "UTC"}, "only applies"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"bogus": 1}, "unknown key"),
    ],
)
def test_bad_sections(section: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        PgSource.from_section(section, env={})


def test_missing_dsn_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AVWAP_PG_DSN"):
        PgSource.from_section({}, env={}).require_dsn()


@pytest.mark.parametrize(
    "dsn, pw",
    [
        ("postgresql://bob:hunter2@db:5432/x", "hunter2"),
        ("postgres://bob:p%40ss@db/x?sslmode=require", "p%40ss"),
        ("host=db user=bob password=hunter2 dbname=x", "hunter2"),
        ("host=db password = 'it''s x' dbname=x", None),
        ("host=db password='se cret' dbname=x", "se cret"),
        ("postgresql://db/x?user=bob&password=hunter2", "hunter2"),
    ],
)
def test_redact_dsn(dsn: str, pw: str | None) -> None:
    red = redact_dsn(dsn)
    assert "***" in red
    if pw:
        assert pw not in red
        assert dsn_password(dsn) is not None
    assert "bob" in red or "bob" not in dsn  # only the password goes


def test_scrub_removes_the_password_from_any_text() -> None:
    dsn = "host=db user=bob password=hunter2"
    msg = 'connection to "db" failed for hunter2 (host=db user=bob password=hunter2)'
    out = scrub(msg, dsn)
    assert "hunter2" not in out and "bob" in out


def test_no_password_no_change() -> None:
    assert redact_dsn("host=db user=bob") == "host=db user=bob"
    assert dsn_password("host=db") is None
