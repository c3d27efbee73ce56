"""Suite-wide settings: hypothesis is derandomized under CI; MLX's BLAS is loaded first;
the heaviest test files run first (see "file order" below).

Locally, hypothesis explores new random examples on every run (and replays the
ones that failed before); under CI (``CI`` set, as ``.ci/run`` runs) it draws a
fixed, seeded set, so a green main stays green and a red one is reproducible.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import settings

import engine  # noqa: F401  (engine.blas: MLX's optimized BLAS, before any test imports mlx)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


# -- file order: the heaviest files first, so the two workers finish together ------
#
# ``make test`` runs ``-n 2 --dist loadfile --no-loadscope-reorder``: a worker takes
# whole files, in collection order, as it runs out of work. xdist's default order
# (most tests first) left the files of one long test (a tmux session, a hypothesis
# search) for the end, and one worker ran them alone while the other had finished.
# Longest first (LPT) leaves only short files for the end. The seconds per file are
# in ``file_costs.json`` (any recent run; only their order matters); a file not in
# it counts 0.5 s per test. ``pytest --record-file-costs`` rewrites it from the run.
#
# The console's files go first, then the rest (each part longest first): the console
# collects the whole heap at each warm-up (``tui.runtime.memory``), and vectorbt,
# which two backtest files import, more than doubles a worker's heap; run after
# them, it makes no console test slower. (Replaying measured per-test times through
# xdist's scheduling: the split keeps the two workers within a second of each other.)
_COSTS = Path(__file__).with_name("file_costs.json")
_UNKNOWN_TEST_S = 0.5
_CONSOLE = "tests/tui/"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-file-costs", action="store_true",
                     help="write each file's seconds (all phases) to tests/file_costs.json")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    costs: dict[str, float] = json.loads(_COSTS.read_text()) if _COSTS.exists() else {}
    counts = Counter(_file_of(it.nodeid) for it in items)
    first = {f: i for i, f in reversed(list(enumerate(_file_of(it.nodeid) for it in items)))}

    def weight(f: str) -> float:
        return costs.get(f, _UNKNOWN_TEST_S * counts[f])

    def key(it: pytest.Item) -> tuple[bool, float, int]:
        f = _file_of(it.nodeid)  # stable within a file: its tests keep their written order
        return (not f.startswith(_CONSOLE), -weight(f), first[f])

    items.sort(key=key)


_spent: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _spent[_file_of(report.nodeid)] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if config.getoption("--record-file-costs") and not hasattr(config, "workerinput"):
        _COSTS.write_text(json.dumps({f: round(s, 1) for f, s in sorted(_spent.items())},
                                     indent=0) + "\n")
