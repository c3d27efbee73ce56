"""A throwaway PostgreSQL server for the sync tests and the sync benchmark.

Why: the sync's promises (COPY speed, fault messages, SIGKILL recovery) only
mean something against a real server, and CI has no database service. The
server is made from the ``initdb``/``pg_ctl`` binaries on PATH in a temporary
directory, listens on a free port on 127.0.0.1 only, requires a password for
TCP logins (so the wrong-password path is real) and is removed on ``stop()``.

PostgreSQL refuses to run as root: when the tests run as root the binaries
are started as the ``postgres`` system user through ``runuser`` (the user is
created when missing), and the temporary directory is handed to that user.
``unavailable()`` says why a server cannot be started here, or ``None``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_USER = "postgres"
SUPERUSER = "avwap_admin"
PASSWORD = "s3cr3t-Pa55"  # a throwaway server's password, on 127.0.0.1 only

# Durability is irrelevant for a throwaway server; speed is not.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "shared_buffers": "256MB",
    "max_connections": "20",
    "logging_collector": "off",
}


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_pg_user() -> str | None:
    """Make sure the ``postgres`` system user exists; a reason if it cannot."""
    try:
        pwd.getpwnam(PG_USER)
        return None
    except KeyError:
        pass
    if shutil.which("useradd") is None:
        return f"running as root, no '{PG_USER}' user and no useradd to create it"
    r = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        return f"cannot create the '{PG_USER}' user: {r.stderr.strip()}"
    return None


def unavailable() -> str | None:
    """Why a throwaway server cannot run here, or ``None`` when it can."""
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if shutil.which(b) is None]
    if missing:
        return f"PostgreSQL binaries not on PATH: {', '.join(missing)}"
    if _is_root():
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (PostgreSQL refuses root)"
        return _ensure_pg_user()
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One running server; ``dsn()`` for a database on it."""

    root: Path
    port: int = 0
    _prefix: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PgServer:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        root = Path(tempfile.mkdtemp(prefix="avwap-pg-"))
        server = cls(root=root)
        if _is_root():
            server._prefix = ["runuser", "-u", PG_USER, "--"]
            pw = pwd.getpwnam(PG_USER)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        root.chmod(0o755)
        try:
            server._init()
            server._launch()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *cmd: str) -> None:
        r = subprocess.run(
            [*self._prefix, *cmd], capture_output=True, text=True, check=False, cwd=self.root
        )
        if r.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")

    def _init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._prefix:
            pw = pwd.getpwnam(PG_USER)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        with (self.root / "data" / "postgresql.conf").open("a") as f:
            for k, v in _SETTINGS.items():
                f.write(f"{k} = '{v}'\n")
            f.write(f"unix_socket_directories = '{self.root}'\n")

    def _launch(self) -> None:
        for attempt in range(5):
            self.port = _free_port()
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.root / "data"),
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    f"-p {self.port}",
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                return
            except RuntimeError:
                if attempt == 4:
                    log = self.root / "log"
                    tail = log.read_text()[-2000:] if log.exists() else ""
                    raise RuntimeError(f"pg_ctl start failed: {tail}") from None

    def dsn(self, dbname: str = "postgres", password: str = PASSWORD) -> str:
        return (
            f"host=127.0.0.1 port={self.port} user={SUPERUSER} "
            f"password={password} dbname={dbname} connect_timeout=5"
        )

    def url(self, dbname: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{dbname}"

    def create_db(self, name: str) -> str:
        """A fresh database; returns its DSN."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_db(self, name: str) -> None:
        """Drop a database made by ``create_db`` (its sessions are ended first)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as con:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


# ── test data ─────────────────────────────────────────────────────────────────

T0 = "2024-03-04 14:30:00+00"
SYMBOLS = ("AAA", "BBB", "BRK.B", "CCC", "DDD", "EEE")
QUOTED = "O'REILLY"  # valid in PostgreSQL, refused by the cache ("invalid symbol")

# Rows the cache must refuse or resolve, inserted after the generated bars (so
# they are physically out of order). Minute offsets are from T0.
_NASTY = """
INSERT INTO market.bars VALUES
  ('AAA', %(t0)s::timestamptz + interval '5 min', 101.10, 101.5, 100.5, 101.2, 7),  -- dup, wins
  ('AAA', %(t0)s::timestamptz + interval '6 min', 101.0, 100.0, 101.0, 100.5, 7),   -- dup, high<low
  ('AAA', %(t0)s::timestamptz - interval '10 min', 101.0, 101.5, 100.5, 101.2, 9),  -- first bar
  ('BBB', %(t0)s::timestamptz + interval '100 days', NULL, 1, 1, 1, 1),             -- NULL price
  ('BBB', NULL, 1, 1, 1, 1, 1),                                                     -- NULL ts
  (NULL, %(t0)s::timestamptz, 1, 1, 1, 1, 1),                                       -- NULL symbol
  ('CCC', %(t0)s::timestamptz + interval '100 days', 5, 4, 6, 5, 1),                -- high < low
  ('CCC', %(t0)s::timestamptz + interval '101 days', 'NaN', 6, 4, 5, 1),            -- NaN price
  ('DDD', %(t0)s::timestamptz + interval '30 s', 5, 6, 4, 5, 1),                    -- off-minute
  ('aapl', %(t0)s::timestamptz, 5, 6, 4, 5, 1),                                     -- lower case
  (%(quoted)s, %(t0)s::timestamptz, 5, 6, 4, 5, 1),
  (%(quoted)s, %(t0)s::timestamptz + interval '1 min', 5, 6, 4, 5, 1)
"""
NASTY_REJECTS = {
    "missing value": 3,
    "high below low": 2,
    "NaN or infinite price": 1,
    "timestamp not on a minute boundary": 1,
    "invalid symbol": 3,
}


def seed_standard(dsn: str, minutes: int, symbols: tuple[str, ...] = SYMBOLS) -> None:
    """``market.bars`` (timestamptz, float8, bigint volume), generated bars + nasty rows."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("CREATE SCHEMA market")
        con.execute(
            "CREATE TABLE market.bars (symbol varchar(20), ts timestamptz, open float8, "
            "high float8, low float8, close float8, volume bigint)"
        )
        con.execute(
            """
            INSERT INTO market.bars
            SELECT s.sym, %(t0)s::timestamptz + m * interval '1 minute',
                   100 + s.i + (m %% 7) * 0.01, 100.5 + s.i, 99.5 + s.i, 100.2 + s.i, 1000 + m
            FROM unnest(%(syms)s::text[]) WITH ORDINALITY AS s(sym, i),
                 generate_series(0, %(n)s - 1) AS m
            """,
            {"t0": T0, "syms": list(symbols), "n": minutes},
        )
        con.execute(_NASTY, {"t0": T0, "quoted": QUOTED})
        con.execute("CREATE INDEX ON market.bars (symbol, ts)")
        con.execute("ANALYZE market.bars")


def expected_rows(dsn: str, relation: str = "market.bars") -> list[tuple]:
    """The source's valid rows by an independent statement of the rules (see pg_sync)."""
    import psycopg

    sql = f"""
        SELECT DISTINCT ON (symbol, ts) symbol, ts, open::float8, high::float8, low::float8,
               close::float8, volume::float8
        FROM {relation}
        WHERE symbol ~ '^[A-Z0-9./^_-]{{1,16}}$' AND ts IS NOT NULL
          AND open IS NOT NULL AND high IS NOT NULL AND low IS NOT NULL
          AND close IS NOT NULL AND volume IS NOT NULL
          AND date_trunc('minute', ts) = ts
          AND 'NaN' NOT IN (open, high, low, close)
          AND open > 0 AND high > 0 AND low > 0 AND close > 0 AND high >= low
          AND open BETWEEN low AND high AND close BETWEEN low AND high AND volume >= 0
        ORDER BY symbol, ts, open DESC, high DESC, low DESC, close DESC, volume DESC
    """
    with psycopg.connect(dsn) as con:
        rows = con.execute(sql).fetchall()
    return sorted(rows, key=lambda r: (r[0], r[1]))


def start_standby(primary: PgServer) -> PgServer:
    """A hot standby of ``primary`` (``pg_basebackup -R``: streaming, read-only).

    The base backup carries the primary's data as it is now, so a test seeds
    first and reads the standby without waiting for replay.
    """
    if shutil.which("pg_basebackup") is None:
        raise RuntimeError("pg_basebackup not on PATH")
    root = Path(tempfile.mkdtemp(prefix="avwap-pg-standby-"))
    standby = PgServer(root=root, _prefix=list(primary._prefix))
    if standby._prefix:
        pw = pwd.getpwnam(PG_USER)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    root.chmod(0o755)
    try:
        r = subprocess.run(
            [
                *standby._prefix,
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(root / "data"),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=root,
            env={**os.environ, "PGPASSWORD": PASSWORD},
        )
        if r.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {r.stderr[-2000:]}")
        with (root / "data" / "postgresql.conf").open("a") as f:
            f.write(f"unix_socket_directories = '{root}'\nhot_standby = 'on'\n")
        standby._launch()
    except BaseException:
        standby.stop()
        raise
    return standby
