"""The ``avwap`` subcommands, one module each (see ``tui.cli``)."""

from __future__ import annotations

from tui.commands import (
    anchors_cmd,
    backtest_cmd,
    cache_cmd,
    demo_cmd,
    import_cmd,
    indicators_cmd,
    lists_cmd,
    models_cmd,
    precheck_cmd,
    scan_cmd,
    sim_cmd,
    sync_cmd,
    train_cmd,
    tui_cmd,
)

COMMANDS = [cache_cmd, demo_cmd, import_cmd, indicators_cmd, sim_cmd, sync_cmd, tui_cmd]
COMMANDS += [precheck_cmd, train_cmd, models_cmd]
COMMANDS += [backtest_cmd]
COMMANDS += [lists_cmd]
COMMANDS += [anchors_cmd]
COMMANDS += [scan_cmd]
