"""Benchmark: the indicator-selection model (issue 10) against the same network in PyTorch.

Prints one JSON object (last line). Peer: the same architecture (patch-mean
and last-minute tokens, 2 pre-norm encoder layers, dims 32, 4 heads, MLP 64,
head on [last, mean]) in PyTorch on the CPU, same batch, same run.

- ``infer_batch100_ms``: p50 of the compiled MLX forward on 100 windows
  ``[100, 120, F]``; ``infer_ratio_to_torch`` = MLX / torch (≤ 1 is the goal).
- ``train_step_ms``: p50 of the compiled MLX step (value_and_grad + AdamW) on
  the default batch of 256; ``train_ratio_to_torch`` likewise.
- ``blas_gemm_*``: one [6144 x 750] @ [750 x 64] float32 matmul in MLX and
  NumPy, to show what the ``mlx[cpu]`` wheel's BLAS costs on this machine.
- ``dataset_build_s``: ``build`` on the curated list, 20 demo sessions.
- ``default_train_*``: ``avwap train`` defaults (curated, 20 days, interval 15);
  the 5-minute budget of a benchmark cannot hold 10 epochs on a shared CPU, so
  ``MEASURED_EPOCHS`` epochs are timed and 10 extrapolated (build + 10 × epoch
  + evaluation), named ``default_train_s_extrapolated``.
- ``live_select_p99_ms``: one minute for 650 symbols (``LiveSelector.update``
  of a Snapshot, then ``select`` for all 650: one model call on the patch sums);
  ``live_select_one_p99_ms``: the update plus the highlighted symbol's pick
  (what the console asks); ``live_window_peer_*``: the update plus the model on
  all 650 whole windows (the path before the patch sums), the same run.
- ``peak_rss_mb``: peak RSS of a child process building ``all`` (650 symbols)
  × 30 demo sessions (features memory-mapped, batches of 50).

- ``blas``: which BLAS MLX multiplied with (``engine.blas``); with ``--reference``
  the speed part runs again in a child process on MLX's bundled reference BLAS
  (``AVWAP_BLAS=reference``) and its keys come back prefixed ``reference_``: the
  before and after of the optimized BLAS in one run.

Run: ``.venv/bin/python bench/model.py [--parts speed,live,train,rss] [--reference]``
(needs the bench extra: torch; ``--help`` lists the parts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself: bench/storage.py would shadow storage/

from engine import blas  # noqa: E402  (MLX's optimized BLAS: before mlx loads)

# isort: split
import mlx.core as mx  # noqa: E402

from models.model import ModelArgs, SelectorModel, make_optimizer, make_train_step  # noqa: E402
from storage.events import Event  # noqa: E402

MEASURED_EPOCHS = 2
L, BATCH = 120, 256


def p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1e3, 3)


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def torch_model(f: int, k: int, args: ModelArgs):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Peer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(f, args.dims)
            self.pos = nn.Parameter(torch.randn(args.tokens + 1, args.dims) * 0.02)
            self.regime = nn.Embedding(5, args.dims)
            layer = nn.TransformerEncoderLayer(args.dims, args.heads, args.mlp_dims, dropout=0.0,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, args.layers, enable_nested_tensor=False)
            self.ln = nn.LayerNorm(args.dims)
            self.head = nn.Linear(2 * args.dims, k)

        def forward(self, x: torch.Tensor, regime: torch.Tensor) -> torch.Tensor:
            b = x.shape[0]
            n = args.tokens * args.patch
            body = x[:, x.shape[1] - n:].reshape(b, args.tokens, args.patch, f).mean(dim=2)
            seq = torch.cat([body, x[:, -1:]], dim=1)
            h = self.embed(seq) + self.pos[None] + self.regime(regime + 1)[:, None]
            h = self.ln(self.encoder(h))
            return self.head(torch.cat([h[:, -1], h.mean(dim=1)], dim=-1))

    return Peer()


def model_speed(f: int, k: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(2)
    args = ModelArgs(n_features=f, n_outputs=k, lookback=L)
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    # inference, batch 100
    x100 = rng.normal(size=(100, L, f)).astype(np.float32)
    r100 = rng.integers(-1, 4, 100).astype(np.int32)
    model = SelectorModel(args)
    mx.eval(model.parameters())
    model.eval()  # inference, as models.selector runs it
    fwd = mx.compile(lambda x, r: mx.sigmoid(model(x, r)))
    xm, rm = mx.array(x100), mx.array(r100)
    out["infer_batch100_ms"] = p(timed(lambda: mx.eval(fwd(xm, rm)), 30), 50)
    peer = torch_model(f, k, args).eval()
    xt, rt = torch.from_numpy(x100), torch.from_numpy(r100.astype(np.int64))
    with torch.inference_mode():
        out["torch_infer_batch100_ms"] = p(timed(lambda: torch.sigmoid(peer(xt, rt)), 30), 50)
    out["infer_ratio_to_torch"] = round(out["infer_batch100_ms"] / out["torch_infer_batch100_ms"],
                                        3)
    # one training step, batch 256
    xb = rng.normal(size=(BATCH, L, f)).astype(np.float32)
    rb = rng.integers(-1, 4, BATCH).astype(np.int32)
    yb = (rng.random((BATCH, k)) > 0.8).astype(np.float32)
    model.train()
    opt = make_optimizer(1e-3)
    step = make_train_step(model, opt)
    state = [model.state, opt.state]
    xbm, rbm, ybm = mx.array(xb), mx.array(rb), mx.array(yb)
    out["train_step_ms"] = p(timed(lambda: mx.eval(step(xbm, rbm, ybm), state), 15), 50)
    peer.train()
    topt = torch.optim.AdamW(peer.parameters(), lr=1e-3, weight_decay=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss()
    xbt, rbt = torch.from_numpy(xb), torch.from_numpy(rb.astype(np.int64))
    ybt = torch.from_numpy(yb)

    def tstep() -> None:
        topt.zero_grad()
        loss = lossf(peer(xbt, rbt), ybt)
        loss.backward()
        topt.step()

    out["torch_train_step_ms"] = p(timed(tstep, 15), 50)
    out["train_ratio_to_torch"] = round(out["train_step_ms"] / out["torch_train_step_ms"], 3)
    a = rng.normal(size=(6144, 750)).astype(np.float32)
    b = rng.normal(size=(750, 64)).astype(np.float32)
    am, bm = mx.array(a), mx.array(b)
    out["blas_gemm_mlx_ms"] = p(timed(lambda: mx.eval(am @ bm), 10), 50)
    out["blas_gemm_numpy_ms"] = p(timed(lambda: a @ b, 10), 50)
    return out


def train_and_build(db: Path, work: Path) -> dict[str, float | int | str]:
    from models.dataset import DataSpec, build
    from models.train import TrainConfig, train
    from storage.cache import Cache
    from storage.tickers import load_list

    spec = DataSpec(tickers=load_list("curated").symbols, days=20)
    out: dict[str, float | int | str] = {}
    with Cache(db, read_only=True) as cache:
        t0 = time.perf_counter()
        ds = build(cache, spec, workdir=work)
        out["dataset_build_s"] = round(time.perf_counter() - t0, 2)
    with ds:
        times: dict[str, float] = {}
        last = [time.perf_counter()]

        def emit(ev: Event) -> None:
            now, e = time.perf_counter(), ev.to_dict()
            if e["event"] in ("epoch", "eval"):
                times[f"{e['event']}{e.get('epoch', '')}"] = now - last[0]
                last[0] = now

        cfg = TrainConfig(name="bench", epochs=MEASURED_EPOCHS)
        t0 = time.perf_counter()
        train(ds, cfg, work / "models", emit)
        total = time.perf_counter() - t0
        epochs = [v for k_, v in times.items() if k_.startswith("epoch")]
        per_epoch = float(np.median(epochs))
        evaluation = times.get("eval", 0.0)
        out["train_samples"] = len(ds.train_idx)
        out["train_epoch_s"] = round(per_epoch, 2)
        out["default_train_measured_s"] = round(total, 2)
        out["default_train_measured_epochs"] = MEASURED_EPOCHS
        out["default_train_s_extrapolated"] = round(
            float(out["dataset_build_s"]) + 10 * per_epoch + evaluation, 1)
    return out


def live_speed(f_names: list[str], outputs: list[str], work: Path) -> dict[str, float]:
    from engine.snapshot import Snapshot
    from models import checkpoint as ck
    from models.live import LiveSelector
    from models.selector import Selector
    from models.train import prior_of

    args = ModelArgs(n_features=len(f_names), n_outputs=len(outputs), lookback=L,
                     prior=prior_of(tuple(outputs)))
    model = SelectorModel(args)
    mx.eval(model.parameters())
    ck.save(work / "live", "ckpt-0000000", ("best",), weights=ck.flat(model.parameters()),
            optimizer={}, config={"name": "live", "model": args.to_dict(),
                                  "features": f_names, "outputs": outputs, "lookback": L,
                                  "top_k": 10},
            mean=np.zeros(len(f_names)), std=np.ones(len(f_names)), metrics=[], progress={})
    sel = Selector.load(work / "live")
    symbols = tuple(f"S{i:03d}" for i in range(650))
    live = LiveSelector(sel, symbols, f_names)
    rng = np.random.default_rng(0)
    ts0 = np.datetime64("2025-11-21T14:30", "m")

    def snap(i: int) -> Snapshot:
        close = 100 + rng.normal(size=650).astype(np.float32)
        vals = (close[:, None] + rng.normal(size=(650, len(f_names)))).astype(np.float32)
        return Snapshot(ts=ts0 + i, symbols=symbols, names=tuple(f_names), values=vals,
                        last=close, volume=np.ones(650, np.float32),
                        valid=np.ones(650, bool), regime=np.zeros(650, np.int8))

    snaps = [snap(i) for i in range(L + 90)]
    for s in snaps[:L]:
        live.update(s)
    every, one, window = [], [], []
    for i, s in enumerate(snaps[L:]):
        t0 = time.perf_counter()
        live.update(s)
        if i % 3 == 1:
            live.select(["S007"])
            one.append(time.perf_counter() - t0)
        elif i % 3 == 2:  # the peer: the model on whole windows (the path before the sums)
            sel.select_indicators(live.window(), live._regime)
            window.append(time.perf_counter() - t0)
        else:
            live.select()
            every.append(time.perf_counter() - t0)
    return {"live_select_p99_ms": p(every[1:], 99), "live_select_p50_ms": p(every[1:], 50),
            "live_select_one_p99_ms": p(one[1:], 99), "live_select_one_p50_ms": p(one[1:], 50),
            "live_window_peer_p99_ms": p(window[1:], 99),
            "live_window_peer_p50_ms": p(window[1:], 50)}


RSS_CHILD = """
import resource, sys, time
from pathlib import Path
from models.dataset import DataSpec, build
from storage.cache import Cache
from storage.tickers import load_list
t0 = time.perf_counter()
budget = float(sys.argv[3])
done = [0, 0]
class Budget(Exception):
    pass
def progress(d, total):
    done[:] = [d, total]
    if time.perf_counter() - t0 > budget and d < total:
        raise Budget()
n = -1
try:
    with Cache(sys.argv[1], read_only=True) as c:
        ds = build(c, DataSpec(tickers=load_list("all").symbols, days=30),
                   workdir=Path(sys.argv[2]), progress=progress)
        n = ds.n
        ds.close()
except Budget:
    pass
print(n, round(time.perf_counter() - t0, 1), done[0], done[1],
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
RSS_BUDGET_S = 60.0


def note(res: dict[str, object]) -> None:
    """Partial results on stderr, so a slow machine still shows what was measured."""
    print(json.dumps(res), file=sys.stderr, flush=True)


PARTS = ("speed", "live", "train", "rss")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="The selector model's speed against PyTorch; one JSON object last.")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="comma-separated parts to run: speed (inference, training step, "
                         "GEMM), live (650-symbol live selection), train (data set and "
                         "default training), rss (memory of an `all` build); default: all")
    ap.add_argument("--reference", action="store_true",
                    help="also run the speed part on MLX's bundled reference BLAS in a child "
                         "process (keys prefixed reference_)")
    args = ap.parse_args(argv)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    bad = [x for x in args.parts if x not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    return args


def reference_speed() -> dict[str, object]:
    """The speed part in a child on the reference BLAS (``AVWAP_BLAS=reference``)."""
    env = {**os.environ, blas.ENV: "reference"}
    child = subprocess.run([sys.executable, __file__, "--parts", "speed"], env=env,
                           capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    if child.returncode != 0:
        return {"reference_error": child.stderr.strip().splitlines()[-1:]}
    got = json.loads(child.stdout.strip().splitlines()[-1])
    keep = ("infer_batch100_ms", "train_step_ms", "blas_gemm_mlx_ms", "blas")
    return {f"reference_{k}": got[k] for k in keep if k in got}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from engine.registry import REGISTRY
    from storage import demo
    from storage.cache import Cache
    from storage.tickers import load_list

    names, outputs = REGISTRY.output_names(), REGISTRY.selectable()
    res: dict[str, object] = {"features": len(names), "outputs": len(outputs),
                              "blas": blas.ensure().describe(),
                              "load_avg_1m_start": round(os.getloadavg()[0], 1),
                              "cpus": os.cpu_count()}
    if "speed" in args.parts:
        res.update(model_speed(len(names), len(outputs)))
        note(res)
    if args.reference:
        res.update(reference_speed())
        note(res)
    if not {"live", "train", "rss"} & set(args.parts):
        finish(res)
        return
    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        work = Path(tmp)
        if "live" in args.parts:
            res.update(live_speed(names, outputs, work))
            note(res)
        if "train" in args.parts:
            db = work / "curated.duckdb"
            with Cache(db) as cache:
                demo.seed_cache(cache, load_list("curated").symbols, 20, end=demo.DEFAULT_END)
            res.update(train_and_build(db, work))
            note(res)
        if "rss" in args.parts:
            res.update(rss_of_build(work))
    finish(res)


def rss_of_build(work: Path) -> dict[str, object]:
    """Peak RSS of a child building ``all`` × 30 demo sessions (within a time budget)."""
    from storage import demo
    from storage.cache import Cache
    from storage.tickers import load_list

    res: dict[str, object] = {}
    big = work / "all.duckdb"
    t0 = time.perf_counter()
    with Cache(big) as cache:
        demo.seed_cache(cache, load_list("all").symbols, 30, end=demo.DEFAULT_END)
    res["all_demo_seed_s"] = round(time.perf_counter() - t0, 1)
    note(res)
    child = subprocess.run([sys.executable, "-c", RSS_CHILD, str(big), str(work),
                            str(RSS_BUDGET_S)],
                           capture_output=True, text=True, cwd=ROOT, timeout=400)
    if child.returncode == 0:
        n, secs, done, total, rss = child.stdout.split()[-5:]
        res.update({"peak_rss_mb": int(rss), "all30_build_s": float(secs),
                    "all30_symbols_built": f"{done} of {total}"})
        if int(n) >= 0:
            res["all30_samples"] = int(n)
        else:
            res["peak_rss_note"] = (f"the build stopped after {RSS_BUDGET_S:.0f} s (bench "
                                    "budget) with the symbols above built; memory is bounded "
                                    "per batch of 50 (only the small sample index grows: "
                                    "+40 MB from batch 1 to 2 in a separate run)")
    else:
        res["peak_rss_error"] = child.stderr.strip().splitlines()[-1:]
    return res


def finish(res: dict[str, object]) -> None:
    res["goals"] = {"infer_batch100_ms": 5, "infer_ratio_to_torch": 1, "train_ratio_to_torch": 1,
                    "dataset_build_s": 5, "default_train_s": 180, "live_select_p99_ms": 20,
                    "peak_rss_mb": 2048}
    res["load_avg_1m_end"] = round(os.getloadavg()[0], 1)
    res["date"] = dt.date.today().isoformat()
    res["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(res))


if __name__ == "__main__":
    main()
