"""Data-parallel training on MLX's own distributed layer: 2 processes started by
``mlx.launch --backend ring -n 2`` on 127.0.0.1, each on half of every batch,
end with the weights of one process trained on the whole (doubled) batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from dist_worker import run
from ring_ports import ring_starting_port

LAUNCH = Path(sys.executable).with_name("mlx.launch")


@pytest.mark.skipif(not LAUNCH.exists(), reason="mlx.launch is not installed")
def test_two_processes_equal_one_with_doubled_batch(tmp_path: Path) -> None:
    worker = Path(__file__).with_name("dist_worker.py")
    proc = subprocess.run(
        [str(LAUNCH), "--backend", "ring", "-n", "2", "--hosts", "127.0.0.1",
         "--starting-port", str(ring_starting_port()), "--", sys.executable, str(worker),
         str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    outs = [tmp_path / f"rank{r}-of-2.safetensors" for r in (0, 1)]
    assert all(p.exists() for p in outs), proc.stdout + proc.stderr  # mlx.launch exits 0 anyway
    ranks = [dict(mx.load(str(p))) for p in outs]
    single = run(None)
    assert ranks[0].keys() == single.keys()
    for k, want in single.items():
        w = np.array(want)
        np.testing.assert_array_equal(np.array(ranks[0][k]), np.array(ranks[1][k]), err_msg=k)
        np.testing.assert_allclose(np.array(ranks[0][k]), w, rtol=1e-5, atol=1e-6, err_msg=k)
    # the steps really moved the weights (the comparison is not between two initial states)
    mx.random.seed(0)
    from dist_worker import ARGS

    from models.checkpoint import flat
    from models.model import SelectorModel

    init = flat(SelectorModel(ARGS).parameters())
    assert not np.allclose(np.array(init["head.bias"]), np.array(single["head.bias"]))
