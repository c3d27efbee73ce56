"""Import contract: textual only under tui/, and lower rooms never import higher ones.

Checked statically (every import statement of every module, including imports
inside functions), so a lazy import cannot slip through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("storage", "engine", "models", "tui")
FORBIDDEN = {
    "storage": {"engine", "models", "tui", "textual"},
    "engine": {"models", "tui", "textual"},
    "models": {"tui", "textual"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_nothing_above_it(room: str) -> None:
    files = sorted((ROOT / room).rglob("*.py"))
    if room != "models":
        assert files, f"{room}/ has no modules"
    bad = {
        str(p.relative_to(ROOT)): sorted(imports_of(p) & FORBIDDEN[room])
        for p in files
        if imports_of(p) & FORBIDDEN[room]
    }
    assert not bad, f"forbidden imports: {bad}"


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from textual.app import App\n    import tui.app\n")
    assert imports_of(p) >= {"textual", "tui"}
