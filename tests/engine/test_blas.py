"""MLX's optimized BLAS on Linux (``engine.blas``): taken, detected, and exact.

The fast path is proven without timing: MKL's own verbose log must show the
SGEMM of an MLX matmul, and ``dladdr`` must name MKL as the provider of
``cblas_sgemm``. The selector's inference and a GEMM computed on it equal the
same computed in a child process held on MLX's reference BLAS
(``AVWAP_BLAS=reference``) to float32 tolerance.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import blas

INFO = blas.ensure()
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the optimized BLAS is a Linux matter (macOS: Accelerate)")

CHILD = r"""
import json, sys
import numpy as np
from engine import blas
import mlx.core as mx
from models.model import ModelArgs, SelectorModel
d = np.load(sys.argv[1])
args = ModelArgs(**json.loads(sys.argv[2]))
model = SelectorModel(args)
model.load_weights(sys.argv[3])
model.eval()
y = mx.sigmoid(model(mx.array(d["x"]), mx.array(d["r"])))
g = mx.array(d["a"]) @ mx.array(d["b"])
np.savez(sys.argv[4], y=np.array(y), g=np.array(g))
print(json.dumps({"fast": blas.ensure().fast, "name": blas.ensure().name}))
"""


@linux_only
def test_the_fast_path_is_detected() -> None:
    """The mkl runtime dependency is installed, loaded globally, and provides cblas_sgemm."""
    assert INFO.fast, INFO.describe()
    assert INFO.name.startswith("MKL"), INFO.describe()
    assert "libmkl_rt" in blas.provider("cblas_sgemm")
    assert INFO.path == blas.provider("cblas_sgemm")


@linux_only
def test_mlx_matmul_runs_in_the_fast_blas(capfd: pytest.CaptureFixture[str]) -> None:
    """MKL logs every call it serves when verbose: an MLX matmul must be among them."""
    import mlx.core as mx

    mkl = ctypes.CDLL(INFO.path)
    libc = ctypes.CDLL(None)
    a = mx.ones((64, 48))
    b = mx.ones((48, 32))
    mx.eval(a, b)
    capfd.readouterr()
    mkl.MKL_Verbose(1)
    try:
        c = a @ b
        mx.eval(c)
    finally:
        mkl.MKL_Verbose(0)
        libc.fflush(None)
    log = capfd.readouterr().out
    assert "SGEMM" in log, log
    assert float(c[0, 0]) == 48.0


@linux_only
def test_inference_equals_the_reference_blas(tmp_path: Path) -> None:
    """The selector's weights and a GEMM: fast path vs MLX's bundled reference BLAS."""
    import mlx.core as mx

    from models.model import ModelArgs, SelectorModel

    args = ModelArgs(n_features=40, n_outputs=12, lookback=60, patch=10, dims=32, heads=4,
                     layers=2, mlp_dims=64, prior=[0.6] * 12)
    mx.random.seed(3)
    model = SelectorModel(args)
    model.eval()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 60, 40)).astype(np.float32)
    r = rng.integers(-1, 4, 100).astype(np.int32)
    a = rng.normal(size=(300, 257)).astype(np.float32)
    b = rng.normal(size=(257, 129)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x, r=r, a=a, b=b)
    model.save_weights(str(tmp_path / "w.safetensors"))
    env = {**os.environ, blas.ENV: "reference"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "in.npz"), json.dumps(args.to_dict()),
         str(tmp_path / "w.safetensors"), str(tmp_path / "out.npz")],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.splitlines()[-1])["fast"] is False  # really the reference
    ref = np.load(tmp_path / "out.npz")
    y = np.array(mx.sigmoid(model(mx.array(x), mx.array(r))))
    g = np.array(mx.array(a) @ mx.array(b))
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    eps = float(np.finfo(np.float32).eps)
    assert np.all(np.abs(g - exact) <= 257 * eps * scale)  # the fast GEMM: float32-exact
    assert np.all(np.abs(ref["g"] - exact) <= 257 * eps * scale)
    np.testing.assert_allclose(y, ref["y"], rtol=1e-5, atol=1e-6)


def test_reference_fallback_says_so() -> None:
    """``AVWAP_BLAS=reference`` (or a library that cannot load) falls back and names why."""
    code = "from engine import blas; i = blas.ensure(); print(i.fast, '|', i.describe())"
    for value, why in (("reference", "AVWAP_BLAS=reference"),
                       ("/nonexistent/libblas.so", "could not be loaded")):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, blas.ENV: value},
                             capture_output=True, text=True, timeout=60, check=True).stdout
        fast, text = out.strip().split(" | ", 1)
        if sys.platform == "darwin":
            assert fast == "True"
        else:
            assert fast == "False" and "reference" in text and why in text, out
