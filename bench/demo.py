"""Demo market generation speed: ``make demo``'s 650 symbols x 19 sessions.

Prints one JSON object (last line): the time to generate the bars in memory,
the time of ``seed_cache`` (generate + write, chunked), and as the in-run peer
the time DuckDB alone takes to write the same pre-generated table, so the
generator's own share is visible. Run: ``.venv/bin/python bench/demo.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself: bench/storage.py would shadow storage/

from storage import demo  # noqa: E402
from storage.cache import Cache  # noqa: E402
from storage.tickers import load_list  # noqa: E402

DAYS = 19


def main() -> None:
    symbols = list(load_list("all").symbols)
    demo.generate(symbols[:2], 2)  # warm the calendar and the price table
    t = time.perf_counter()
    table = demo.generate(symbols, DAYS)
    gen = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        with Cache(Path(d) / "w.duckdb") as cache:
            t = time.perf_counter()
            cache.write_bars(table, source="demo")
            write_only = time.perf_counter() - t
        with Cache(Path(d) / "s.duckdb") as cache:
            t = time.perf_counter()
            result = demo.seed_cache(cache, symbols, DAYS)
            seed = time.perf_counter() - t
    print(
        json.dumps(
            {
                "symbols": len(symbols),
                "sessions": result.sessions,
                "bars": result.written,
                "generate_s": round(gen, 3),
                "seed_cache_s": round(seed, 3),
                "peer_write_only_s": round(write_only, 3),
                "generate_bars_per_s": round(table.num_rows / gen),
            }
        )
    )


if __name__ == "__main__":
    main()
