"""One atomic file replacement for every writer (``storage.atomic``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import atomic


def test_a_write_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text("old", encoding="utf-8")
    atomic.write_json(path, {"rules": [1, 2]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"rules": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["rules.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp(tmp_path: Path) -> None:
    path = tmp_path / "state.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.replacing(path, binary=True) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]


def test_an_object_json_cannot_encode_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('{"symbols": ["SPY"]}', encoding="utf-8")
    with pytest.raises(TypeError):
        atomic.write_json(path, {"bad": object()})
    assert path.read_text(encoding="utf-8") == '{"symbols": ["SPY"]}'
    assert [p.name for p in tmp_path.iterdir()] == ["list.json"]


def test_the_temp_file_is_hidden_beside_the_target(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    with atomic.replacing(path) as f:
        (tmp,) = [p for p in tmp_path.iterdir()]
        assert tmp.name.startswith(".a.json.") and tmp.name.endswith(atomic.TMP_SUFFIX)
        f.write("{}")
    assert path.read_text(encoding="utf-8") == "{}"
