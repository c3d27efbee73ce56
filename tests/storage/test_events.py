"""The progress events between the children and the screens: every kind round-trips
through one JSON line, and a bad line is one error naming the line and the problem."""

from __future__ import annotations

import json
import math

import pytest

from storage import events as E

#: One instance of every kind, with values a real run prints (NaN, None, nested tables).
SAMPLES: list[E.Event] = [
    E.Build(tickers=6, days=20),
    E.BuildProgress(done=3, total=6),
    E.Skipped(symbols=["ZZZ", "QQQ"]),
    E.Start(name="demo", epochs=4, steps_per_epoch=10, batch_size=256, train_samples=2560,
            val_samples=600, features=152, outputs=131, resumed_at=None, processes=2,
            test_samples=300, fold=3, folds=3),
    E.Step(epoch=1, step=5, steps=10, global_step=5, loss=0.6931),
    E.Epoch(epoch=1, epochs=4, global_step=10, loss=0.69, val_loss=0.7,
            selection_accuracy=0.31, sparsity=0.52, mean_weight=0.4, best=True,
            weight_entropy=math.nan, eta_s=12.5),
    E.Checkpoint(roles=["best", "last"], path="/m/demo/ckpt-0000010", global_step=10),
    E.Fold(fold=1, folds=3, test="2024-01-02..2024-01-05", train_samples=100, val_samples=20,
           test_samples=30),
    E.FoldEpoch(fold=1, folds=3, epoch=2, epochs=4, loss=0.6, val_loss=0.65,
                selection_accuracy=0.33, best=False),
    E.Null(test_days=12),
    E.Eval(table={"k": 5, "samples": 1200, "verdict": "beats", "beats_all": True,
                  "rows": [{"name": "model", "precision": 0.4, "ci95": [0.3, 0.5]}],
                  "null": None}),
    E.Interrupted(message="Interrupted after step 7; resume with: avwap train --resume d",
                  name="d"),
    E.Done(name="demo", path="/m/demo", interrupted=False, global_step=40),
    E.Done(name="demo", path="/m/demo", interrupted=True, fold=2),
    E.Error(message="no bars for ZZZ"),
    E.BacktestStep(stage="signals", fraction=0.25),
    E.BacktestDone(run_id=4, trades=17, skipped=["ZZZ"]),
    E.Saved(run_id=9),
]


def _same(a: E.Event, b: E.Event) -> bool:
    """Equal, with NaN equal to NaN (a real epoch's entropy can be NaN)."""
    da, db = json.dumps(E.to_dict(a)), json.dumps(E.to_dict(b))
    return type(a) is type(b) and da == db


def test_every_kind_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} == set(E.KINDS.values())


@pytest.mark.parametrize("ev", SAMPLES, ids=lambda e: e.kind)
def test_round_trip(ev: E.Event) -> None:
    line = E.encode(ev)
    assert "\n" not in line
    assert json.loads(line)["event"] == ev.kind
    back = E.decode(line)
    assert _same(back, ev)
    assert _same(E.decode(line.encode() + b"\n"), ev)  # the raw bytes a pipe gives


def test_eval_is_flat_on_the_wire() -> None:
    """docs/model.md: the eval table's keys sit beside "event", not under a sub-key."""
    wire = json.loads(E.encode(E.Eval(table={"k": 5, "verdict": "v"})))
    assert wire == {"event": "eval", "k": 5, "verdict": "v"}


def test_wire_names_match_the_documented_schema() -> None:
    """A training's kinds are the ones docs/model.md lists; the screen's tests send these."""
    start = E.from_dict({"event": "start", "name": "demo", "epochs": 4, "steps_per_epoch": 10,
                         "batch_size": 256, "train_samples": 2560, "val_samples": 600,
                         "features": 152, "outputs": 131, "resumed_at": None})
    assert isinstance(start, E.Start) and start.folds == 1 and start.test_samples == 0


@pytest.mark.parametrize(("line", "why"), [
    ("Traceback (most recent call last):", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"stage": "x"}', 'no "event" key'),
    ('{"event": "teleport"}', "unknown event 'teleport'"),
    ('{"event": "step", "epoch": 1}', "'step' lacks 'step', 'steps', 'global_step', 'loss'"),
    ('{"event": "null", "test_days": "12"}', "'null' field 'test_days' is '12', not int"),
    ('{"event": "null", "test_days": true}', "'null' field 'test_days' is True, not int"),
    ('{"event": "saved", "run_id": 3, "trades": 1}', "'saved' has no field 'trades'"),
])
def test_a_bad_line_is_one_clear_error(line: str, why: str) -> None:
    with pytest.raises(E.EventError) as info:
        E.decode(line)
    msg = str(info.value)
    assert "\n" not in msg
    assert why in msg and line[:40] in msg, msg


def test_a_long_bad_line_is_cut() -> None:
    line = '{"event": "nope", "x": "' + "a" * 5000 + '"}'
    with pytest.raises(E.EventError) as info:
        E.decode(line)
    assert len(str(info.value)) < 300


def test_only_plain_progress_collapses() -> None:
    assert {k for k, c in E.KINDS.items() if c.collapses} == {"step", "backtest_step"}
