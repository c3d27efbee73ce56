"""What a run returns and the CLI saves: settings, the grid, stats, trades, equity.

``period_stats`` values and scores every combination block of rows (S symbols)
at a time, so memory stays ``[S, T]`` whatever the grid size: per symbol, the
combination's portfolio (the sum of its symbols' independent accounts), and
with a split date the portfolio's in-sample and out-of-sample figures (one
continuous simulation; a trade belongs to the period of its entry bar; the
out-of-sample curve starts from the value at the split).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.backtest.sim import Trades
from engine.backtest.stats import NAMES, curve_stats, equity, ffill_close, trade_stats
from storage.types import Panel

#: Longest stored equity curve (points); longer ones keep every k-th bar and the last.
EQUITY_POINTS = 2000


@dataclass(frozen=True)
class Settings:
    """Sizing, costs and session rules of a run (every field is saved with it)."""

    init_cash: float = 100_000.0  # per symbol account
    size_value: float = 10_000.0  # cash per trade ...
    size_fraction: float | None = None  # ... or this fraction of the account's equity
    commission_per_share: float = 0.005
    commission_min: float = 1.0  # per order
    fee_bps: float = 0.0  # proportional fee on traded value
    slippage_bps: float = 1.0
    hold_overnight: bool = False
    no_entry_minutes: int = 15  # no new entries in the session's last N minutes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunStats:
    portfolio: np.ndarray  # [C, N] float64, columns = stats.NAMES
    symbols: np.ndarray  # [C, S, N]
    equity_ts_idx: np.ndarray  # [K] bar indices of the stored equity points
    portfolio_equity: np.ndarray  # [C, K]
    in_sample: np.ndarray | None = None  # [C, N] (portfolio)
    out_sample: np.ndarray | None = None
    symbol_equity: dict[int, np.ndarray] = field(default_factory=dict)  # combo -> [S, K]


@dataclass
class BacktestResult:
    strategy: str
    grid: dict[str, list[Any]]
    combos: list[dict[str, Any]]
    symbols: tuple[str, ...]
    skipped: tuple[str, ...]
    start: dt.date
    end: dt.date
    split: dt.date | None
    settings: Settings
    code_version: str
    rank_by: str
    best: int
    neighbours: list[int]
    trades: Trades  # every row's trades; row = combo * S + symbol
    ts: np.ndarray  # [T] datetime64[m] UTC
    stats: RunStats
    run_id: int | None = None  # set once saved

    def stat(self, name: str, combo: int | None = None) -> float:
        """One portfolio statistic of a combination (the best by default)."""
        c = self.best if combo is None else combo
        return float(self.stats.portfolio[c, NAMES.index(name)])

    def combo_label(self, c: int) -> str:
        return ", ".join(f"{k}={self.combos[c][k]}" for k in self.grid) or "defaults"


def sample_index(t: int, points: int = EQUITY_POINTS) -> np.ndarray:
    if t <= points:
        return np.arange(t)
    step = -(-t // points)
    idx = np.arange(0, t, step)
    return idx if idx[-1] == t - 1 else np.append(idx, t - 1)


def period_stats(panel: Panel, trades: Trades, init_cash: np.ndarray, combos: int,
                 split: int | None) -> RunStats:
    s, t = panel.shape
    close_ff = ffill_close(panel.close)
    keep = sample_index(t)
    n = len(NAMES)
    port = np.empty((combos, n))
    per = np.empty((combos, s, n))
    peq = np.empty((combos, len(keep)))
    ins = np.empty((combos, n)) if split is not None else None
    oos = np.empty((combos, n)) if split is not None else None
    bounds = np.searchsorted(trades.row, np.arange(combos + 1) * s)
    for c in range(combos):  # blocks of S rows: bounded memory, vectorized inside
        tc = trades.take(slice(bounds[c], bounds[c + 1]))
        rows = np.arange(c * s, (c + 1) * s)
        value, pos = equity(tc, rows, init_cash[rows], close_ff)
        st = curve_stats(value, init_cash[rows], pos) | trade_stats(tc, tc.row - c * s, s)
        per[c] = np.stack([st[k] for k in NAMES], axis=1)
        total = value.sum(axis=0)[None, :]
        port[c] = _portfolio(total, init_cash[rows].sum(), pos, tc, slice(None))
        peq[c] = total[0, keep]
        if split is not None and ins is not None and oos is not None:
            sp = min(max(split, 1), t - 1)
            first = tc.entry_idx < sp
            ins[c] = _portfolio(total[:, :sp], init_cash[rows].sum(), pos[:, :sp],
                                tc.take(first), slice(None))
            oos[c] = _portfolio(total[:, sp:], float(total[0, sp - 1]), pos[:, sp:],
                                tc.take(~first), slice(None))
    return RunStats(portfolio=port, symbols=per, equity_ts_idx=keep, portfolio_equity=peq,
                    in_sample=ins, out_sample=oos)


def _portfolio(total: np.ndarray, init: float, pos: np.ndarray, tc: Trades,
               _: slice) -> np.ndarray:
    st = curve_stats(total, np.array([init]), np.zeros_like(total))
    st |= trade_stats(tc, np.zeros(len(tc), dtype=np.int64), 1)
    st["exposure"] = np.array([(pos != 0).mean()])
    return np.array([st[k][0] for k in NAMES])


def symbol_equity(panel: Panel, trades: Trades, init_cash: np.ndarray, combo: int,
                  keep: np.ndarray) -> np.ndarray:
    """``[S, K]`` sampled equity of one combination's symbols."""
    s = panel.shape[0]
    rows = np.arange(combo * s, (combo + 1) * s)
    lo, hi = np.searchsorted(trades.row, [combo * s, (combo + 1) * s])
    value, _ = equity(trades.take(slice(lo, hi)), rows, init_cash[rows], ffill_close(panel.close))
    return value[:, keep]
