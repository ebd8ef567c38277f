"""``mlsteward monitor``: create a monitor of a model, evaluate a recorded window, read its
results, delete it; bad input is one ``error:`` line and writes nothing."""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..monitoring._monitor_support import inputs, record_window, register_model
from .conftest import Cli

PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)


def _seed(cli: Cli) -> None:
    platform = cli.platform()
    try:
        register_model(platform, training=inputs(3000, 0))
        labels = {f"p{i}": 1 for i in range(100)}
        frame = inputs(2000, 1, amount_shift=30)
        record_window(platform, PAST, frame, np.ones(2000, int), labels=labels)
    finally:
        platform.close()


def test_create_evaluate_read_and_delete_a_monitor(cli: Cli) -> None:
    _seed(cli)
    created = cli.json(
        "monitor", "create", "watch", "--model", "fraud", "--version", "1",
        "--window-seconds", "600", "--quality-task", "classification", "--positive-label", "1",
        "--sensitive", "country", "--min-rows", "5", "--drift-options", '{"drift_share": 0.3}',
    )  # fmt: skip
    assert created["model_version"] == "1"
    assert created["quality"] == {
        "task": "classification", "positive_label": 1, "prediction_column": "prediction"
    }  # fmt: skip
    assert created["fairness"]["favourable"] == 1
    assert created["drift_options"]["drift_share"] == 0.3
    listed = cli.ok("monitor", "list").stdout
    assert "watch" in listed
    assert "model fraud v1" in listed

    result = cli.json("monitor", "evaluate", "watch", "--at", "2026-01-01T10:03:00Z")
    assert result["window_start"] == "2026-01-01T10:00:00+00:00"
    assert result["status"] == "ok"
    assert result["metrics"]["drift.column.amount.drifted"] == 1.0
    assert result["metrics"]["quality.label_coverage"] == 0.05
    assert result["metrics"]["quality.accuracy"] == 1.0
    shown = cli.ok("monitor", "evaluate", "watch", "--at", "2026-01-01T10:03:00Z").output
    assert "evaluated watch" in shown

    (stored,) = cli.json("monitor", "results", "watch", "--since", "2026-01-01T00:00:00Z")[
        "results"
    ]
    assert stored["metrics"] == result["metrics"]
    assert cli.json("monitor", "results", "watch", "--until", "2026-01-01T00:00:00Z") == {
        "results": []
    }
    table = cli.ok("monitor", "show", "watch").output
    assert "training profile" in table
    assert "fairness across country" in table
    assert cli.json("monitor", "show", "watch")["results"][0]["status"] == "ok"

    cli.ok("monitor", "delete", "watch")
    assert cli.json("monitor", "list") == {"monitors": []}


def test_bad_input_is_one_error_line_and_writes_nothing(cli: Cli) -> None:
    _seed(cli)
    cli.ok("monitor", "create", "watch", "--model", "fraud")
    before = cli.audit_count()
    for args, message in (
        (["--model", "fraud", "--reference", "yesterday"], "--reference 'yesterday'"),
        (["--model", "ghost"], "ghost"),
        (["--deployment", "ghost"], "ghost"),
        (["--model", "fraud", "--deployment", "d"], "exactly one"),
        (["--model", "fraud", "--window-seconds", "10"], "window_seconds"),
        (["--model", "fraud", "--drift-options", "[1]"], "--drift-options must be"),
        (["--model", "fraud", "--quality-task", "ranking"], "quality task"),
        (["--model", "fraud", "--reference", "dataset:nope@1"], "nope"),
    ):
        failed = cli.fails("monitor", "create", "other", *args)
        assert message in failed.stderr, failed.stderr
    assert (
        "already has a monitor"
        in cli.fails("monitor", "create", "watch", "--model", "fraud").stderr
    )
    assert "no monitor named 'ghost'" in cli.fails("monitor", "show", "ghost").stderr
    assert "ISO 8601" in cli.fails("monitor", "results", "watch", "--since", "soon").stderr
    assert (
        "has not started"
        in cli.fails("monitor", "evaluate", "watch", "--at", "2999-01-01T00:00:00Z").stderr
    )
    assert cli.audit_count() == before
