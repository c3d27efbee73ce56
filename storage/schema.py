"""DuckDB schema and forward-only migrations.

``schema_version`` records each applied migration; opening a cache applies the
missing ones in order inside one transaction. Never edit a shipped migration:
add the next one.
"""

from __future__ import annotations

import duckdb

MIGRATIONS: tuple[str, ...] = (
    # 1: bars and the rejected rows kept with their reason.
    """
    CREATE TABLE bars (
        symbol VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,   -- bar start, UTC
        open DOUBLE NOT NULL,
        high DOUBLE NOT NULL,
        low DOUBLE NOT NULL,
        close DOUBLE NOT NULL,
        volume DOUBLE NOT NULL
        -- key (symbol, ts): enforced by Cache.write_bars, see storage/cache.py
    );
    CREATE TABLE rejected_bars (
        symbol VARCHAR, ts VARCHAR,
        open VARCHAR, high VARCHAR, low VARCHAR, close VARCHAR, volume VARCHAR,
        reason VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        rejected_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 2: backtest runs, their statistics, trades and equity (storage/results.py).
    """
    CREATE SEQUENCE backtest_run_seq START 1;
    CREATE TABLE backtest_runs (
        run_id BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        strategy VARCHAR NOT NULL,
        grid VARCHAR NOT NULL,        -- JSON: parameter -> values swept
        combos VARCHAR NOT NULL,      -- JSON: every combination's parameters
        best INTEGER NOT NULL,
        neighbours VARCHAR NOT NULL,  -- JSON list of combination indices
        rank_by VARCHAR NOT NULL,
        symbols VARCHAR NOT NULL,     -- JSON list
        skipped VARCHAR NOT NULL,     -- JSON list: symbols without data
        start_date DATE NOT NULL,
        end_date DATE NOT NULL,
        split_date DATE,
        settings VARCHAR NOT NULL,    -- JSON: sizing, costs, session rules
        code_version VARCHAR NOT NULL
    );
    CREATE TABLE backtest_stats (
        run_id BIGINT NOT NULL, combo INTEGER NOT NULL,
        symbol VARCHAR NOT NULL,      -- '*' = the combination's portfolio
        period VARCHAR NOT NULL,      -- 'all' | 'in' | 'out'
        stat VARCHAR NOT NULL, value DOUBLE
    );
    CREATE TABLE backtest_trades (
        run_id BIGINT NOT NULL, combo INTEGER NOT NULL, symbol VARCHAR NOT NULL,
        entry_ts TIMESTAMPTZ NOT NULL, exit_ts TIMESTAMPTZ NOT NULL,
        direction TINYINT NOT NULL, shares DOUBLE NOT NULL,
        entry_price DOUBLE NOT NULL, exit_price DOUBLE NOT NULL,
        entry_fees DOUBLE NOT NULL, exit_fees DOUBLE NOT NULL, slippage DOUBLE NOT NULL,
        pnl DOUBLE NOT NULL, ret DOUBLE NOT NULL, reason VARCHAR NOT NULL
    );
    CREATE TABLE backtest_equity (
        run_id BIGINT NOT NULL, combo INTEGER NOT NULL,
        symbol VARCHAR NOT NULL,      -- '*' = portfolio
        ts TIMESTAMPTZ NOT NULL, value DOUBLE NOT NULL
    );
    """,
    # 3: the trader's custom anchors ("anchor here"), per symbol (storage/anchors.py).
    """
    CREATE SEQUENCE anchor_id_seq START 1;
    CREATE TABLE anchors (
        id BIGINT PRIMARY KEY DEFAULT nextval('anchor_id_seq'),
        symbol VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,      -- the anchor bar's start, UTC, whole minute
        label VARCHAR NOT NULL,       -- '' when the trader gave none
        created_at TIMESTAMPTZ NOT NULL,
        UNIQUE (symbol, ts)           -- a few rows: the index costs nothing here
    );
    """,
)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations; returns the resulting version."""
    version = current_version(con)
    if version > len(MIGRATIONS):
        from storage.errors import CacheError

        raise CacheError(
            f"the cache has schema version {version}, newer than this program knows "
            f"({len(MIGRATIONS)}); upgrade avwap-console"
        )
    if version == len(MIGRATIONS):
        return version
    con.execute("BEGIN TRANSACTION")
    try:
        for i in range(version, len(MIGRATIONS)):
            con.execute(MIGRATIONS[i])
            con.execute("INSERT INTO schema_version VALUES (?, now())", [i + 1])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)
