"""The fill simulator: orders at fill bars -> trades, for every row at once.

Why trade by trade and not minute by minute: a minute-stepped state machine
costs one compiled call per minute (7,800 calls for 20 sessions) whatever
happens; here each loop iteration advances every row (a symbol, or a symbol
under one parameter combination) by one *window* of ``W`` minutes of its
current position, or to its next entry. A row in no position jumps straight to
its next entry through a precomputed "next entry at or after t" index, so the
loop runs about (trades + long holds / W) times, and each pass is a handful of
fused MLX kernels over ``[R, W]``.

Rules (vectorbt's ``Portfolio.from_signals`` with ``stop_entry_price=fillprice``,
``stop_exit_price=stopmarket``, ``upon_long_conflict=exit``,
``upon_short_conflict=exit``, ``upon_dir_conflict=ignore``,
``upon_opposite_entry=close``, whole shares; see docs/backtest.md):

- orders arrive already at their fill bar (``engine.backtest.orders`` shifts a
  close signal to the symbol's next bar) and fill at that bar's open;
- in a position, each later bar is first checked for a stop with its
  open/high/low: stop-loss and trailing stop before take-profit, a gap through
  the level fills at the open; a bar with a stop executes nothing else;
- otherwise an exit order (signal, opposite entry, session end, time stop)
  closes the position at the open;
- no entry at the bar of an exit; a trailing stop's peak is the highest high
  (lowest low for shorts) of the bars before the one checked, starting from the
  entry fill price.

Money (cash, shares, fees, PnL) is float64 on MLX's CPU device; MLX has no
float64 on the GPU, so the simulator pins ``mx.cpu``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

#: Exit reasons stored with each trade.
REASONS: tuple[str, ...] = ("open", "signal", "stop_loss", "trailing_stop", "take_profit",
                            "time_stop", "session_end")
OPEN, SIGNAL, STOP_LOSS, TRAILING, TAKE_PROFIT, TIME_STOP, SESSION_END = range(7)

F64 = mx.float64
_NO_COMPILE = False
#: Minutes of an open position scanned per iteration (see the module docstring).
WINDOW = 32


@dataclass(frozen=True)
class RowParams:
    """Per-row settings as float64 ``[R]`` arrays (NaN switches a stop off)."""

    stop_loss: np.ndarray  # fraction below (long) / above (short) the entry fill
    trailing: np.ndarray  # fraction below the running peak
    take_profit: np.ndarray  # fraction above (long) / below (short) the entry fill
    time_stop: np.ndarray  # minutes on the grid after the entry bar; 0 = off
    size_value: np.ndarray  # cash per trade; NaN -> use size_fraction
    size_fraction: np.ndarray  # fraction of the row's cash (equity when flat)
    init_cash: np.ndarray
    fee_rate: np.ndarray  # proportional fee on the traded value (vectorbt ``fees``)
    commission_per_share: np.ndarray
    commission_min: np.ndarray  # per order (vectorbt ``fixed_fees`` when per_share = 0)
    slippage: np.ndarray  # fraction (bps / 1e4)

    @property
    def rows(self) -> int:
        return len(self.init_cash)


@dataclass(frozen=True)
class Orders:
    """Orders at their fill bars, ``[V, S, T]`` bool, V signal variants.

    ``entry_long``/``entry_short`` open a position when flat; ``exit_long`` and
    ``exit_short`` are the resolved exits of a long / short position (signal
    exit, opposite entry, session end); ``forced[S, T]`` marks session-end
    exits so their reason can be told apart.
    """

    entry_long: np.ndarray
    entry_short: np.ndarray
    exit_long: np.ndarray
    exit_short: np.ndarray
    forced: np.ndarray


@dataclass(frozen=True)
class Trades:
    """Closed (and at the end, still open) trades as flat NumPy arrays."""

    row: np.ndarray  # int64
    entry_idx: np.ndarray
    exit_idx: np.ndarray
    direction: np.ndarray  # +1 long, -1 short
    size: np.ndarray  # shares, float64 whole numbers
    entry_price: np.ndarray  # fill price including slippage
    exit_price: np.ndarray
    entry_fees: np.ndarray
    exit_fees: np.ndarray
    reason: np.ndarray  # index into REASONS
    slippage_cost: np.ndarray  # money lost to slippage on both fills

    @property
    def pnl(self) -> np.ndarray:
        return (
            self.direction * self.size * (self.exit_price - self.entry_price)
            - self.entry_fees
            - self.exit_fees
        )

    @property
    def returns(self) -> np.ndarray:
        """PnL over the entry value, size x entry fill price (vectorbt's trade return)."""
        return self.pnl / (self.size * self.entry_price)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, idx: np.ndarray | slice) -> Trades:
        """The trades at ``idx`` (an index array, mask or slice)."""
        return Trades(**{f: getattr(self, f)[idx] for f in self.__dataclass_fields__})


def resolve_signals(
    le: np.ndarray, lx: np.ndarray, se: np.ndarray, sx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """vectorbt's conflict rules: (entry_long, entry_short, exit_long, exit_short) orders.

    An entry with its own exit on the same bar is dropped (the exit wins); a
    long and a short entry on the same bar cancel; an opposite entry closes a
    position without reversing it.
    """
    le1 = le & ~lx
    se1 = se & ~sx
    both = le1 & se1
    le2 = le1 & ~both
    se2 = se1 & ~both
    return le2, se2, lx | se2, sx | le2


def session_end_fills(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    forced: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prices the simulator fills at: a session-end minute without a bar gets one flat
    bar at the symbol's last close (open = high = low = close), the price a
    session-end exit gets when nothing traded after it. Other minutes are unchanged."""
    need = forced & np.isnan(open_)
    if not need.any():
        return open_, high, low, close
    t = close.shape[1]
    ok = ~np.isnan(close)
    idx = np.where(ok, np.arange(t), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    si, ti = np.nonzero(need)
    px = close[si, idx[si, ti]]
    out = []
    for a in (open_, high, low, close):
        b = a.copy()
        b[si, ti] = px
        out.append(b)
    return out[0], out[1], out[2], out[3]


def _next_true(mask: mx.array) -> mx.array:
    """``out[..., t]`` = first index >= t where mask is True, else T (length T + 1)."""
    t = mask.shape[-1]
    idx = mx.arange(t, dtype=mx.int32)
    pos = mx.where(mask, idx, mx.array(t, mx.int32))
    nxt = mx.cummin(pos, axis=-1, reverse=True)
    pad = mx.full((*mask.shape[:-1], 1), t, dtype=mx.int32)
    return mx.concatenate([nxt, pad], axis=-1)


def simulate(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    orders: Orders,
    params: RowParams,
    row_symbol: np.ndarray,
    row_variant: np.ndarray,
    *,
    window: int = WINDOW,
    progress: Callable[[int, int], None] | None = None,
) -> Trades:
    """Run every row's position machine; returns all trades (see the module docstring).

    Prices are ``[S, T]`` float64 with NaN where a symbol has no bar. Row r
    trades symbol ``row_symbol[r]`` on signal variant ``row_variant[r]``. A
    session-end minute without a bar fills at the last close (``session_end_fills``).
    """
    open_, high, low, close = session_end_fills(open_, high, low, close, orders.forced)
    with mx.stream(mx.cpu):
        return _simulate(open_, high, low, close, orders, params, row_symbol, row_variant,
                         window, progress)


def _simulate(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, orders: Orders,
    params: RowParams, row_symbol: np.ndarray, row_variant: np.ndarray, window: int,
    progress: Callable[[int, int], None] | None,
) -> Trades:
    s, t = open_.shape
    r = params.rows
    w = min(window, max(t, 1))
    o_f = mx.array(open_.reshape(-1), F64)
    h_f = mx.array(np.where(np.isnan(high), -np.inf, high).reshape(-1), F64)
    l_f = mx.array(np.where(np.isnan(low), np.inf, low).reshape(-1), F64)
    forced_f = mx.array(orders.forced.reshape(-1))
    # Long exits then short exits in one array: one gather per window, offset by side.
    x2_f = mx.array(np.concatenate([orders.exit_long.reshape(-1), orders.exit_short.reshape(-1)]))
    n_orders = orders.exit_long.size
    el = mx.array(orders.entry_long)
    next_entry = _next_true(el | mx.array(orders.entry_short)).reshape(-1)  # [V*S*(T+1)]
    el_f = el.reshape(-1)
    del el
    # Materialize the big inputs once: a lazy array captured by the compiled
    # iteration would be recomputed on every call.
    mx.eval(o_f, h_f, l_f, forced_f, x2_f, next_entry, el_f)

    sym = mx.array(row_symbol.astype(np.int32))
    var = mx.array(row_variant.astype(np.int32))
    base_p = sym * t  # price arrays [S*T]
    base_o = (var * s + sym) * t  # order arrays [V*S*T]
    base_n = (var * s + sym) * (t + 1)
    p = {k: mx.array(getattr(params, k), F64) for k in (
        "stop_loss", "trailing", "take_profit", "size_value", "size_fraction", "fee_rate",
        "commission_per_share", "commission_min", "slippage")}
    tstop = mx.array(params.time_stop.astype(np.int32))
    cols = mx.arange(w, dtype=mx.int32)[None, :]
    big_t = mx.array(t, mx.int32)

    KNAMES = ("o_f", "h_f", "l_f", "forced_f", "x2_f", "next_entry", "el_f",
              "base_p", "base_o", "base_n", "tstop")
    consts: tuple[mx.array, ...] = (o_f, h_f, l_f, forced_f, x2_f, next_entry, el_f,
                                    base_p, base_o, base_n, tstop)
    n_big = 7  # consts[:n_big] are whole arrays; the rest are per row
    K: dict[str, mx.array] = dict(zip(KNAMES, consts, strict=True))
    PNAMES = tuple(p)
    pvals = tuple(p.values())
    has_sl = bool(np.any(~np.isnan(params.stop_loss)))
    has_tr = bool(np.any(~np.isnan(params.trailing)))
    has_tp = bool(np.any(~np.isnan(params.take_profit)))
    has_time = bool(np.any(params.time_stop > 0))

    def commission(shares: mx.array, price: mx.array) -> mx.array:
        return (mx.maximum(p["commission_per_share"] * shares, p["commission_min"])
                + p["fee_rate"] * shares * price)

    def enter(cursor: mx.array, cash: mx.array) -> tuple[mx.array, ...]:
        """Open the next position at or after ``cursor``: (e, d, shares, price, fees, cash, ok)."""
        e = mx.take(K["next_entry"], K["base_n"] + mx.minimum(cursor, big_t))
        has = e < big_t
        ec = mx.minimum(e, big_t - 1)
        d = mx.where(mx.take(K["el_f"], K["base_o"] + ec), 1.0, -1.0).astype(F64)
        op = mx.take(K["o_f"], K["base_p"] + ec)
        adj = op * (1.0 + d * p["slippage"])
        unit = adj * (1.0 + p["fee_rate"])
        by_value = mx.floor(p["size_value"] / op)
        budget = mx.where(mx.isnan(p["size_value"]), p["size_fraction"] * cash, cash)
        afford = mx.floor(mx.minimum((budget - p["commission_min"]) / unit,
                                     budget / (unit + p["commission_per_share"])))
        fits = by_value * unit + mx.maximum(p["commission_per_share"] * by_value,
                                            p["commission_min"]) <= cash
        shares = mx.where(mx.isnan(p["size_value"]), afford,
                          mx.where((d < 0) | fits, by_value, afford))
        ok = has & (shares > 0)
        shares = mx.where(ok, shares, 0.0)
        fees = mx.where(ok, commission(shares, adj), 0.0)
        cash = cash - mx.where(ok, d * shares * adj + fees, 0.0)
        return e, d, shares, adj, fees, cash, ok, has

    def scan(pos: mx.array, e: mx.array, d: mx.array, ref: mx.array,
             peak: mx.array) -> tuple[mx.array, ...]:
        """One window of the open positions: (hit, bar, price, reason, new peak)."""
        idx = pos[:, None] + cols
        inside = idx < big_t
        ic = mx.minimum(idx, big_t - 1)
        gp = K["base_p"][:, None] + ic
        go = K["base_o"][:, None] + ic
        o = mx.take(K["o_f"], gp)
        ok = inside & ~mx.isnan(o)  # a minute without a bar has a NaN open
        long_ = (d > 0)[:, None]
        # Work in "long" coordinates: a short's prices are mirrored (x -> -x).
        # Only the stops some row uses are traced (the flags are per call).
        sgn = d[:, None]
        om = sgn * o
        rows_ = o.shape[0]
        no = mx.zeros(o.shape, mx.bool_)
        neg_inf = mx.full((rows_,), -np.inf, F64)
        adverse = favour = None
        if has_sl or has_tr or has_tp:
            lw, hw = mx.take(K["l_f"], gp), mx.take(K["h_f"], gp)
            if has_sl or has_tr:
                adverse = mx.where(inside, mx.where(long_, lw, -hw), np.inf)
            if has_tr or has_tp:
                favour = mx.where(inside, mx.where(long_, hw, -lw), -np.inf)
        slv = trv = tpv = neg_inf
        hit_sl = hit_tr = hit_tp = no
        run_last = neg_inf
        if has_sl and adverse is not None:
            sl = p["stop_loss"]
            slv = mx.where(d > 0, ref * (1 - sl), -ref * (1 + sl))  # long: ref*(1-sl)
            hit_sl = ok & (adverse <= slv[:, None])
        tr_lvl = None
        if has_tr and adverse is not None and favour is not None:
            tr = p["trailing"][:, None]
            run = mx.cummax(favour, axis=1)
            run_last = run[:, -1]
            peak_b = mx.maximum(peak[:, None], mx.concatenate(
                [mx.full((rows_, 1), -np.inf, F64), run[:, :-1]], axis=1))
            peak_real = sgn * peak_b
            tr_lvl = mx.where(long_, peak_real * (1 - tr), -(peak_real * (1 + tr)))
            hit_tr = ok & (adverse <= tr_lvl)
        if has_tp and favour is not None:
            tp = p["take_profit"]
            tpv = mx.where(d > 0, ref * (1 + tp), -ref * (1 - tp))
            hit_tp = ok & (favour >= tpv[:, None])
        side = mx.where(d > 0, 0, n_orders).astype(mx.int32)[:, None]
        xo = ok & mx.take(K["x2_f"], go + side)
        hit_sig = xo
        if has_time:
            ts = K["tstop"][:, None]
            hit_sig = hit_sig | (ok & (ts > 0) & (idx >= e[:, None] + ts))
        hit = hit_sl | hit_tr | hit_tp | hit_sig
        found = mx.any(hit, axis=1)
        j = mx.argmax(hit.astype(mx.int32), axis=1)[:, None].astype(mx.int32)

        def at(a: mx.array) -> mx.array:
            return mx.take_along_axis(a, j, axis=1)[:, 0]

        o_j = at(om)
        stop_sl, stop_tr = at(hit_sl), at(hit_tr)
        if tr_lvl is not None:
            trv = at(tr_lvl)
        # The higher (mirrored) stop level is met first as the price falls.
        lvl = mx.where(stop_sl & stop_tr, mx.maximum(slv, trv), mx.where(stop_sl, slv, trv))
        stop_px = mx.where(o_j <= lvl, o_j, lvl)
        tp_px = mx.where(tpv <= o_j, o_j, tpv)
        is_stop = stop_sl | stop_tr
        is_tp = ~is_stop & at(hit_tp)
        price_m = mx.where(is_stop, stop_px, mx.where(is_tp, tp_px, o_j))
        at_bar = K["base_p"] + mx.minimum(pos + j[:, 0], big_t - 1)
        sig_reason = mx.where(mx.take(K["forced_f"], at_bar), SESSION_END, SIGNAL)
        reason = mx.where(
            is_stop, mx.where(stop_sl & (~stop_tr | (slv >= trv)), STOP_LOSS, TRAILING),
            mx.where(is_tp, TAKE_PROFIT, mx.where(at(xo), sig_reason, TIME_STOP)))
        bar = pos + j[:, 0].astype(mx.int32)
        new_peak = mx.maximum(peak, run_last)
        return found, bar, d * price_m, reason.astype(mx.int32), new_peak

    def iteration(state: tuple[mx.array, ...], consts: tuple[mx.array, ...],
                  pvals: tuple[mx.array, ...]) -> tuple[tuple[mx.array, ...], tuple[mx.array, ...]]:
        # Big arrays enter as arguments (not closure constants): the closures
        # below read them from K and p, rebound to the traced inputs here.
        K.update(zip(KNAMES, consts, strict=True))
        p.update(zip(PNAMES, pvals, strict=True))
        (cash, in_pos, pos, e, d, shares, eprice, efees, peak, done) = state
        found, bar, px, reason, new_peak = scan(pos, e, d, eprice, peak)
        closing = in_pos & found
        xadj = px * (1.0 - d * p["slippage"])
        xfees = commission(shares, xadj)
        cash = mx.where(closing, cash + d * shares * xadj - xfees, cash)
        rec = (closing, e, bar, d, shares, eprice, xadj, efees, xfees, reason,
               shares * mx.abs(px - xadj) + shares * mx.abs(eprice) * p["slippage"]
               / (1.0 + d * p["slippage"]))
        # Rows still holding: advance the window; rows that closed or were flat: enter.
        holding = in_pos & ~found
        cursor = mx.where(closing, bar + 1, pos)
        ne, nd, nsh, nadj, nfees, ncash, nok, nhas = enter(cursor, cash)
        want = ~holding & ~done
        cash = mx.where(want, ncash, cash)
        in_pos2 = holding | (want & nok)
        e2 = mx.where(want, ne, e)
        pos2 = mx.where(holding, pos + w, mx.where(want & nok, ne + 1, mx.where(want, ne + 1, pos)))
        done2 = done | (want & ~nhas) | (holding & (pos + w >= big_t))
        state2 = (
            cash, in_pos2, pos2, e2, mx.where(want, nd, d), mx.where(want, nsh, shares),
            mx.where(want, nadj, eprice), mx.where(want, nfees, efees),
            mx.where(holding, new_peak, mx.where(want, nd * nadj, peak)), done2,
        )
        return state2, rec

    step = iteration if _NO_COMPILE else mx.compile(iteration)
    zeros = mx.zeros((r,), F64)
    izeros = mx.zeros((r,), mx.int32)
    state: tuple[mx.array, ...] = (
        mx.array(params.init_cash, F64), mx.zeros((r,), mx.bool_), izeros, izeros,
        mx.ones((r,), F64), zeros, zeros, zeros, zeros, mx.zeros((r,), mx.bool_),
    )
    # Rows finish at different times (a row with few trades is done early): every
    # few iterations the still-active rows are compacted, so the work follows the
    # rows left rather than the busiest one. ``rowid`` maps positions to rows.
    rowid = np.arange(r)
    records: list[list[np.ndarray]] = []  # closed trades, already as NumPy
    finished: list[tuple[np.ndarray, tuple[np.ndarray, ...]]] = []
    pending: list[tuple[mx.array, ...]] = []
    it = 0
    while True:
        state, rec = step(state, consts, pvals)
        pending.append(rec)
        it += 1
        if it % 8:
            continue
        mx.eval(state, pending)
        records.extend(_closed(rowid, rec) for rec in pending)
        pending = []
        done = np.array(state[-1])
        if done.all():
            break
        if progress is not None:
            progress(r - int((~done).sum()), r)
        active = np.nonzero(~done)[0]
        if len(active) <= len(rowid) // 2 and len(rowid) > 64:
            finished.append((rowid[done], tuple(np.array(x)[done] for x in state[:8])))
            keep = mx.array(active.astype(np.int32))
            state = tuple(mx.take(x, keep) for x in state)
            consts = (*consts[:n_big], *(mx.take(x, keep) for x in consts[n_big:]))
            pvals = tuple(mx.take(x, keep) for x in pvals)
            rowid = rowid[active]
            mx.eval(state, consts, pvals)
    finished.append((rowid, tuple(np.array(x) for x in state[:8])))
    return _collect(records, finished, close, row_symbol, t, params.slippage)


def _closed(rowid: np.ndarray, rec: tuple[mx.array, ...]) -> list[np.ndarray]:
    """One iteration's closed trades (row id first), dropping the rows that closed none."""
    mask = np.array(rec[0])
    return [rowid[mask], *(np.array(x)[mask] for x in rec[1:])]


def _collect(records: list[list[np.ndarray]],
             finished: list[tuple[np.ndarray, tuple[np.ndarray, ...]]],
             close: np.ndarray, row_symbol: np.ndarray, t: int, slip: np.ndarray) -> Trades:
    """Closed trades from the per-iteration records, then the positions still open."""
    closed = [np.concatenate([rec[k] for rec in records]) if records else np.zeros(0)
              for k in range(11)]
    # Positions still open at the end: valued at the symbol's last close, no exit fees.
    rowid = np.concatenate([f[0] for f in finished])
    _, in_pos, _, e, d, shares, eprice, efees = (
        np.concatenate([f[1][k] for f in finished]) for k in range(8))
    sel = np.nonzero(in_pos & (e < t))[0]
    rows = rowid[sel]
    sl = slip[rows]
    e, d, shares, eprice, efees = e[sel], d[sel], shares[sel], eprice[sel], efees[sel]
    still = [
        rows, e, np.full(len(rows), t - 1), d, shares, eprice,
        _last_close(close)[row_symbol[rows]], efees, np.zeros(len(rows)),
        np.full(len(rows), OPEN), shares * np.abs(eprice) * sl / (1.0 + d * sl),
    ]
    f = [np.concatenate([a, b]) for a, b in zip(closed, still, strict=True)]
    order = np.lexsort((f[1], f[0]))
    f = [x[order] for x in f]
    return Trades(
        row=f[0].astype(np.int64), entry_idx=f[1].astype(np.int64),
        exit_idx=f[2].astype(np.int64), direction=f[3].astype(np.float64),
        size=f[4].astype(np.float64), entry_price=f[5].astype(np.float64),
        exit_price=f[6].astype(np.float64), entry_fees=f[7].astype(np.float64),
        exit_fees=f[8].astype(np.float64), reason=f[9].astype(np.int64),
        slippage_cost=f[10].astype(np.float64),
    )


def _last_close(close: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(close)
    t = close.shape[1]
    last = t - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), close[np.arange(close.shape[0]), last], np.nan)
