"""``avwap models``: the trained models (name, date, data, metrics, active); ``use NAME``."""

from __future__ import annotations

import argparse

from rich.table import Table

from tui.commands.common import cli_console


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[common],
                       help="list trained models; `models use NAME` makes one active")
    p.add_argument("action", nargs="?", choices=("list", "use"), default="list")
    p.add_argument("name", nargs="?", help="the model to make active (with `use`)")
    p.add_argument("--models-dir", default=None,
                   help="where models live (default: $AVWAP_MODELS_DIR or the user data dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from models.errors import ModelError  # loads MLX: only when the command runs
    from models.registry import edge_note, evaluation_of, list_models, models_dir, use

    console = cli_console()
    root = models_dir(args.models_dir)
    if args.action == "use":
        if not args.name:
            raise ModelError("`avwap models use` needs the NAME of a trained model")
        path = use(root, args.name)
        console.print(f"{args.name} is now the active model ({path}).")
        edge = edge_note(evaluation_of(path))
        if edge:
            console.print(f"[bold red]{args.name}: {edge} on its test days; the console's "
                          "Indicators pane says so beside its picks.[/]")
        return 0
    found = list_models(root)
    if not found:
        console.print(f"No trained models in {root}; train one with `avwap train`.")
        return 0
    table = Table(title=f"Trained models in {root}")
    for col in ("active", "name", "created", "data", "val selection accuracy", "evaluation"):
        table.add_column(col, no_wrap=col == "name")  # the name `models use` needs, whole
    for m in found:
        acc = m.metrics.get("val_selection_accuracy")
        table.add_row("*" if m.active else "", m.name, m.created[:19], m.problem or m.data,
                      f"{acc:.3f}" if isinstance(acc, float) else "-", m.verdict)
    console.print(table)
    return 0
