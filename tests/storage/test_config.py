"""Config: path resolution, defaults, and clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.config import config_path, load_config
from storage.errors import ConfigError


def test_env_overrides_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("AVWAP_CONFIG", str(tmp_path / "my.toml"))
    assert config_path() == tmp_path / "my.toml"


def test_missing_file_gives_defaults(tmp_path):
    cfg = load_config(tmp_path / "absent.toml")
    assert cfg.tickers == "curated" and cfg.db.name == "cache.duckdb" and cfg.raw == {}


def test_values_and_sections(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('db = "~/x.duckdb"\ntickers = "all"\n[pg]\ntable = "public.minute_bars"\n')
    cfg = load_config(f)
    assert cfg.db == Path("~/x.duckdb").expanduser() and cfg.tickers == "all"
    assert cfg.section("pg") == {"table": "public.minute_bars"}
    assert cfg.section("ib") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("db = [", "not valid TOML"),
        ("db = 3", "'db' must be a string"),
        ("tickers = 1", "'tickers' must be the name"),
        ("pg = 1", "[pg] must be a table"),
    ],
)
def test_errors_name_the_file_and_problem(tmp_path, text, problem):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f).section("pg")
    assert str(f) in str(err.value) and problem in str(err.value)


# ── issue 17, item 16: nothing in the config is ignored silently ─────────────


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('dbb = "x"\n[pgg]\ntable = "t"\n', ("dbb", "pgg")),
        ('[pg]\ntabel = "t"\n', ("[pg]", "tabel")),
        ("[ib]\nprot = 4002\n", ("[ib]", "prot")),
    ],
)
def test_unknown_keys_and_sections_are_named(tmp_path, text, named):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert str(f) in str(err.value) and all(n in str(err.value) for n in named)


@pytest.mark.parametrize(
    "dsn",
    ["host=db user=me password=s3cr3t-pw dbname=m", "postgresql://me:s3cr3t-pw@db/m"],
)
def test_a_password_in_the_config_is_refused_and_never_echoed(tmp_path, dsn):
    f = tmp_path / "c.toml"
    f.write_text(f'[pg]\ndsn = "{dsn}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert "password" in str(err.value) and "AVWAP_PG_DSN" in str(err.value)
    assert "s3cr3t-pw" not in str(err.value)


def test_a_dsn_without_a_password_and_known_sections_load(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('tickers = "all"\n[pg]\ndsn = "host=db user=me"\n[ib]\nport = 4002\n'
                 '[keys]\n"sort.next" = "x"\n')
    cfg = load_config(f)
    assert cfg.section("pg")["dsn"] == "host=db user=me" and cfg.section("ib") == {"port": 4002}


# ── issue 29: one declarative schema, no config <-> ib_config import cycle ─────


def test_the_typed_sections_match_the_one_schema():
    """The dataclasses the feed and the sync read carry the schema's defaults."""
    from dataclasses import fields

    from storage.feeds.ib_config import IBConfig
    from storage.pg_config import PgSource
    from storage.settings import IB, PG

    ib = {f.name: f.default for f in fields(IBConfig)}
    assert ib == {s.key: s.default for s in IB.settings}
    pg = PgSource.from_section({}, env={})
    for s in PG.settings:
        if s.key not in ("table", "columns", "dsn", "ts_zone"):
            assert getattr(pg, s.key) == s.default, s.key


def test_the_config_reader_does_not_import_the_feeds():
    import subprocess
    import sys

    code = ("import sys, storage.config as c; c.check_names(__import__('pathlib').Path('x'), "
            "{'ib': {'port': 1}, 'pg': {}}); print('storage.feeds' in ' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[ib]\nport = true\n", ("[ib]", "port", "integer")),
        ("[ib]\nrequest_timeout_s = 0\n", ("[ib]", "request_timeout_s", "> 0")),
        ("[pg]\nchunk_rows = 0\n", ("[pg]", "chunk_rows", ">= 1")),
        ("tickers = 3\n", ("'tickers'", "name of a ticker list")),
    ],
)
def test_a_wrong_value_is_named_with_its_rule(tmp_path, text, named):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        cfg = load_config(f)
        from storage.feeds.ib_config import IBConfig
        from storage.pg_config import PgSource

        IBConfig.from_config(cfg)
        PgSource.from_section(cfg.section("pg"), env={})
    assert all(n in str(err.value) for n in named), str(err.value)
