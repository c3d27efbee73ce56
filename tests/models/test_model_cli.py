"""``avwap precheck`` / ``train`` / ``models`` on bad and good input: one clear line, exit 2."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import mlx.core as mx
import pytest

from models import checkpoint as ck
from storage.cache import Cache
from tui.cli import main

END = "2025-11-21"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_precheck_bad_input(demo_cache: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "precheck", "--db", str(tmp_path / "none.duckdb"))
    assert code == 2 and err.startswith("avwap: error: no cache at")
    Cache(tmp_path / "empty.duckdb").close()
    code, _, err = run(capsys, "precheck", "--db", str(tmp_path / "empty.duckdb"))
    assert code == 2 and "is empty" in err and err.count("\n") == 1
    code, out, err = run(capsys, "precheck", "--db", str(demo_cache), "--tickers",
                         "SPY,AAPL,ZZZZ", "--days", "8", "--min-samples", "10", "--end", END)
    assert code == 0, err
    assert "ZZZZ" in out and "1 of 3 symbols missing" in out and "exact" in out
    code, out, err = run(capsys, "precheck", "--db", str(demo_cache), "--tickers", "SPY",
                         "--days", "3", "--end", END)
    assert code == 2 and err.count("\n") == 1
    assert "Insufficient samples for training" in err
    for remedy in ("more days", "a lower interval", "more tickers"):
        assert remedy in err


def test_train_json_models_use(demo_cache: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    mdir = str(tmp_path / "models")
    common = ["--db", str(demo_cache), "--tickers", "SPY,AAPL,MSFT", "--days", "8", "--end", END,
              "--lookback", "30", "--sample-interval", "10", "--min-samples", "100",
              "--batch-size", "64", "--models-dir", mdir]
    code, out, err = run(capsys, "train", *common, "--epochs", "1", "--name", "m1",
                         "--progress-json", "--top-k", "3")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "build" and kinds[-1] == "done"
    assert {"start", "step", "epoch", "checkpoint", "eval"} <= set(kinds)
    # the same name again is refused, the listing shows it, `use` makes it active
    code, _, err = run(capsys, "train", *common, "--name", "m1")
    assert code == 2 and "exists" in err
    code, out, _ = run(capsys, "models", "--models-dir", mdir)
    assert code == 0 and "m1" in out
    code, out, _ = run(capsys, "models", "use", "m1", "--models-dir", mdir)
    assert code == 0 and "active" in out
    assert json.loads((tmp_path / "models" / "active.json").read_text()) == {"name": "m1"}
    code, _, err = run(capsys, "models", "use", "nope", "--models-dir", mdir)
    assert code == 2 and "no trained model named 'nope'" in err
    w = ck.resolve(tmp_path / "models" / "m1") / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    code, _, err = run(capsys, "models", "use", "m1", "--models-dir", mdir)
    assert code == 2 and "corrupt or truncated" in err and err.count("\n") == 1

    # a full disk while saving: one line, exit 2, an error event in JSON mode
    real = mx.save_safetensors

    def full(path: str, arrays: dict[str, mx.array], *a: Any, **k: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(mx, "save_safetensors", full)
    code, out, err = run(capsys, "train", *common, "--epochs", "1", "--name", "m2",
                         "--progress-json")
    monkeypatch.setattr(mx, "save_safetensors", real)
    assert code == 2 and "No space left on device" in err and err.count("\n") == 1
    assert json.loads(out.splitlines()[-1])["event"] == "error"
