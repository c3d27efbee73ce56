"""Incremental engine: every indicator's state for all symbols, one compiled step.

``IncrementalEngine(symbols, names)`` composes the ``step`` of each needed
indicator (plus the regime) into one pure function and ``mx.compile``s it, so a
live minute for hundreds of symbols is a single call. A batch with the same
``ts`` as the previous one revises that still-forming minute: the engine keeps
the state from before the minute and re-steps from it, so nothing is counted
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from engine.indicators.base import bar_of, compacted
from engine.indicators.warm import at as warm_at
from engine.inputs import batch_inputs, day_starts, step_inputs
from engine.kernels import Compact
from engine.registry import REGISTRY, Indicator, State, StepInputs, needed, output_names
from engine.snapshot import Snapshot
from storage.types import BarBatch, Panel, as_dt64

REGIME = "regime"
NAN = float("nan")
Tree = dict[str, dict[str, mx.array]]


def _columns(outs: list[mx.array], s: int) -> mx.array:
    """``mx.stack(outs, axis=1)`` for ``[S]`` outputs without a view per output.

    Why: ``stack`` expands every output's dims first, one graph node each (~150
    per minute), and on MLX's CPU backend every node costs a few microseconds
    of scheduling; one flat concatenate and a transposed view cost two.
    """
    flat = mx.concatenate([mx.broadcast_to(o, (s,)) for o in outs])
    return flat.reshape(len(outs), s).T


class IncrementalEngine:
    """Stateful, per-minute evaluation of registry outputs for a fixed symbol list."""

    def __init__(self, symbols: Sequence[str], names: Iterable[str] | None = None) -> None:
        self.symbols = tuple(symbols)
        self.names = tuple(names) if names is not None else tuple(output_names())
        with_regime = (*self.names, REGIME) if REGIME in output_names() else self.names
        self._inds: list[Indicator] = needed(with_regime)
        self._has_regime = REGIME in with_regime
        #: Sessions ``warm`` steps at least: the longest declared history of the
        #: outputs in use (``engine.meta.History``); the rest is exact state.
        self.warm_sessions = REGISTRY.step_sessions(with_regime)
        self._needs = {ind.key: REGISTRY.history_need(ind.outputs) for ind in self._inds}
        self._hosts = [(ind.host, ind.host.init(len(self.symbols))) for ind in self._inds
                       if ind.host is not None]
        # bar-sequence indicators are stepped together (one bar count, one output mask)
        self._seq = [ind for ind in self._inds if ind.seq is not None]
        self._other = [ind for ind in self._inds if ind.seq is None]
        self._seq_names = [n for ind in self._seq for n in ind.outputs]
        self._seq_warm = mx.array(np.array(
            [ind.spec.warm[n] for ind in self._seq for n in ind.outputs], dtype=np.int32))
        #: Real bars after which every bar-sequence step is in its steady state
        #: (past each seed and warm-up): the bar count ``n`` no longer matters.
        self._steady_bars = max((w for ind in self._seq for w in ind.spec.warm.values()),
                                default=0) + 2
        other_names = [n for ind in self._other for n in ind.outputs]
        col = {n: i for i, n in enumerate([*self._seq_names, *other_names])}
        self._order = mx.array(np.array([col[n] for n in self.names], dtype=np.int32))
        self._regime_col = col.get(REGIME, -1)
        self._state: Tree = self._init_state()
        self._before: Tree | None = None  # state before the last stepped minute
        self._last_ts: np.datetime64 | None = None
        self._fn = mx.compile(self._step_all)

    def _init_state(self) -> Tree:
        s = len(self.symbols)
        tree: Tree = {ind.key: ind.init(s) for ind in self._other}
        tree.update({ind.key: ind.spec.init(s) for ind in self._seq})
        tree["_seq"] = {"n": mx.zeros((s,), dtype=mx.int32),
                        "last": mx.full((s, len(self._seq_names)), float("nan"))}
        tree["_engine"] = {"last": mx.full((s,), float("nan")), "vol": mx.zeros((s,))}
        return tree

    def reset(self) -> None:
        self._state, self._before, self._last_ts = self._init_state(), None, None
        self._hosts = [(h, h.init(len(self.symbols))) for h, _ in self._hosts]

    # ------------------------------------------------------------------ core

    def _step_all(self, state: Tree, raw: dict[str, mx.array]) -> tuple[Tree, mx.array, mx.array]:
        inp = StepInputs(
            open=raw["open"], high=raw["high"], low=raw["low"], close=raw["close"],
            volume=raw["volume"], valid=raw["valid"],
            segments={k[4:]: v for k, v in raw.items() if k.startswith("seg:")},
            minute_of_session=raw["minute_of_session"], session_minutes=raw["session_minutes"],
            ts_minutes=raw["ts_minutes"],
            open_t=raw["open_t"], high_t=raw["high_t"], low_t=raw["low_t"],
            close_t=raw["close_t"],
            extra={k[2:]: v for k, v in raw.items() if k.startswith("x:")},
        )
        new: Tree = {}
        cols = self._step_seq(state, inp, new)
        outs: list[mx.array] = []
        for ind in self._other:
            st, o = ind.step(state[ind.key], inp)
            new[ind.key] = st
            outs.extend(o[n].astype(mx.float32) for n in ind.outputs)
        eng = state["_engine"]
        new["_engine"] = {
            "last": mx.where(inp.valid, inp.close, eng["last"]),
            "vol": mx.where(inp.valid, inp.volume, eng["vol"]),
        }
        every = mx.concatenate([cols, _columns(outs, cols.shape[0])], axis=1) if outs else cols
        values = mx.take(every, self._order, axis=1)
        regime = (every[:, self._regime_col] if self._has_regime
                  else mx.full(inp.close.shape, -1.0))
        return new, values, regime

    def _step_seq(self, state: Tree, inp: StepInputs, new: Tree) -> mx.array:
        """Step every bar-sequence indicator on this minute's real bars: ``[S, F_seq]``.

        A symbol without a bar keeps its state and repeats its last outputs; the
        first ``warm`` real bars of each output are NaN (``engine.indicators.base``).
        """
        v = inp.valid
        n = state["_seq"]["n"] + v.astype(mx.int32)
        bar = bar_of(inp, n)
        outs: list[mx.array] = []
        for ind in self._seq:
            inner = state[ind.key]
            st, o = ind.spec.step(dict(inner), bar)
            new[ind.key] = {k: mx.where(v.reshape((-1,) + (1,) * (a.ndim - 1)), a, inner[k])
                            for k, a in st.items()}
            outs.extend(o[name].astype(mx.float32) for name in ind.outputs)
        if not outs:
            new["_seq"] = state["_seq"]
            return mx.zeros((v.shape[0], 0))
        cols = mx.where(n[:, None] > self._seq_warm[None, :], _columns(outs, v.shape[0]), NAN)
        cols = mx.where(v[:, None], cols, state["_seq"]["last"])
        new["_seq"] = {"n": n, "last": cols}
        return cols

    @staticmethod
    def _raw(inp: StepInputs) -> dict[str, mx.array]:
        raw = {
            "open": inp.open, "high": inp.high, "low": inp.low, "close": inp.close,
            "volume": inp.volume, "valid": inp.valid,
            "minute_of_session": inp.minute_of_session, "session_minutes": inp.session_minutes,
            "ts_minutes": inp.ts_minutes,
            "open_t": inp.open_t, "high_t": inp.high_t, "low_t": inp.low_t,
            "close_t": inp.close_t,
        }
        raw.update({"seg:" + k: v for k, v in inp.segments.items()})
        return raw

    def _advance(self, batch: BarBatch) -> tuple[mx.array, mx.array]:
        if tuple(batch.symbols) != self.symbols:
            raise ValueError("BarBatch symbols differ from the engine's symbols")
        ts = as_dt64(batch.ts)
        if self._last_ts is not None and ts == self._last_ts and self._before is not None:
            start = self._before  # revision of the still-forming minute
        elif self._last_ts is not None and ts < self._last_ts:
            raise ValueError(f"bar at {ts} is older than the last stepped minute {self._last_ts}")
        else:
            start = self._state
        raw = self._raw(step_inputs(batch))
        for host, hs in self._hosts:
            raw.update({"x:" + k: mx.array(v) for k, v in host.read(hs, batch).items()})
        new, values, regime = self._fn(_canonical(start), raw)
        for host, hs in self._hosts:
            host.write(hs, batch)
        self._before, self._state, self._last_ts = start, new, ts
        return values, regime

    # ------------------------------------------------------------------ API

    def step(self, batch: BarBatch) -> Snapshot:
        """Advance (or revise) one minute for all symbols and return its Snapshot."""
        values, regime = self._advance(batch)
        eng = self._state["_engine"]
        mx.eval(values, regime, eng["last"], eng["vol"])
        return Snapshot(
            ts=as_dt64(batch.ts),
            symbols=self.symbols,
            names=self.names,
            values=np.array(values),
            last=np.array(eng["last"]),
            volume=np.array(eng["vol"]),
            valid=np.asarray(batch.valid, dtype=bool).copy(),
            regime=np.nan_to_num(np.array(regime), nan=-1.0).astype(np.int8),
            final=bool(batch.final),
        )

    def rehearse(self, batch: BarBatch) -> None:
        """Call the compiled step once on the current state and keep nothing (the state,
        the histories and the last minute stay as they are).

        Why: the first call of MLX's compiled step traces it (~1,100 graph nodes:
        40-70 ms on 2 cores, more under load). A warm-up from the batch makes that
        call on its last minute; a state loaded from disk does not, and the
        console's first live minute paid it, its slowest update. ``batch`` is the
        last minute stepped: its histories' reads change nothing.
        """
        if tuple(batch.symbols) != self.symbols:
            raise ValueError("BarBatch symbols differ from the engine's symbols")
        raw = self._raw(step_inputs(batch))
        for host, hs in self._hosts:
            raw.update({"x:" + k: mx.array(v) for k, v in host.read(hs, batch).items()})
        mx.eval(self._fn(_canonical(self._state), raw))

    def warm(
        self,
        panel: Panel,
        step_sessions: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> Snapshot | None:
        """Bring the state to the end of ``panel``; returns the last Snapshot.

        The whole warm-up in one call; ``warm_chunks`` is the same work cut into
        pieces (a console warms a new list's symbols between live minutes).
        """
        chunks = self.warm_chunks(panel, step_sessions)
        while True:
            try:
                fraction = next(chunks)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if progress is not None:
                progress(fraction)

    def warm_chunks(
        self,
        panel: Panel,
        step_sessions: int | None = None,
        minutes: int = 64,
    ) -> Generator[float, None, Snapshot | None]:
        """``warm`` as a generator: yields the fraction done after each piece of
        work and returns the last Snapshot (``StopIteration.value``).

        ``step_sessions=None`` steps every minute through the compiled step (the
        same state as live stepping, by construction; a yield every ``minutes``
        minutes): the reference, and thousands of calls for a month of minutes.

        ``step_sessions=K`` (the console) steps no minute of the history but the
        last: the state before it is read off the batch (``_from_batch``), one
        yield per indicator, then the last minute is stepped so its Snapshot is
        the step's. Every output then equals its batch value on the same
        history (``tests/engine/test_incremental_warm.py``).
        ``progress(fraction)`` (``warm``) may raise to abandon the warm-up (a
        console quitting mid-warm-up does).
        """
        if panel.symbols != self.symbols:
            panel = panel.select(list(self.symbols))
        t = len(panel.ts)
        if t == 0:
            return None
        if step_sessions is None:
            self.reset()
            for i in range(t - 1):
                self._advance(panel.batch(i))
                if i % minutes == minutes - 1:
                    mx.eval(self._state)
                    yield i / t
        elif t > 1:
            yield from self._from_batch(panel.slice_time(0, t - 1), max(step_sessions, 1))
        return self.step(panel.batch(t - 1))

    def _from_batch(self, panel: Panel, k: int) -> Generator[float, None, None]:
        """Set the state to the end of ``panel`` from batch forms, without stepping it.

        - Bar-sequence indicators (``SeqSpec.state``): their batch series over a
          tail of the panel, from the day where every symbol still has the
          longest declared history of bars (``engine.meta.History``; at least
          ``k`` sessions), read at each symbol's last bar but one; that last bar
          is then stepped (one eager call) for the state and the outputs a
          missing minute repeats. Only SAR, which has no closed form, steps its
          declared session of bars, in NumPy (``engine.indicators.sar``).
        - Calendar-aware ones (``Indicator.warm_state``): the calendar AVWAPs'
          sums over each anchor's segment, the auto anchors from their last six
          days, the intraday levels from today's and the prior day's bars;
          NumPy-side histories (relative volume) from ``Host.from_panel``.
        """
        self.reset()
        inds = len(self._seq) + len(self._other) + 3
        done = 0
        if self._seq:
            starts = day_starts(panel)
            need = max([self._needs[ind.key][0] for ind in self._seq] + [self._steady_bars])
            day0 = max(0, min(len(starts) - k, _day_with_bars_left(panel.valid, starts, need)))
            tail = panel.slice_time(int(starts[day0]), len(panel.ts))
            c = compacted(batch_inputs(tail))
            mx.eval(vars(c))  # the compacted bars only: the panel's MLX copy is freed
            m = c.pos[:, -1] + 1
            before = mx.maximum(m - 1, 0)
            tree: Tree = {}

            def bars_of(ind: Indicator) -> int:
                """Its own declared bars, rounded up so indicators share tails: the
                batch costs the bars it reads, not the longest history's."""
                return -(-max(self._needs[ind.key][0], self._steady_bars) // 128) * 128

            w_now, bars = -1, (c, before)
            for ind in sorted(self._seq, key=bars_of):
                assert ind.spec.state is not None, f"{ind.key} has no state from the batch"
                if bars_of(ind) != w_now:  # one tail at a time (memory)
                    w_now = bars_of(ind)
                    bars = _bars_tail(c, before, w_now)
                    mx.eval(vars(bars[0]), bars[1])
                tree[ind.key] = ind.spec.state(*bars)
                mx.eval(tree[ind.key])
                done += 1
                yield done / inds
            last = _last_bars(c, m)
            mx.eval(vars(last))
            del c, bars
            mx.clear_cache()
            tree["_seq"] = {"n": before, "last": self._state["_seq"]["last"]}
            new: Tree = {}
            self._step_seq(tree, last, new)
            self._state.update(new)
            mx.eval(self._state)
            done += 1
            yield done / inds
            self._exact_sums(panel)
            done += 1
            yield done / inds
        for ind in self._other:
            assert ind.warm_state is not None, f"{ind.key} has no warm state"
            self._state[ind.key] = ind.warm_state(panel)
            mx.eval(self._state[ind.key])
            mx.clear_cache()
            done += 1
            yield done / inds
        self._hosts = [(h, h.from_panel(panel)) for h, _ in self._hosts]
        any_bar = panel.valid.any(axis=1)
        last_t = len(panel.ts) - 1 - np.argmax(panel.valid[:, ::-1], axis=1)
        rows = np.arange(len(self.symbols))
        self._state["_engine"] = {
            "last": mx.array(np.where(any_bar, panel.close[rows, last_t], np.nan), mx.float32),
            "vol": mx.array(np.where(any_bar, panel.volume[rows, last_t], 0.0), mx.float32),
        }
        # own copies: a state read off a batch series may be a view of it, and a
        # view keeps the whole [S, T] buffer alive (tens of MB) as long as the state
        self._state = {k: {n: mx.array(np.array(a)) for n, a in d.items()}
                       for k, d in self._state.items()}
        mx.clear_cache()  # the batch's buffers: live steps need a small cache
        self._before, self._last_ts = None, as_dt64(panel.ts[-1])

    def _exact_sums(self, panel: Panel) -> None:
        """Running sums (OBV, A/D: ``History.cumulative``) count every bar of the
        panel, not the tail's: their ``warm_state`` of the whole panel replaces
        the tail's state, and its entries of the outputs' names are the outputs a
        missing minute repeats."""
        exact = [ind for ind in self._seq if ind.warm_state is not None]
        if not exact:
            return
        last = np.array(self._state["_seq"]["last"])
        seen = panel.valid.any(axis=1)
        for ind in exact:
            assert ind.warm_state is not None
            st = ind.warm_state(panel)
            self._state[ind.key] = st
            for name in ind.outputs:
                last[:, self._seq_names.index(name)] = np.where(seen, np.array(st[name]), np.nan)
        self._state["_seq"] = {**self._state["_seq"], "last": mx.array(last)}

    # ------------------------------------------------------------ checkpoints

    def checkpoint(self) -> EngineCheckpoint:
        """The engine's whole state now, to ``restore`` later (a replay going back).

        Cheap: MLX arrays are immutable, so the state tree is kept by reference;
        only the NumPy-side histories (relative volume) are copied.
        """
        return EngineCheckpoint(
            state={k: dict(d) for k, d in self._state.items()},
            before=None if self._before is None else {k: dict(d) for k, d in self._before.items()},
            last_ts=self._last_ts,
            hosts=[_copy_host(hs) for _, hs in self._hosts],
        )

    def restore(self, cp: EngineCheckpoint) -> None:
        """Put the engine back to ``cp`` (taken from an engine of the same symbols and names)."""
        if len(cp.hosts) != len(self._hosts):
            raise ValueError("the checkpoint is not of this engine's indicators")
        self._state = {k: dict(d) for k, d in cp.state.items()}
        self._before = None if cp.before is None else {k: dict(d) for k, d in cp.before.items()}
        self._last_ts = cp.last_ts
        self._hosts = [(h, _copy_host(hs)) for (h, _), hs in zip(self._hosts, cp.hosts,
                                                                  strict=True)]

    def export_state(self) -> dict[str, np.ndarray]:
        """The state as flat NumPy arrays (a file can keep it; ``import_state`` reads it)."""
        out = {f"s/{k}/{n}": np.array(a) for k, d in self._state.items() for n, a in d.items()}
        for i, (_, hs) in enumerate(self._hosts):
            for n, v in hs.items():
                if isinstance(v, tuple):  # read-only arrays of one shape, stacked
                    out[f"h/{i}/{n}"] = np.stack(v) if v else np.zeros((0,), np.float32)
                else:
                    out[f"h/{i}/{n}"] = np.asarray(-1 if v is None else v)
        if self._last_ts is not None:
            out["last_ts"] = np.asarray(self._last_ts.astype("datetime64[m]").astype(np.int64))
        return out

    def import_state(self, flat: dict[str, np.ndarray]) -> None:
        """Load ``export_state``'s arrays; ``ValueError`` when they are not this engine's."""
        fresh = self._init_state()  # the tree's shape, stateless indicators included
        keys = {f"s/{k}/{n}" for k, d in fresh.items() for n in d}
        got = {k for k in flat if k.startswith("s/")}
        if keys != got:
            raise ValueError("the saved state is of other indicators")
        state: Tree = {k: {n: mx.array(flat[f"s/{k}/{n}"]) for n in d} for k, d in fresh.items()}
        hosts = []
        for i, (h, hs) in enumerate(self._hosts):
            new: dict[str, object] = {}
            for n, v in hs.items():
                arr = flat[f"h/{i}/{n}"]
                if isinstance(v, tuple):
                    if len(arr) and arr.shape[1] != len(self.symbols):
                        raise ValueError("the saved state is of other symbols")
                    new[n] = tuple(_read_only(np.array(a, np.float32)) for a in arr)
                elif isinstance(v, np.ndarray):
                    if arr.shape != v.shape:
                        raise ValueError("the saved state is of other symbols")
                    a = arr.astype(v.dtype)
                    new[n] = a if v.flags.writeable else _read_only(a)
                else:
                    x = int(arr)
                    new[n] = None if (n == "day" and x == -1) else x  # -1: no day yet
            hosts.append((h, new))
        if state["_engine"]["last"].shape[0] != len(self.symbols):
            raise ValueError("the saved state is of other symbols")
        self._state, self._before, self._hosts = state, None, hosts
        self._last_ts = (np.datetime64(int(flat["last_ts"]), "m") if "last_ts" in flat
                         else None)

    @property
    def state(self) -> Tree:
        return self._state

    @property
    def last_ts(self) -> np.datetime64 | None:
        """The last minute stepped (or warmed to); None for a fresh engine."""
        return self._last_ts

    def values_state(self) -> State:
        """Flat view of the state (for tests and debugging)."""
        return {f"{k}/{n}": a for k, d in self._state.items() for n, a in d.items()}


@dataclass(frozen=True)
class EngineCheckpoint:
    """``IncrementalEngine.checkpoint``'s value: the state tree, the NumPy histories."""

    state: Tree
    before: Tree | None
    last_ts: np.datetime64 | None
    hosts: list[dict[str, object]]


def _canonical(tree: Tree) -> Tree:
    """``tree`` with its keys in one order (sorted) at both levels.

    Why: ``mx.compile`` flattens the state's dicts in their insertion order and
    keys its cache on the flattened inputs, so a state built in another order
    than the step's own output (the warm-up's, read off the batch) traced the
    step again on the first live minute (40-70 ms, and a second compiled graph
    kept for good). The arrays are the same: the values cannot change.
    """
    return {k: {n: tree[k][n] for n in sorted(tree[k])} for k in sorted(tree)}


def _copy_host(hs: dict[str, object]) -> dict[str, object]:
    """A host state a checkpoint can keep: writable arrays copied; read-only ones
    (a history's finished days, replaced and never written) and tuples of them shared."""
    return {k: v.copy() if isinstance(v, np.ndarray) and v.flags.writeable else v
            for k, v in hs.items()}


def _day_with_bars_left(valid: np.ndarray, starts: np.ndarray, bars: int) -> int:
    """The last day from which every symbol that has bars still has ``bars`` real bars.

    Counted per day (``[S, days]``), not per minute, to keep a console's warm-up
    small in memory; a symbol with fewer bars in the whole panel needs all of it.
    """
    d = len(starts)
    if bars <= 0 or d == 0:
        return d
    per_day = np.add.reduceat(valid, starts, axis=1, dtype=np.int32)  # [S, D]
    left = np.cumsum(per_day[:, ::-1], axis=1)[:, ::-1]  # bars from day j to the end
    ok = left >= bars
    last_ok = np.where(ok.any(axis=1), d - 1 - np.argmax(ok[:, ::-1], axis=1), 0)
    last_ok = np.where(left[:, 0] > 0, last_ok, d)  # symbols without any bar: no need
    return int(last_ok.min(initial=d))


def _last_bars(c: Compact, m: mx.array) -> StepInputs:
    """Each symbol's bar ``m - 1`` of the compacted bars as a minute (``valid``: ``m > 0``).

    Only what a bar-sequence step reads is filled (prices, volume, ticks, valid).
    """
    zero = mx.zeros((1,), dtype=mx.int32)
    g = {f: warm_at(getattr(c, f), m) for f in
         ("open", "high", "low", "close", "volume", "open_t", "high_t", "low_t", "close_t")}
    return StepInputs(
        open=g["open"], high=g["high"], low=g["low"], close=g["close"], volume=g["volume"],
        valid=m > 0, segments={}, minute_of_session=zero, session_minutes=zero,
        ts_minutes=zero, open_t=g["open_t"], high_t=g["high_t"], low_t=g["low_t"],
        close_t=g["close_t"])


def _bars_tail(c: Compact, m: mx.array, w: int) -> tuple[Compact, mx.array]:
    """Each symbol's last ``w`` of its first ``m`` compacted bars, and how many
    it has (``min(m, w)``): a state read off them is the state stepping would
    reach from the first of them, which the declared history makes the batch's.
    """
    t = c.shape[1]
    if w >= t:
        return c, m
    start = mx.maximum(m - w, 0)
    idx = mx.clip(start[:, None] + mx.arange(w, dtype=mx.int32)[None, :], 0, t - 1)
    g = {f: mx.take_along_axis(getattr(c, f), idx, axis=1) for f in
         ("open", "high", "low", "close", "volume", "open_t", "high_t", "low_t", "close_t")}
    return Compact(pos=mx.zeros((c.shape[0], w), mx.int32), **g), m - start


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
