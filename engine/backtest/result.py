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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.backtest.sim import OPEN, Trades
from engine.backtest.stats import NAMES, curve_stats, equity, ffill_close, trade_stats
from storage.types import Panel

#: Longest stored equity curve (points); longer ones keep every k-th bar and the last.
EQUITY_POINTS = 2000
#: Minutes of a full regular session (a half day has 210).
SESSION_MINUTES = 390


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

    def check(self) -> None:
        """``BacktestError`` naming the first value that makes no sense (one line).

        Costs and slippage are never negative (a negative slippage turns a loss
        into a gain), a trade needs cash, and the no-entry window must leave
        some of a full session open.
        """
        from engine.backtest.errors import BacktestError

        def bad(name: str, value: object, why: str) -> BacktestError:
            return BacktestError(f"{name} {value}: {why}")

        for name, v in (("--cash", self.init_cash), ("--cash-per-trade", self.size_value),
                        ("--commission", self.commission_per_share),
                        ("--commission-min", self.commission_min), ("--fee-bps", self.fee_bps),
                        ("--slippage-bps", self.slippage_bps)):
            if not np.isfinite(v):
                raise bad(name, v, "is not a finite number")
        if self.init_cash <= 0:
            raise bad("--cash", self.init_cash, "an account needs cash above 0")
        if self.size_fraction is None and self.size_value <= 0:
            raise bad("--cash-per-trade", self.size_value, "a trade needs cash above 0")
        if self.size_fraction is not None and not 0 < self.size_fraction <= 1:
            raise bad("--equity-fraction", self.size_fraction, "must be above 0 and at most 1")
        for name, v in (("--commission", self.commission_per_share),
                        ("--commission-min", self.commission_min), ("--fee-bps", self.fee_bps),
                        ("--slippage-bps", self.slippage_bps)):
            if v < 0:
                raise bad(name, v, "a cost is never negative")
        if self.slippage_bps >= 10_000:
            raise bad("--slippage-bps", self.slippage_bps, "must be below 10,000 (100 %)")
        if not 0 <= self.no_entry_minutes < SESSION_MINUTES:
            raise bad("--no-entry-minutes", self.no_entry_minutes,
                      f"must be from 0 to {SESSION_MINUTES - 1} (a session has "
                      f"{SESSION_MINUTES} minutes)")


@dataclass
class RunStats:
    portfolio: np.ndarray  # [C, N] float64, columns = stats.NAMES
    symbols: dict[int, np.ndarray]  # combo -> [S, N]: the best and its neighbours
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
    #: Anchors whose history the source lacked for some symbol (shown as ``year*``).
    partial: tuple[str, ...] = ()
    #: What a reader of the figures must know (partial anchors, half days, zero
    #: volume, an empty result), one sentence each; saved with the run.
    notes: tuple[str, ...] = ()

    def stat(self, name: str, combo: int | None = None) -> float:
        """One portfolio statistic of a combination (the best by default)."""
        c = self.best if combo is None else combo
        return float(self.stats.portfolio[c, NAMES.index(name)])

    def combo_label(self, c: int) -> str:
        """``k=2, anchor=year*``: a partial anchor carries a star, as in the console."""
        def show(k: str) -> str:
            v = self.combos[c][k]
            star = "*" if k == "anchor" and v in self.partial else ""
            return f"{k}={v}{star}"

        names = list(self.grid)
        if self.combos[c].get("anchor") in self.partial and "anchor" not in names:
            names.append("anchor")
        return ", ".join(show(k) for k in names) or "defaults"


def sample_index(t: int, points: int = EQUITY_POINTS) -> np.ndarray:
    if t <= points:
        return np.arange(t)
    step = -(-t // points)
    idx = np.arange(0, t, step)
    return idx if idx[-1] == t - 1 else np.append(idx, t - 1)


def _block(trades: Trades, s: int, c: int) -> Trades:
    lo, hi = np.searchsorted(trades.row, [c * s, (c + 1) * s])
    return trades.take(slice(lo, hi))


def period_stats(panel: Panel, trades: Trades, init_cash: np.ndarray, combos: int,
                 split: int | None,
                 progress: Callable[[float], None] | None = None) -> RunStats:
    """Every combination's portfolio figures (and per period with a split).

    ``progress(fraction)`` is called every few combinations (a long sweep's
    statistics take minutes)."""
    s, t = panel.shape
    close_ff = ffill_close(panel.close)
    keep = sample_index(t)
    n = len(NAMES)
    port = np.empty((combos, n))
    peq = np.empty((combos, len(keep)))
    ins = np.empty((combos, n)) if split is not None else None
    oos = np.empty((combos, n)) if split is not None else None
    every = max(1, combos // 100)
    for c in range(combos):  # blocks of S rows: bounded memory, vectorized inside
        if progress is not None and c % every == 0:
            progress(c / combos)
        tc = _block(trades, s, c)
        init = float(init_cash[c * s:(c + 1) * s].sum())
        total, held = portfolio_value(tc, s, c, init, close_ff)
        total = total[None, :]
        port[c] = _portfolio(total, init, held, tc)
        peq[c] = total[0, keep]
        if split is not None and ins is not None and oos is not None:
            sp = min(max(split, 1), t - 1)
            first = tc.entry_idx < sp
            ins[c] = _portfolio(total[:, :sp], init, held[:sp], tc.take(first))
            oos[c] = _portfolio(total[:, sp:], float(total[0, sp - 1]), held[sp:],
                                tc.take(~first))
    return RunStats(portfolio=port, symbols={}, equity_ts_idx=keep, portfolio_equity=peq,
                    in_sample=ins, out_sample=oos)


def portfolio_value(tc: Trades, s: int, c: int, init: float,
                    close_ff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A combination's summed value ``[T]`` and share of symbols in a position ``[T]``.

    The same sums as ``stats.equity`` added over symbols, without its ``[S, T]``
    cash array: cash moves are summed per bar, positions valued in one pass.
    """
    t = close_ff.shape[1]
    closed = tc.reason != OPEN
    d, sh = tc.direction, tc.size
    cash_in = -(d * sh * tc.entry_price + tc.entry_fees)
    cash_out = d * sh * tc.exit_price - tc.exit_fees
    cash = init + np.cumsum(np.bincount(tc.entry_idx, cash_in, t)
                            + np.bincount(tc.exit_idx[closed], cash_out[closed], t))
    local = tc.row - c * s
    flat = local * t
    n = s * t
    dp = (np.bincount(flat + tc.entry_idx, d * sh, n)
          - np.bincount((flat + tc.exit_idx)[closed], (d * sh)[closed], n)).reshape(s, t)
    pos = np.cumsum(dp, axis=1, out=dp)
    pos[np.abs(pos) < 1e-9] = 0.0
    value = cash + np.einsum("st,st->t", pos, close_ff)
    opened = np.bincount(tc.entry_idx, minlength=t) - np.bincount(tc.exit_idx[closed], minlength=t)
    return value, np.cumsum(opened) / s


def symbol_stats(panel: Panel, trades: Trades, init_cash: np.ndarray, combo: int,
                 keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One combination's per-symbol statistics ``[S, N]`` and sampled equity ``[S, K]``."""
    s = panel.shape[0]
    tc = _block(trades, s, combo)
    rows = np.arange(combo * s, (combo + 1) * s)
    value, pos = equity(tc, rows, init_cash[rows], ffill_close(panel.close))
    st = curve_stats(value, init_cash[rows], pos) | trade_stats(tc, tc.row - combo * s, s)
    return np.stack([st[k] for k in NAMES], axis=1), value[:, keep]


def _portfolio(total: np.ndarray, init: float, held: np.ndarray, tc: Trades) -> np.ndarray:
    st = curve_stats(total, np.array([init]), np.zeros_like(total))
    st |= trade_stats(tc, np.zeros(len(tc), dtype=np.int64), 1)
    st["exposure"] = np.array([held.mean()])
    return np.array([st[k][0] for k in NAMES])
