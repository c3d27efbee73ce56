"""From signals at a bar's close to orders at the bar that fills them.

A signal computed at the close of minute t fills at the open of the symbol's
next bar (the next valid minute on the grid), so nothing later than t decides
an order at t. Intraday (the default):

- a signal whose next bar is in another session is dropped (no overnight fills);
- no entry fills in the last ``no_entry_minutes`` minutes of a session;
- every position is closed at the session's last minute *by the calendar*
  (15:59, 12:59 on a half day; a forced exit, reason ``session_end``): at that
  minute's open, or, when the symbol has no bar there, at its last close of the
  session (``sim.session_end_fills`` puts that price on the minute). A live trader
  knows the calendar's close, never which of a symbol's bars will be its last.

With ``hold_overnight`` none of the three applies. The conflict rules that turn
the four signal arrays into orders are ``sim.resolve_signals`` (vectorbt's).
"""

from __future__ import annotations

import numpy as np

from engine.backtest.sim import Orders, resolve_signals


def next_valid(valid: np.ndarray) -> np.ndarray:
    """``[S, T]``: the first valid minute strictly after t, or T."""
    s, t = valid.shape
    pos = np.where(valid, np.arange(t), t)
    nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1]
    return np.concatenate([nxt[:, 1:], np.full((s, 1), t)], axis=1)


def session_end(valid: np.ndarray, session: np.ndarray, minute_of_session: np.ndarray,
                session_minutes: np.ndarray) -> np.ndarray:
    """``[S, T]`` bool: the calendar's last minute of each session, for every symbol
    that has had a bar in that session by then (only those can hold a position)."""
    s, t = valid.shape
    last = (session >= 0) & (minute_of_session == session_minutes - 1)
    if not last.any():
        return np.zeros((s, t), dtype=bool)
    # A bar seen in the session by t: the running count of bars since the session began.
    starts = np.ones(t, dtype=bool)
    starts[1:] = session[1:] != session[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(t), 0))
    idx = np.nonzero(last)[0]
    run = np.cumsum(valid, axis=1)
    before = np.where(first[idx] > 0, run[:, np.maximum(first[idx] - 1, 0)], 0)
    out = np.zeros((s, t), dtype=bool)
    out[:, idx] = (run[:, idx] - before) > 0
    return out


def to_fill_bars(
    signals: np.ndarray, valid: np.ndarray, session: np.ndarray, *, same_session: bool,
    fmap: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Move ``[V, S, T]`` close signals to their fill bars (the next valid minute).

    Most bars are followed by a bar: those signals move by one minute in one
    slice; only the few before a gap are scattered individually.
    """
    nv, ok, adjacent = fmap if fmap is not None else fill_map(valid, session, same_session)
    out = np.zeros_like(signals, dtype=bool)
    out[..., 1:] = signals[..., :-1] & adjacent[None, :, :-1]
    vi, si, ti = np.nonzero(signals & (ok & ~adjacent)[None])
    out[vi, si, nv[si, ti]] = True
    return out


def _fillable(nv: np.ndarray, valid: np.ndarray, session: np.ndarray,
              same_session: bool) -> np.ndarray:
    ok = nv < valid.shape[1]
    if same_session:
        seg = np.append(session, -2)
        ok &= (seg[nv] == session[None, :]) & (session[None, :] >= 0)
    return ok


def fill_map(valid: np.ndarray, session: np.ndarray,
             same_session: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(next valid minute, fillable, fill is the very next minute), shared by the four arrays."""
    nv = next_valid(valid)
    ok = _fillable(nv, valid, session, same_session)
    return nv, ok, ok & (nv == np.arange(valid.shape[1])[None, :] + 1)


def fill_orders(
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    valid: np.ndarray,
    session: np.ndarray,
    minute_of_session: np.ndarray,
    session_minutes: np.ndarray,
    *,
    hold_overnight: bool = False,
    no_entry_minutes: int = 15,
) -> Orders:
    """The four ``[V, S, T]`` close-signal arrays as simulator orders (see the module doc)."""
    intraday = not hold_overnight
    fmap = fill_map(valid, session, intraday)
    le, lx, se, sx = (
        to_fill_bars(a, valid, session, same_session=intraday, fmap=fmap)
        for a in (entry_long, exit_long, entry_short, exit_short)
    )
    if intraday:
        forced = session_end(valid, session, minute_of_session, session_minutes)
        late = (minute_of_session >= session_minutes - max(no_entry_minutes, 1)) | (session < 0)
        blocked = forced | late[None, :]
        le &= ~blocked[None]
        se &= ~blocked[None]
        lx |= forced[None]
        sx |= forced[None]
    else:
        forced = np.zeros(valid.shape, dtype=bool)
    el, es, xl, xs = resolve_signals(le, lx, se, sx)
    return Orders(entry_long=el, entry_short=es, exit_long=xl, exit_short=xs, forced=forced)
