"""``MLXBacktester(source).run_vectorized_backtest(...)``: every symbol and combination.

The steps, each vectorized over symbols (and grid rows): load the panel with
the history its anchors and indicators need before the start (``history``),
compute only the registry outputs the strategy reads (float32, MLX), hide an
anchor's values until ``engine.bands``' validity rule holds, decide the signals
at each close, move them to their fill bars, simulate every row's fills
(``sim``, MLX float64 on the CPU), then value and score each row and each
combination's portfolio (``stats``, NumPy float64). Nothing is written here:
the caller saves the returned ``BacktestResult`` (``storage.results.save_run``
with ``persist.to_tables``), so an interrupted run leaves nothing behind. The
bars come from a ``source.PanelSource`` (the cache, or a panel in memory).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine import bands
from engine.backtest import distributed, history, strategies
from engine.backtest.bars import Bars
from engine.backtest.errors import BacktestError
from engine.backtest.grid import Grid, build, estimate_bytes, trade_bytes
from engine.backtest.notes import run_notes
from engine.backtest.orders import fill_orders
from engine.backtest.result import BacktestResult, Settings, period_stats, symbol_stats
from engine.backtest.sim import Orders, RowParams, Trades, simulate
from engine.backtest.source import PanelOf, PanelSource
from engine.backtest.stats import NAMES
from storage.types import Panel

Progress = Callable[[str, float], None]

#: Refuse a run whose estimated peak memory exceeds this (bytes); see ``estimate_bytes``.
DEFAULT_MEMORY_LIMIT = 6 * 1024**3


class MLXBacktester:
    """Backtests over a ``PanelSource`` (the DuckDB cache, or a given Panel) — the API
    the CLI calls. ``code_version`` is saved with each run; the caller knows it
    (the engine runs no git)."""

    def __init__(self, source: PanelSource | None = None, *,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT, code_version: str = "unknown") -> None:
        self.source = source
        self.memory_limit = memory_limit
        self.code_version = code_version

    def run_vectorized_backtest(
        self,
        symbols: Sequence[str],
        start_date: dt.date | str,
        end_date: dt.date | str,
        strategy: str = "avwap-reversion",
        params: Mapping[str, Any] | None = None,
        settings: Settings | None = None,
        *,
        split: dt.date | str | None = None,
        rank_by: str = "sharpe",
        panel: Panel | None = None,
        progress: Progress | None = None,
        group: distributed.Group | None = None,
    ) -> BacktestResult:
        """Run ``strategy`` over ``symbols`` from ``start_date`` to ``end_date`` (inclusive).

        ``params`` maps a parameter to a value or a list (a grid). ``split`` starts
        the out-of-sample period; the best combination is chosen in-sample by
        ``rank_by`` and reported with its neighbours. ``panel`` skips the cache.
        ``group`` (an ``mx.distributed`` group of N > 1 processes, ``mlx.launch``)
        splits the symbols over the processes; every one returns the whole run.
        """
        report = progress or (lambda stage, frac: None)
        settings = settings or Settings()
        settings.check()
        strat = strategies.get(strategy)
        grid = build(strat, dict(params or {}))
        if rank_by not in NAMES:
            raise BacktestError(
                f"unknown statistic {rank_by!r} to rank by (known: {', '.join(NAMES)})")
        start, end = _date(start_date), _date(end_date)
        if end < start:
            raise BacktestError(f"the end date {end} is before the start date {start}")
        split_d = _date(split) if split is not None else None
        if split_d is not None and not start < split_d <= end:
            raise BacktestError(f"the split date {split_d} must be after {start} and at most {end}")
        outputs = sorted({n for v in grid.variants for n in strat.outputs(v)})
        _check_outputs(outputs)
        syms = list(dict.fromkeys(s.upper() for s in symbols))
        if not syms:
            raise BacktestError("no symbols given")
        hist = history.history_start(outputs, start)
        minutes, warm = _minutes_between(start, end), _minutes_between(hist, start) - 390
        need = estimate_bytes(len(grid.variants), len(grid.combos), len(syms), minutes,
                              len(outputs), history_minutes=max(warm, 0))
        if need > self.memory_limit:
            more = (f" (+{warm:,} minutes of history the anchors need before {start})"
                    if warm > 0 else "")
            raise BacktestError(
                f"the grid is too large: {len(grid.combos)} combinations x {len(syms)} symbols x "
                f"{minutes:,} minutes{more} needs about {need / 1e9:.1f} GB "
                f"(limit {self.memory_limit / 1e9:.1f} GB); sweep fewer values or symbols")
        report("loading bars", 0.0)
        source = PanelOf(panel) if panel is not None else self.source
        if source is None:
            raise BacktestError("no cache and no panel given")
        dist = group if group is not None and group.size() > 1 else None
        mine = distributed.shard(syms, dist.rank(), dist.size()) if dist is not None else syms
        full = source.load_panel(mine, hist, end)
        first = history.first_minute(full, start)
        has = np.asarray(full.valid[:, first:].any(axis=1), dtype=bool).tolist()
        local_skip = tuple(s for s, ok in zip(full.symbols, has, strict=True) if not ok)
        local_skip += tuple(s for s in mine if s not in full.symbols)
        if local_skip:
            full = full.select([s for s, ok in zip(full.symbols, has, strict=True) if ok])
        if dist is not None:
            names = [s for r in range(dist.size()) for s in distributed.shard(syms, r, dist.size())]
            kept = set(full.symbols)
            flags = distributed.gather_rows(dist, np.array([s in kept for s in mine], dtype=bool))
            skipped = tuple(s for s, ok in zip(names, flags.tolist(), strict=True) if not ok)
            any_bars = bool(flags.any())
        else:
            skipped, any_bars = local_skip, any(has)
        if not any_bars:
            raise BacktestError(
                f"no bars between {start} and {end} for {', '.join(syms[:5])}"
                f"{' …' if len(syms) > 5 else ''}")
        return self._run(full, first, strat, grid, settings, start, end, split_d, rank_by,
                         outputs, skipped, report, dist)

    def _run(self, full: Panel, first: int, strat: strategies.Strategy, grid: Grid,
             settings: Settings, start: dt.date, end: dt.date, split: dt.date | None,
             rank_by: str, outputs: list[str], skipped: tuple[str, ...],
             report: Progress, dist: distributed.Group | None = None) -> BacktestResult:
        report("indicators", 0.1)
        kinds = sorted({k for k in (bands.anchor_of(n) for n in outputs) if k is not None})
        partial = history.partial_anchors(full, first, kinds, start)
        s = full.shape[0]
        c = len(grid.combos)
        panel = full.slice_time(first, len(full.ts))
        trades = self._simulate(full, first, strat, grid, settings, report) if s else None
        del full
        if dist is not None:
            trades, panel, partial = self._gather(dist, trades, panel, partial, kinds, c)
        assert trades is not None
        s = panel.shape[0]
        row_params = _row_params(grid, settings, s)
        report("statistics", 0.8)
        split_idx = None
        if split is not None:
            split_idx = int(np.searchsorted(panel.ts, np.datetime64(split, "m")))
        result = period_stats(panel, trades, row_params.init_cash, c, split_idx,
                              progress=lambda f: report("statistics", 0.8 + 0.19 * f))
        ranked = result.in_sample if result.in_sample is not None else result.portfolio
        col = NAMES.index(rank_by)
        score = np.nan_to_num(ranked[:, col], nan=-np.inf)
        if rank_by in ("max_drawdown", "max_drawdown_minutes"):
            score = -np.nan_to_num(ranked[:, col], nan=np.inf)
        best = int(np.argmax(score))
        neighbours = grid.neighbours(best)
        result.symbols[best], result.symbol_equity[best] = symbol_stats(
            panel, trades, row_params.init_cash, best, result.equity_ts_idx)
        notes = run_notes(panel, settings, partial, len(trades), start)
        report("done", 1.0)
        return BacktestResult(
            strategy=strat.name, grid={n: list(v) for n, v in zip(grid.names, grid.values,
                                                                   strict=True)},
            combos=[dict(cb) for cb in grid.combos], symbols=panel.symbols, skipped=skipped,
            start=start, end=end, split=split, settings=settings,
            code_version=self.code_version, rank_by=rank_by, best=best, neighbours=neighbours,
            trades=trades, ts=panel.ts, stats=result, partial=tuple(sorted(partial)),
            notes=tuple(notes),
        )

    def _simulate(self, full: Panel, first: int, strat: strategies.Strategy, grid: Grid,
                  settings: Settings, report: Progress) -> Trades:
        """Signals, orders and fills of every row (combination x symbol) of ``full``'s
        symbols, traded from minute ``first``."""
        sig = decide(full, first, strat, grid, report)
        panel = full.slice_time(first, len(full.ts))
        orders = fill_orders(
            sig[0], sig[1], sig[2], sig[3], panel.valid, panel.segments["session"],
            panel.minute_of_session, panel.session_minutes, hold_overnight=settings.hold_overnight,
            no_entry_minutes=settings.no_entry_minutes,
        )
        del sig
        self._check_trades(orders, grid, panel.shape[0])
        s, c = panel.shape[0], len(grid.combos)
        report("simulating", 0.4)
        return simulate(
            panel.open, panel.high, panel.low, panel.close, orders, _row_params(grid, settings, s),
            np.tile(np.arange(s), c), np.repeat(np.array(grid.variant_of), s),
            progress=lambda done, total: report("simulating", 0.4 + 0.4 * done / total),
        )

    def _gather(self, dist: distributed.Group, trades: Trades | None, panel: Panel,
                partial: dict[str, list[str]], kinds: list[str],
                combos: int) -> tuple[Trades, Panel, dict[str, list[str]]]:
        """Every rank's block joined: trades with global rows, the statistics' panel,
        the partial anchors (see ``distributed``)."""
        s_local = panel.shape[0]
        counts = distributed.gather_rows(dist, np.array([s_local], dtype=np.int64))
        offset, s_all = int(counts[:dist.rank()].sum()), int(counts.sum())
        local = trades if trades is not None else Trades(
            **{f: np.zeros(0) for f in Trades.__dataclass_fields__})
        every = distributed.gather_trades(dist, local, s_local, offset, s_all, combos)
        names = distributed.gather_rows(
            dist, np.array([s.encode() for s in panel.symbols], dtype="S32"))
        symbols = tuple(n.decode() for n in names.tolist())
        flags = np.array([[sym in partial.get(k, ()) for k in kinds] for sym in panel.symbols],
                         dtype=bool).reshape(s_local, len(kinds))
        flags = distributed.gather_rows(dist, flags)
        joined = {k: [sym for sym, f in zip(symbols, flags[:, i].tolist(), strict=True) if f]
                  for i, k in enumerate(kinds)}
        return every, distributed.gather_panel(dist, panel, symbols), \
            {k: v for k, v in joined.items() if v}

    def _check_trades(self, orders: Orders, grid: Grid, s: int) -> None:
        """Refuse a grid whose trade records could outgrow the limit: a row makes at most
        one trade per entry order of its signal variant, and every trade is kept."""
        per_variant = (orders.entry_long.sum(axis=(1, 2)) + orders.entry_short.sum(axis=(1, 2)))
        bound = int(per_variant[np.array(grid.variant_of)].sum())
        need = trade_bytes(bound)
        if need > self.memory_limit:
            raise BacktestError(
                f"the grid is too large: its {len(grid.combos)} combinations x {s} symbols "
                f"could make {bound:,} trades, about {need / 1e9:.1f} GB of records "
                f"(limit {self.memory_limit / 1e9:.1f} GB); sweep fewer values or symbols")


def decide(full: Panel, first: int, strat: strategies.Strategy, grid: Grid,
           report: Progress | None = None) -> list[np.ndarray]:
    """The four ``[V, S, T - first]`` close-signal arrays of every variant.

    Outputs are computed over the whole panel (the history before ``first``
    included) in one call for the whole grid (the calendar anchors share one
    kernel: computing them per variant repeated it; ``estimate_bytes`` counts
    every output), an anchor's values hidden where ``engine.bands``' rule
    fails, then the signals are kept from ``first`` on.
    """
    s, t = full.shape
    outs = sorted({n for p in grid.variants for n in strat.outputs(p)})
    sig = [np.zeros((len(grid.variants), s, t - first), bool) for _ in range(4)]
    prices = _features(full, [])
    values = prices | _outputs(full, [o for o in outs if o not in prices] + _band_widths(outs))
    values = bands.mask(values, full.valid, full.volume, full.segments)
    ctx = Bars.of(full.valid, full.minute_of_session)
    for v, p in enumerate(grid.variants):
        if report is not None:
            report("signals", 0.1 + 0.2 * (v + 1) / len(grid.variants))
        for k, a in enumerate(strat.signals(values, p, ctx)):
            np.logical_and(a[:, first:], full.valid[:, first:], out=sig[k][v])
    return sig


def _band_widths(outputs: Sequence[str]) -> list[str]:
    """The level and +1σ band of every calendar anchor read (the width ``engine.bands``
    tests), when the strategy does not read them itself."""
    kinds = {k for k in (bands.anchor_of(n) for n in outputs) if k is not None}
    extra = [n for k in sorted(kinds) for n in (f"avwap_{k}", f"avwap_{k}_up1")]
    return [n for n in extra if n not in outputs]


def _features(panel: Panel, outputs: list[str]) -> dict[str, np.ndarray]:
    """Prices (float32, as the indicators see them) and the named registry outputs."""
    values: dict[str, np.ndarray] = {
        f: getattr(panel, f).astype(np.float32) for f in ("open", "high", "low", "close", "volume")
    }
    return values | _outputs(panel, [o for o in outputs if o not in values])


def _outputs(panel: Panel, names: list[str]) -> dict[str, np.ndarray]:
    """Registry outputs as float32 NumPy ``[S, T]`` (prices are not registry outputs)."""
    import mlx.core as mx

    from engine.compute import compute_outputs
    from engine.inputs import batch_inputs

    if not names:
        return {}
    cols = compute_outputs(batch_inputs(panel), names)
    mx.eval(list(cols.values()))
    return {k: np.array(v) for k, v in cols.items()}


def _check_outputs(outputs: list[str]) -> None:
    from engine.backtest.expr import PRICE_NAMES, check_names
    from engine.registry import output_names

    known = [*PRICE_NAMES, *output_names()]
    check_names(("and", *(("name", n, 0) for n in outputs)), known)


def _row_params(grid: Grid, st: Settings, s: int) -> RowParams:
    def col(name: str, scale: float = 1.0, off: float = 0.0) -> np.ndarray:
        vals = np.array([float(cb[name]) for cb in grid.combos])
        return np.repeat(np.where(vals > 0, vals * scale, off), s)

    r = len(grid.combos) * s
    full = lambda x: np.full(r, x, dtype=np.float64)  # noqa: E731
    return RowParams(
        stop_loss=col("stop_pct", 0.01, np.nan), trailing=col("trail_pct", 0.01, np.nan),
        take_profit=col("target_pct", 0.01, np.nan),
        time_stop=np.repeat(np.array([int(cb["time_stop"]) for cb in grid.combos]), s),
        size_value=full(st.size_value if st.size_fraction is None else np.nan),
        size_fraction=full(st.size_fraction if st.size_fraction is not None else np.nan),
        init_cash=full(st.init_cash), fee_rate=full(st.fee_bps / 1e4),
        commission_per_share=full(st.commission_per_share), commission_min=full(st.commission_min),
        slippage=full(st.slippage_bps / 1e4),
    )


def _date(x: dt.date | str) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    try:
        return dt.date.fromisoformat(str(x))
    except ValueError as e:
        raise BacktestError(f"not a date (YYYY-MM-DD): {x!r}") from e


def _minutes_between(start: dt.date, end: dt.date) -> int:
    days = int(np.busday_count(start, end + dt.timedelta(days=1)))
    return max(days, 1) * 390


def physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        return DEFAULT_MEMORY_LIMIT
