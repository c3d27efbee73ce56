"""A process that holds the cache until told to let go (the sharing tests' other party).

Usage: ``python cache_holder.py DB write|read|write-forever [ROWS]``. It prints
``held`` once it holds the file (a write transaction that has inserted ``ROWS``
bars, or a read), then waits for a line on stdin before letting go and exiting.
``write-forever`` never returns from the transaction (for kill -9).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from storage import sharing
from storage.cache import Cache, bars_table


def bars(n: int, symbol: str = "HOLD") -> object:
    ts = np.datetime64("2024-03-04T14:30", "m") + np.arange(n)
    price = np.full(n, 100.0)
    return bars_table(
        np.full(n, symbol, dtype=object), ts, price, price + 1, price - 1, price, np.ones(n)
    )


def main() -> None:
    db, mode = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    sharing.configure(label="cache-holder")
    cache = Cache(db)
    if mode.startswith("write"):
        with cache.transaction() as cur:
            cur.register("b", bars(rows))
            cur.execute("INSERT INTO bars SELECT * FROM b")
            print("held", flush=True)
            if mode == "write-forever":
                while True:
                    sys.stdin.readline()
            sys.stdin.readline()
    else:
        with cache.reading() as cur:
            cur.execute("SELECT count(*) FROM bars").fetchall()
            print("held", flush=True)
            sys.stdin.readline()
    cache.close()
    print("released", flush=True)


if __name__ == "__main__":
    main()
