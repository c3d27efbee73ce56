"""The rooms' import contracts hold (import-linter, configured in pyproject.toml).

Why import-linter: it reads every import statement of every module, including
imports inside functions, and follows indirect imports, so neither a lazy import
nor a chain through a third module slips through. The contracts (see
docs/architecture.md): storage ← engine ← models ← tui; textual only in tui;
storage and its live feeds never load MLX; the engine does no cache, database
or live I/O, and imports no storage module but ``storage.types``; panes and
view models never see the runtime; no screen imports the controller or its
parts; only the CLI reaches the gateway simulator.

Two rules import-linter cannot state are read from the source here: no
``Any``-typed cache in the engine (it reads bars through a typed Protocol), and
screens start no task or thread of their own (Textual workers for their own
awaits, runtime jobs for long work: docs/architecture.md, "Concurrency").
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path, cwd: Path,
          pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(LINT.parent), "HOME": str(cwd)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True, env=env, check=False)


def test_import_contracts_hold() -> None:
    run = _lint(ROOT / "pyproject.toml", ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
    # Every contract the design names is checked (a deleted contract would also "pass").
    for name in ("Rooms: tui above models above engine above storage",
                 "Nothing below tui imports textual",
                 "Storage and its live feeds never load MLX or the engine",
                 "The engine is pure compute",
                 "Panes and view models never see the runtime",
                 "models never import tui",
                 "The engine imports no storage module but storage.types",
                 "No screen imports the controller or its parts",
                 "The watchlist asks, it never does"):
        assert f"{name}" in run.stdout and "KEPT" in run.stdout.split(name, 1)[1].split("\n")[0]


def test_contracts_catch_a_lazy_import(tmp_path: Path) -> None:
    """The same kind of contract fails on an import hidden inside a function."""
    pkg = tmp_path / "storage"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "feed.py").write_text("def load():\n    import textual.app\n    return textual.app\n")
    cfg = tmp_path / "contracts.toml"
    cfg.write_text(
        '[tool.importlinter]\nroot_packages = ["storage"]\ninclude_external_packages = true\n'
        '[[tool.importlinter.contracts]]\nname = "no textual"\ntype = "forbidden"\n'
        'source_modules = ["storage"]\nforbidden_modules = ["textual"]\n')
    run = _lint(cfg, tmp_path, pythonpath=str(tmp_path))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "storage.feed -> textual" in run.stdout


def test_live_feeds_load_without_mlx() -> None:
    code = ("import sys, storage.feeds.replay, storage.feeds.ib, storage.feeds.ib_live, ibsim; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlx', 'engine')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "[]"


def test_the_cli_starts_without_mlx() -> None:
    """`avwap sync`, `cache info` … must not pay for MLX: commands import it when they run.

    Only ``engine.blas`` comes along (``tui/__init__`` loads MLX's BLAS before anything
    could import MLX); the engine's own modules stay out (its re-exports are lazy).
    """
    code = ("import sys, tui.cli; tui.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mlx', 'engine', 'models', 'textual')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "['engine', 'engine.blas']"


def test_the_engine_types_the_bars_it_reads() -> None:
    """No engine module takes or keeps a cache typed ``Any`` (duck-typed I/O)."""
    untyped = re.compile(r"\b(cache|source)\s*:\s*Any\b")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "engine").rglob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if untyped.search(line)]
    assert hits == []


def test_screens_start_no_task_or_thread_of_their_own() -> None:
    """Screens await through Textual workers (``run_worker``: cancelled with the screen;
    a worker may await ``asyncio.to_thread`` for a blocking read) and hand long work
    to the runtime (``Runtime.start``). No task, thread or executor of their own."""
    own = re.compile(r"create_task\(|ensure_future\(|threading\.Thread\(|"
                     r"run_in_executor\(|TaskGroup\(")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "tui" / "screens").rglob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if own.search(line)]
    assert hits == []
