"""The backtester's side of the engine contract: bars through a typed ``PanelSource``,
no process started (the caller gives the code version), no storage module but its types."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from engine.backtest.runner import MLXBacktester
from engine.backtest.source import PanelSource

PACKAGE = Path(__file__).resolve().parents[3] / "engine" / "backtest"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_no_storage_module_but_its_types_and_no_subprocess() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 10
    for f in files:
        bad = {m for m in _imports(f)
               if m in ("subprocess", "os.system") or (m.startswith("storage")
                                                       and m != "storage.types")}
        assert not bad, f"{f.name} imports {sorted(bad)}"


def test_the_source_is_a_typed_protocol() -> None:
    hints = inspect.signature(MLXBacktester.__init__).parameters["source"].annotation
    assert "PanelSource" in str(hints) and "Any" not in str(hints)
    assert getattr(PanelSource, "_is_protocol", False)
