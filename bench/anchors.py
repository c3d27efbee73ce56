"""Custom anchors: adding one (closed form from history) against stepping it (the peer).

Seeds a temporary cache with the ``curated`` list × ``--days`` demo sessions,
warms the console's controller on it (the real ``Controller`` and replay feed,
no terminal) and replays ``--minutes`` minutes, then measures:

- ``add_p50_ms`` / ``add_max_ms``: ``Controller.add_anchor`` for an anchor
  ``--back`` sessions back on one symbol, everything until the new frame holds
  its values: the cache insert (DuckDB), the exact state from the history in
  closed form (``engine.avwap.live_custom``) and the fresh frame;
- ``peer_step_ms``: the same anchor's state by stepping every minute from the
  anchor to now with the compiled step (what adding would cost without the
  closed form); ``peer_minutes`` is how many minutes that is;
- ``parity_rel``: the largest |closed form − stepped| of the level and bands
  over the price (both float32);
- ``book_step_p50_ms`` per anchor count: the AnchorBook's share of one live minute.

Prints one JSON object as the last line. Usage: ``.venv/bin/python bench/anchors.py
[--days 19] [--back 5] [--minutes 30] [--adds 20]``. Goal (issue 18):
``anchor_add_ms`` ≤ 100 from key to screen (this is the runtime part of it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _pct(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=19)
    ap.add_argument("--back", type=int, default=5, help="sessions back of the new anchor")
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--adds", type=int, default=20)
    args = ap.parse_args()

    import mlx.core as mx
    import numpy as np

    from engine import stepping
    from engine.avwap import live_custom as L
    from engine.inputs import step_inputs
    from storage import demo
    from storage.cache import Cache
    from storage.feeds.replay import ReplaySource
    from storage.tickers import load_list
    from tui.runtime.controller import Controller

    tmp = Path(tempfile.mkdtemp(prefix="avwap-bench-anchors-"))
    tl = load_list("curated")
    with Cache(tmp / "c.duckdb") as cache:
        demo.seed_cache(cache, list(tl.symbols), args.days, end=demo.DEFAULT_END)
    cache = Cache(tmp / "c.duckdb")
    ctl = Controller(cache, ReplaySource(cache, warm_sessions=args.days - 1, speed=None))
    tl, present, missing = ctl.resolve_list("curated")
    ctl.prepare(tl, present, missing)
    for _ in range(args.minutes):
        ctl.step_next()
    assert ctl.frame is not None
    symbol = present[0]
    panel = ctl.panel_until_now([symbol])
    assert panel is not None
    sess = panel.segments["session"]
    starts = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]] & (sess >= 0))
    first = int(starts[max(0, len(starts) - 1 - args.back)])
    out: dict[str, float | int | str] = {"symbols": len(present), "days": args.days,
                                         "symbol": symbol}

    adds: list[float] = []
    for i in range(args.adds):
        ts = panel.ts[first + 60 + i]
        t0 = time.perf_counter()
        anchor, frame = ctl.add_anchor(symbol, ts, "bench")
        adds.append((time.perf_counter() - t0) * 1e3)
        assert frame is not None and symbol in frame.anchors
        if i < args.adds - 1:
            ctl.delete_anchor(anchor.id)
    out.update(add_p50_ms=_pct(adds, 50), add_max_ms=max(adds))
    (lv,) = ctl.frame.anchors[symbol]

    # The peer: step the one row from the anchor to now, minute by minute.
    step = stepping.compile_step(L.rows_step)
    start = int(np.searchsorted(panel.ts, anchor.ts))
    st = L.rows_init(np.array([0]), np.array([anchor.minute]))
    st, o = step(st, step_inputs(panel.batch(start)))
    mx.eval(st, o)  # compile outside the timing
    st = L.rows_init(np.array([0]), np.array([anchor.minute]))
    t0 = time.perf_counter()
    for t in range(start, len(panel.ts)):
        st, o = step(st, step_inputs(panel.batch(t)))
        mx.eval(st, o)
    out["peer_step_ms"] = (time.perf_counter() - t0) * 1e3
    out["peer_minutes"] = len(panel.ts) - start
    price = abs(lv.level)
    diffs = [abs(float(np.asarray(o[k])[0]) - lv.value(k)) / price
             for k in ("level", "up1", "dn1", "up2", "dn2", "up3", "dn3")]
    assert np.isfinite(diffs).all(), "NaN level: nothing compared"
    out["parity_rel"] = max(diffs)
    out["level"] = lv.level
    ctl.delete_anchor(anchor.id)

    # The book's share of a live minute with 1, 16, 64 anchors.
    book = ctl.anchors
    timed: list[float] = []
    inner = book.step

    def timed_step(batches):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        inner(batches)
        timed.append((time.perf_counter() - t) * 1e3)

    book.step = timed_step  # type: ignore[method-assign]
    made: list[int] = []
    for n in (1, 16, 64):
        while len(made) < n:
            k = len(made)
            sym = present[k % len(present)]
            made.append(ctl.add_anchor(sym, panel.ts[first + k // len(present)], "")[0].id)
        timed.clear()
        for _ in range(30):
            ctl.step_next()
        out[f"book_step_p50_ms_{n}"] = _pct(timed[5:], 50)
    for a in made:
        ctl.delete_anchor(a)
    cache.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
