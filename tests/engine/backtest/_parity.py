"""Compare our trades with vectorbt's on the same orders (tests only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backtest.sim import OPEN, Trades


def assert_same_trades(ours: Trades, pf: Any) -> None:
    """Same closed trades (symbol, entry and exit bar, direction, size, prices), PnL to 1e-6."""
    rec = pf.trades.values
    closed_v = rec[rec["status"] == 1]
    mine = ours.reason != OPEN
    key_o = np.stack([ours.row[mine], ours.entry_idx[mine], ours.exit_idx[mine]], axis=1)
    key_v = np.stack([closed_v["col"], closed_v["entry_idx"], closed_v["exit_idx"]], axis=1)
    assert len(key_o) == len(key_v), f"{len(key_o)} trades, vectorbt {len(key_v)}"
    order = np.lexsort((key_v[:, 1], key_v[:, 0]))
    v = closed_v[order]
    np.testing.assert_array_equal(key_o, key_v[order])
    np.testing.assert_array_equal(ours.direction[mine] < 0, v["direction"] == 1)
    np.testing.assert_array_equal(ours.size[mine], v["size"])
    np.testing.assert_allclose(ours.entry_price[mine], v["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(ours.exit_price[mine], v["exit_price"], rtol=1e-12)
    np.testing.assert_allclose(ours.entry_fees[mine] + ours.exit_fees[mine],
                               v["entry_fees"] + v["exit_fees"], rtol=1e-9, atol=1e-9)
    value = ours.size[mine] * ours.entry_price[mine]
    np.testing.assert_allclose(ours.pnl[mine], v["pnl"], rtol=0, atol=1e-6 * value.max(initial=1))
    for a, b in zip(ours.pnl[mine], v["pnl"], strict=True):
        assert abs(a - b) <= 1e-6 * max(abs(b), 1e-2), (a, b)
    open_v = rec[rec["status"] == 0]
    assert int((~mine).sum()) == len(open_v)
    np.testing.assert_array_equal(np.sort(ours.row[~mine]), np.sort(open_v["col"]))
    np.testing.assert_array_equal(np.sort(ours.entry_idx[~mine]), np.sort(open_v["entry_idx"]))
