"""Equity curves from trades, and the statistics of a run, as vectorbt defines them.

Everything here is NumPy float64 and vectorized over rows (``np.bincount`` per
row, cumulative sums along time): no Python loop over symbols. The definitions
follow vectorbt's ``Portfolio.stats()`` (value-based returns starting from the
initial cash; drawdowns on the value curve; trade statistics over closed
trades) and are tested equal to it (``tests/engine/backtest/test_stats.py``).
Sharpe, Sortino and annualized return scale by ``ANN_FACTOR`` minutes, the
regular-session minutes of a 252-session year.
"""

from __future__ import annotations

import numpy as np

from engine.backtest.sim import OPEN, Trades

#: Bars per year for annualizing: 252 sessions x 390 regular minutes.
ANN_FACTOR = 252 * 390

#: Every statistic, in display order, with its unit (docs/backtest.md defines each).
STATS: tuple[tuple[str, str], ...] = (
    ("total_return", "%"), ("annualized_return", "%"), ("max_drawdown", "%"),
    ("max_drawdown_minutes", "min"), ("sharpe", ""), ("sortino", ""), ("calmar", ""),
    ("trades", ""), ("closed_trades", ""), ("win_rate", "%"), ("profit_factor", ""),
    ("expectancy", "$"), ("avg_win", "%"), ("avg_loss", "%"), ("avg_win_pnl", "$"),
    ("avg_loss_pnl", "$"), ("best_trade", "%"), ("worst_trade", "%"),
    ("avg_holding_minutes", "min"), ("exposure", "%"), ("fees_paid", "$"),
    ("slippage_paid", "$"), ("start_value", "$"), ("end_value", "$"),
)
NAMES: tuple[str, ...] = tuple(n for n, _ in STATS)


def ffill_close(close: np.ndarray) -> np.ndarray:
    """Forward-, then back-filled close (vectorbt's ``fillna_close``) for valuing positions."""
    s, t = close.shape
    ok = ~np.isnan(close)
    idx = np.where(ok, np.arange(t), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = close[np.arange(s)[:, None], idx]
    first = np.where(ok.any(axis=1), close[np.arange(s), np.argmax(ok, axis=1)], np.nan)
    return np.where(np.isnan(out), first[:, None], out)


def equity(
    trades: Trades, rows: np.ndarray, init_cash: np.ndarray, close_ff: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Value ``[len(rows), T]`` and position ``[len(rows), T]`` of the given rows.

    ``close_ff[len(rows), T]`` is each row's symbol's filled close. Cash moves
    at the entry and exit bars, the position is valued at the close.
    """
    n, t = close_ff.shape
    size = max(int(rows.max(initial=-1)), int(trades.row.max(initial=-1))) + 1
    lookup = np.full(size, -1)
    lookup[rows] = np.arange(n)
    lr_all = lookup[trades.row]
    sel = np.nonzero(lr_all >= 0)[0]
    lr = lr_all[sel]
    d, sh = trades.direction[sel], trades.size[sel]
    closed = trades.reason[sel] != OPEN
    ei = lr * t + trades.entry_idx[sel]
    xi = lr * t + trades.exit_idx[sel]
    cash_in = -(d * sh * trades.entry_price[sel] + trades.entry_fees[sel])
    cash_out = np.where(closed, d * sh * trades.exit_price[sel] - trades.exit_fees[sel], 0.0)
    # Entry before exit within a bar never happens (an exit bar admits no entry),
    # so the order of the two bincounts does not matter.
    dc = np.bincount(ei, cash_in, n * t) + np.bincount(xi[closed], cash_out[closed], n * t)
    dp = np.bincount(ei, d * sh, n * t) - np.bincount(xi[closed], (d * sh)[closed], n * t)
    cash = init_cash[:, None] + np.cumsum(dc.reshape(n, t), axis=1)
    pos = np.cumsum(dp.reshape(n, t), axis=1)
    pos[np.abs(pos) < 1e-9] = 0.0
    return cash + pos * close_ff, pos


def curve_stats(value: np.ndarray, init: np.ndarray, pos: np.ndarray) -> dict[str, np.ndarray]:
    """Return and drawdown statistics of value curves ``[N, T]`` (one per row or group)."""
    n, t = value.shape
    prev = np.concatenate([init[:, None], value[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev == 0, 0.0, (value - prev) / prev)
        total = value[:, -1] / init - 1.0
        growth = np.prod(r + 1.0, axis=1)
        ann = growth ** (ANN_FACTOR / t) - 1.0
        peak = np.maximum.accumulate(value, axis=1)
        mdd = np.min(value / peak - 1.0, axis=1)
        mean = r.mean(axis=1)
        std = r.std(axis=1, ddof=1) if t > 1 else np.full(n, np.nan)
        sharpe = np.where(std == 0, np.inf, mean / std * np.sqrt(ANN_FACTOR))
        down = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2, axis=1)) * np.sqrt(ANN_FACTOR)
        sortino = np.where(down == 0, np.inf, mean * ANN_FACTOR / down)
        calmar = np.where(mdd == 0, np.nan, ann / np.abs(mdd))
    return {
        "total_return": total, "annualized_return": ann, "max_drawdown": -mdd,
        "max_drawdown_minutes": _max_dd_duration(value), "sharpe": sharpe,
        "sortino": sortino, "calmar": calmar, "exposure": (pos != 0).mean(axis=1),
        "start_value": init.astype(np.float64), "end_value": value[:, -1].copy(),
    }


def _max_dd_duration(value: np.ndarray) -> np.ndarray:
    """vectorbt's drawdown duration in bars.

    A drawdown starts the bar after its peak and ends at the recovery bar (a
    value back at the peak): duration = recovery - peak - 1; one still running
    at the end lasts last - peak.
    """
    n, t = value.shape
    prior = np.concatenate([np.full((n, 1), -np.inf), np.maximum.accumulate(value, axis=1)[:, :-1]],
                           axis=1)
    high = value >= prior
    idx = np.arange(t)
    last_high = np.maximum.accumulate(np.where(high, idx, -1), axis=1)
    prev_last = np.concatenate([np.full((n, 1), -1), last_high[:, :-1]], axis=1)
    recovery = high & ~np.concatenate([np.ones((n, 1), bool), high[:, :-1]], axis=1)
    rec = np.where(recovery, idx - prev_last - 1, 0).max(axis=1)
    active = np.where(~high[:, -1], t - 1 - last_high[:, -1], 0)
    return np.maximum(rec, active).astype(np.float64)


def trade_stats(trades: Trades, group: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Trade statistics per group (``group[i]`` for trade i, groups ``0..n-1``)."""
    closed = trades.reason != OPEN
    g = group[closed]
    pnl = trades.pnl[closed]
    ret = trades.returns[closed]
    win, loss = pnl > 0, pnl < 0

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(g[mask], minlength=n).astype(np.float64)

    def total(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(g[mask], w[mask], minlength=n)

    def extreme(x: np.ndarray, fn: np.ufunc, fill: float) -> np.ndarray:
        out = np.full(n, fill)
        fn.at(out, g, x)
        return np.where(out == fill, np.nan, out)

    every = np.ones(len(g), bool)
    nc, nw, nl = count(every), count(win), count(loss)
    nb = count(pnl == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = nw / nc
        sw, sl = total(pnl, win), total(pnl, loss)
        pf = np.where(nc > 0, sw / np.abs(sl), np.nan)
        avg_w_pnl = sw / nw
        avg_l_pnl = sl / nl
        aw = np.where((nc > 0) & (nw == 0), 0.0, avg_w_pnl)
        al = np.where((nc > 0) & (nl == 0), 0.0, avg_l_pnl)
        expectancy = win_rate * aw - (nc - nw - nb) / nc * np.abs(al)
        hold = total((trades.exit_idx - trades.entry_idx)[closed].astype(np.float64), every) / nc
        return {
            "trades": np.bincount(group, minlength=n).astype(np.float64),
            "closed_trades": nc, "win_rate": win_rate, "profit_factor": pf,
            "expectancy": expectancy, "avg_win": total(ret, win) / nw,
            "avg_loss": total(ret, loss) / nl, "avg_win_pnl": avg_w_pnl, "avg_loss_pnl": avg_l_pnl,
            "best_trade": extreme(ret, np.maximum, -np.inf),
            "worst_trade": extreme(ret, np.minimum, np.inf),
            "avg_holding_minutes": hold,
            "fees_paid": np.bincount(group, trades.entry_fees + trades.exit_fees, minlength=n),
            "slippage_paid": np.bincount(group, trades.slippage_cost, minlength=n),
        }
