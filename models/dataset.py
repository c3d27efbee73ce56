"""The training data set: windows of scale-free features and their labels, by time.

How it is built (``build``), in batches of ``BATCH_TICKERS`` symbols so memory
stays bounded whatever the ticker list:

1. load the batch's panel from the cache (float32), with up to
   ``REGISTRY.step_sessions()`` sessions before the window when the cache has
   them (so the window's first days are past every output's warm-up), and
   compute every registry output with the engine's batch forms
   (``engine.compute``);
2. make them scale-free (``models.features.scale_free``) and write each
   symbol's ``[T, F]`` array to a ``.npy`` file in a work folder; training
   reads windows back through memory maps, so the ``[N, lookback, F]`` tensor
   never exists;
3. choose the samples: every ``interval``-th minute from ``lookback - 1`` on
   where the symbol has a bar, its whole window has a value for every feature
   (earlier rows are warm-up and masked), and ``t + horizon`` is in the same
   session (no overnight returns);
4. label each selectable output: 1 when its directional reading at ``t``
   agreed with the sign of the forward ``horizon``-minute return and that
   return exceeded the round-trip cost, else 0;
5. split by time into walk-forward folds of training, validation and test
   sessions (``models.splits``: disjoint, purged by the label horizon and the
   lookback); the scaler (per-feature mean and σ) of a fold is fitted on its
   training sessions' rows only (per-session sums are kept, so any fold's
   scaler is exact without a second pass).

A feature is only ever computed from bars at or before its minute (the
engine's batch forms are causal; ``scale_free`` looks back only), so nothing
from a sample's future reaches its inputs; only its labels look ahead.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.meta import History, Kind, OutputMeta, Scale
from engine.registry import REGISTRY, reading
from models import splits
from models.errors import ModelError
from models.features import ATR_NAME, ffill, scale_free
from storage import calendar
from storage.cache import Cache
from storage.types import Panel

BATCH_TICKERS = 50
REGULAR_MINUTES = 390
CLIP = 10.0  # standardized features are clipped to ±CLIP σ


@dataclass(frozen=True)
class Synthetic:
    """A feature planted by a test or an experiment (``build(..., synthetic=fn)``).

    ``values[S, T]`` joins the features as is; with ``reading[S, T]`` (int8 in
    {-1, 0, 1}) it is also a selectable output labelled like a registry one.
    """

    name: str
    values: np.ndarray
    reading: np.ndarray | None = None


SyntheticFn = Callable[[Panel, np.ndarray], list[Synthetic]]


@dataclass(frozen=True)
class DataSpec:
    """What to build: which symbols and sessions, and how samples are cut and labelled."""

    tickers: tuple[str, ...]
    days: int = 20
    interval: int = 15
    lookback: int = 120
    horizon: int = 15
    cost_bps: float = 5.0
    val_days: int | None = None  # validation sessions per fold (default: a tenth, ≥ 1)
    end: dt.date | None = None  # default: the newest session in the cache for these symbols
    test_days: int | None = None  # test sessions per fold (default: a tenth, ≥ 1)
    folds: int | None = None  # walk-forward folds (default: up to 3 where the days allow)

    @property
    def n_val(self) -> int:
        return self.val_days if self.val_days is not None else splits.default_block(self.days)

    @property
    def n_test(self) -> int:
        return self.test_days if self.test_days is not None else splits.default_block(self.days)

    @property
    def n_folds(self) -> int:
        if self.folds is not None:
            return self.folds
        return splits.auto_folds(self.days, self.n_val, self.n_test)

    @property
    def held_out(self) -> int:
        """Sessions no fold's model trains on (every fold's validation and test)."""
        return self.n_val + self.n_folds * self.n_test

    def plan(self) -> tuple[splits.Fold, ...]:
        return splits.plan(self.days, self.n_val, self.n_test, self.n_folds)

    def estimate(self, tickers: int | None = None) -> int:
        """``(days × 390 − lookback) ÷ interval × tickers`` (before warm-up and gaps)."""
        n = len(self.tickers) if tickers is None else tickers
        return max(0, (self.days * REGULAR_MINUTES - self.lookback) // self.interval) * n


@dataclass
class Dataset:
    """Sample index, labels and scaler over per-symbol memory-mapped feature arrays."""

    names: tuple[str, ...]
    outputs: tuple[str, ...]
    symbols: tuple[str, ...]
    sessions: np.ndarray  # datetime64[D], the window
    folds: tuple[splits.Fold, ...]
    spec: DataSpec
    sample_sym: np.ndarray  # int32 [N] index into symbols
    sample_t: np.ndarray  # int32 [N] minute index in that symbol's array
    sample_day: np.ndarray  # int32 [N] index into sessions
    regime: np.ndarray  # int8 [N]
    labels: np.ndarray  # uint8 [N, K]
    active: np.ndarray  # bool [N, K]: the output had a nonzero reading at the sample
    fwd_return: np.ndarray  # float32 [N]
    day_stats: np.ndarray  # float64 [3, D, F]: per session, sum / sum of squares / count
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64 [F], this fold's
    std: np.ndarray = field(default_factory=lambda: np.ones(0))
    fold: int = -1  # the fold the split properties and the scaler belong to (-1: the last)
    skipped: tuple[str, ...] = ()
    workdir: Path | None = None
    arrays: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fold = self.fold % len(self.folds)
        self._split = splits.slices(self.folds[self.fold], self.sample_day, self.sample_t,
                                    self.spec.lookback, self.spec.horizon)
        self.mean, self.std = _scaler(self.day_stats, self.folds[self.fold].train)

    def use_fold(self, fold: int) -> Dataset:
        """A view of the same samples and feature files with ``fold``'s slices and scaler
        (closing the view deletes nothing; the built data set owns the files)."""
        return replace(self, fold=fold, workdir=None)

    @property
    def n(self) -> int:
        return len(self.sample_t)

    @property
    def train_idx(self) -> np.ndarray:
        return self._split[0]

    @property
    def val_idx(self) -> np.ndarray:
        return self._split[1]

    @property
    def test_idx(self) -> np.ndarray:
        return self._split[2]

    @property
    def val_start(self) -> np.datetime64:
        """First validation session of this fold."""
        return self.sessions[self.folds[self.fold].val[0]]

    @property
    def test_start(self) -> np.datetime64:
        return self.sessions[self.folds[self.fold].test[0]]

    @property
    def test_end(self) -> np.datetime64:
        return self.sessions[self.folds[self.fold].test[1] - 1]

    def windows(self, idx: np.ndarray, scaled: bool = True) -> np.ndarray:
        """float32 ``[B, lookback, F]`` for samples ``idx``, gathered from the memory maps."""
        lb = self.spec.lookback
        x = np.empty((len(idx), lb, len(self.names)), dtype=np.float32)
        for i, k in enumerate(idx):
            t = int(self.sample_t[k])
            x[i] = self.arrays[int(self.sample_sym[k])][t - lb + 1: t + 1]
        if scaled:
            standardize(x, self.mean, self.std)
        return x

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows, regimes, labels) for the model, NumPy."""
        return (self.windows(idx), self.regime[idx].astype(np.int32),
                self.labels[idx].astype(np.float32))

    def close(self) -> None:
        """Drop the memory maps and delete the work folder."""
        self.arrays = []
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """In place: ``clip((x - mean) / std, ±CLIP)`` as float32."""
    x -= mean.astype(np.float32)
    x /= std.astype(np.float32)
    np.clip(x, -CLIP, CLIP, out=x)
    np.nan_to_num(x, copy=False, nan=0.0)  # "no value yet today" reads as the training mean
    return x


def window_of(cache: Cache, spec: DataSpec) -> np.ndarray:
    """The ``days`` session dates ending at ``spec.end`` or the cache's newest session."""
    if cache.bar_count() == 0:
        raise ModelError(f"the cache {cache.path} is empty (fill it with `avwap demo-data` or "
                         "`avwap sync`)")
    end = spec.end
    if end is None:
        latest = cache.latest(spec.tickers)
        if not latest:
            raise ModelError(f"the cache {cache.path} holds no bars for these symbols "
                             "(try `avwap demo-data` or `avwap sync`)")
        newest = max(latest.values())
        end = calendar.schedule().dates[calendar.session_index_of(np.array([newest]))[0]].astype(
            dt.date)
    sessions = calendar.previous_sessions(end, spec.days)
    if len(sessions) == 0:
        raise ModelError(f"no trading sessions on or before {end}")
    return sessions


def history_start(sessions: np.ndarray, cache: Cache | None = None,
                  symbols: Sequence[str] = ()) -> np.datetime64:
    """First session loaded: the window's start less the registry's warm-up sessions,
    but never before the first session the cache holds for ``symbols`` (empty
    minutes would only cost time)."""
    warm = calendar.previous_sessions(sessions[0].astype(dt.date), REGISTRY.step_sessions() + 1)
    start: np.datetime64 = warm[0] if len(warm) else sessions[0]
    if cache is not None and symbols:
        firsts = [c.first for c in cache.coverage(symbols) if c.first is not None]
        if firsts:
            first = calendar.schedule().dates[calendar.session_index_of(np.array([min(firsts)]))[0]]
            start = min(max(start, first), sessions[0])
    return start


def present_symbols(cache: Cache, spec: DataSpec,
                    sessions: np.ndarray) -> tuple[list[str], list[str]]:
    """(symbols with bars in the window, symbols without any) in the request's order."""
    start, end = sessions[0].astype(dt.date), sessions[-1].astype(dt.date)
    have = set()
    for c in cache.coverage(spec.tickers):
        if c.first is None or c.last is None:
            continue
        lo = calendar.session_index_of(np.array([c.first]))[0]
        hi = calendar.session_index_of(np.array([c.last]))[0]
        dates = calendar.schedule().dates
        if dates[hi] >= np.datetime64(start) and dates[lo] <= np.datetime64(end):
            have.add(c.symbol)
    present = [s for s in spec.tickers if s in have]
    return present, [s for s in spec.tickers if s not in have]


def feature_metas(names: Sequence[str]) -> list[OutputMeta]:
    return [REGISTRY.meta(n) for n in names]


def synthetic_meta(name: str) -> OutputMeta:
    return OutputMeta(name, Kind.RATIO, Scale.NONE, History())


def build(cache: Cache, spec: DataSpec, *, workdir: Path | None = None, store: bool = True,
          synthetic: SyntheticFn | None = None,
          transform: Callable[[Panel], Panel] | None = None,
          progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Build the data set (``store=False``: count samples only, no feature files).

    ``transform`` rewrites each loaded panel before anything is computed (the
    null test's sign-randomized copy, ``models.null``).

    Raises ``ModelError`` for an empty window or a non-finite feature that is
    not warm-up (named by symbol, minute and output).
    """
    if spec.lookback < 2 or spec.interval < 1 or spec.horizon < 1 or spec.days < 2:
        raise ModelError("lookback must be ≥ 2, interval and horizon ≥ 1, days ≥ 2")
    folds = spec.plan()
    sessions = window_of(cache, spec)
    if len(sessions) < spec.days:
        folds = splits.plan(len(sessions), spec.n_val, spec.n_test, spec.n_folds)
    present, missing = present_symbols(cache, spec, sessions)
    load_from = history_start(sessions, cache, present)
    if not present:
        raise ModelError(f"none of the {len(spec.tickers)} symbols has bars in the cache between "
                         f"{sessions[0]} and {sessions[-1]}")
    names = REGISTRY.output_names()
    metas = feature_metas(names)
    if ATR_NAME not in names:
        raise ModelError(f"the registry has no {ATR_NAME} output to scale price features by")
    own = Path(tempfile.mkdtemp(prefix="avwap-ds-", dir=workdir)) if store else None
    stats = np.zeros((3, len(sessions), 0))
    parts: list[dict[str, np.ndarray]] = []
    files: list[Path] = []
    all_names: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    try:
        for b0 in range(0, len(present), BATCH_TICKERS):
            syms = present[b0: b0 + BATCH_TICKERS]
            panel = cache.load_panel(syms, load_from.astype(dt.date),
                                     sessions[-1].astype(dt.date), dtype=np.float32)
            if transform is not None:
                panel = transform(panel)
            res = _batch(panel, names, metas, spec, sessions, synthetic)
            all_names, outputs = res.names, res.outputs
            stats = res.day_stats if stats.shape[2] == 0 else stats + res.day_stats
            res.samples["sym"] = res.samples["sym"] + b0
            parts.append(res.samples)
            if own is not None:
                for i in range(len(syms)):
                    path = own / f"{b0 + i:05d}.npy"
                    np.save(path, res.features[i])
                    files.append(path)
            del res, panel
            if progress is not None:
                progress(min(b0 + BATCH_TICKERS, len(present)), len(present))
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        day_index = np.searchsorted(sessions, cat["date"])
        return Dataset(
            names=all_names, outputs=outputs, symbols=tuple(present), sessions=sessions,
            folds=folds, spec=spec, sample_sym=cat["sym"].astype(np.int32),
            sample_t=cat["t"].astype(np.int32), sample_day=day_index.astype(np.int32),
            regime=cat["regime"].astype(np.int8), labels=cat["labels"].astype(np.uint8),
            active=cat["active"].astype(bool), fwd_return=cat["ret"].astype(np.float32),
            day_stats=stats, skipped=tuple(missing), workdir=own,
            arrays=[np.load(f, mmap_mode="r") for f in files],
        )
    except BaseException:
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)
        raise


def _scaler(stats: np.ndarray, days: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and σ over the rows of sessions ``[lo, hi)`` (the training days)."""
    s, q, n = (stats[i, days[0]: days[1]].sum(axis=0) for i in range(3))
    if not n.any():
        raise ModelError("no training rows past the warm-up: use more days")
    mean = s / np.maximum(n, 1)
    var = np.maximum(q / np.maximum(n, 1) - mean * mean, 0.0)
    std = np.sqrt(var)
    return mean, np.where(std > 1e-6 * np.maximum(1.0, np.abs(mean)), std, 1.0)


@dataclass
class _BatchResult:
    names: tuple[str, ...]
    outputs: tuple[str, ...]
    features: np.ndarray  # float32 [S, T, F]
    samples: dict[str, np.ndarray]
    day_stats: np.ndarray  # [3, D, F]


def _batch(panel: Panel, names: list[str], metas: list[OutputMeta], spec: DataSpec,
           sessions: np.ndarray, synthetic: SyntheticFn | None) -> _BatchResult:
    import mlx.core as mx

    from engine.compute import compute

    out = compute(panel, names)
    raw = np.array(out.values)  # [S, T, F] float32
    del out
    mx.clear_cache()  # MLX keeps freed buffers for reuse; give them back between batches
    close = ffill(panel.close.astype(np.float64))
    _check_finite(raw, panel, names, "registry output")
    feats = scale_free(raw, close, names, metas, spec.lookback)
    all_names = list(names)
    outputs = REGISTRY.selectable()
    readings = {n: reading(n, raw[:, :, names.index(n)], close) for n in outputs}
    if synthetic is not None:
        extra = synthetic(panel, close)
        feats = np.concatenate([feats, np.stack([e.values for e in extra], axis=2)
                                .astype(np.float32)], axis=2)
        all_names += [e.name for e in extra]
        for e in extra:
            if e.reading is not None:
                outputs = [*outputs, e.name]
                readings[e.name] = e.reading.astype(np.int8)
    _check_finite(feats, panel, all_names, "feature", allow_nan=True)
    session_date = _session_dates(panel.segments["day"])
    warm = _warm_start(feats)
    _check_session_gaps(feats, warm, panel, all_names)
    ready = np.arange(feats.shape[1])[None, :] >= warm[:, None]  # [S, T]
    first = sessions[0]
    stats = np.zeros((3, len(sessions), feats.shape[2]))
    for d, date in enumerate(sessions):
        minutes = np.flatnonzero(session_date == date)
        for i in range(feats.shape[0]):
            rows = feats[i, minutes[ready[i, minutes]]].astype(np.float64)
            fin = np.isfinite(rows)
            rows[~fin] = 0.0
            stats[0, d] += rows.sum(axis=0)
            stats[1, d] += (rows * rows).sum(axis=0)
            stats[2, d] += fin.sum(axis=0)
    samples = _samples(panel, ready, close, readings, outputs, spec, raw, names, session_date,
                       first)
    return _BatchResult(tuple(all_names), tuple(outputs), feats, samples, stats)


def _warm_start(feats: np.ndarray) -> np.ndarray:
    """Per symbol, the first minute by which every feature has had a value (T if never)."""
    s, t, f = feats.shape
    seen = np.zeros((s, f), dtype=np.int64)
    for j in range(f):
        fin = np.isfinite(feats[:, :, j])
        seen[:, j] = np.where(fin.any(axis=1), fin.argmax(axis=1), t)
    return seen.max(axis=1) if f else np.zeros(s, dtype=np.int64)


def _check_session_gaps(feats: np.ndarray, warm: np.ndarray, panel: Panel,
                        names: Sequence[str]) -> None:
    """After a symbol's warm-up, NaN may only open a session (an opening range not yet
    formed); a feature that had a value this session and lost it is a fault: stop."""
    t = feats.shape[1]
    day = panel.segments["day"]
    start = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    sess_start = start[np.searchsorted(start, np.arange(t), side="right") - 1]
    after = np.arange(t)[None, :] >= warm[:, None]
    for j in range(feats.shape[2]):
        fin = np.isfinite(feats[:, :, j])
        last = np.maximum.accumulate(np.where(fin, np.arange(t)[None, :], -1), axis=1)
        bad = ~fin & after & (last >= sess_start[None, :])
        if bad.any():
            si, ti = (int(v[0]) for v in np.nonzero(bad))
            raise ModelError(f"feature {names[j]} is NaN for {panel.symbols[si]} at "
                             f"{panel.ts[ti]} UTC after it had a value that session; "
                             "fix or drop those bars before training")


def _session_dates(day: np.ndarray) -> np.ndarray:
    """Session date (datetime64[D]) of each minute from the calendar's day ordinal."""
    return (day - dt.date(1970, 1, 1).toordinal()).astype("datetime64[D]")


def _samples(panel: Panel, ready: np.ndarray, close: np.ndarray, readings: dict[str, np.ndarray],
             outputs: Sequence[str], spec: DataSpec, raw: np.ndarray, names: list[str],
             session_date: np.ndarray, first: np.datetime64) -> dict[str, np.ndarray]:
    s, t = ready.shape
    lb, h = spec.lookback, spec.horizon
    # a window is usable when every row of it is ready: count not-ready rows in it
    bad = np.concatenate([np.zeros((s, 1), np.int64), np.cumsum(~ready, axis=1)], axis=1)
    cand = np.arange(lb - 1, t, spec.interval)
    cand = cand[(cand + h < t) & (session_date[cand] >= first)]
    day = panel.segments["day"]
    same = day[cand + h] == day[cand]
    cand = cand[same]
    win_ok = (bad[:, cand + 1] - bad[:, cand + 1 - lb]) == 0
    ok = win_ok & panel.valid[:, cand]
    si, ci = np.nonzero(ok)
    tt = cand[ci]
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close[si, tt + h] / close[si, tt] - 1.0
    keep = np.isfinite(ret)
    si, tt, ret = si[keep], tt[keep], ret[keep]
    sign = np.sign(ret).astype(np.int8)
    big = np.abs(ret) > spec.cost_bps * 1e-4
    active = np.stack([readings[n][si, tt] != 0 for n in outputs], axis=1)
    labels = np.stack([(readings[n][si, tt] == sign) for n in outputs], axis=1) & active & \
        big[:, None]
    reg = raw[si, tt, names.index("regime")] if "regime" in names else np.full(len(si), np.nan)
    regime = np.where(np.isfinite(reg), reg, -1).astype(np.int8)
    return {"sym": si.astype(np.int32), "t": tt.astype(np.int32), "labels": labels,
            "active": active, "regime": regime, "ret": ret.astype(np.float32),
            "date": session_date[tt]}


def _check_finite(a: np.ndarray, panel: Panel, names: Sequence[str], what: str,
                  allow_nan: bool = True) -> None:
    """Stop on ±inf (NaN is "no value yet" and is masked): name symbol, minute, output."""
    bad = np.isinf(a)
    if not allow_nan:
        bad |= np.isnan(a)
    if bad.any():
        s, t, f = (int(v[0]) for v in np.nonzero(bad))
        raise ModelError(f"non-finite {what} {names[f]} = {a[s, t, f]} for {panel.symbols[s]} "
                         f"at {panel.ts[t]} UTC; fix or drop those bars before training")
