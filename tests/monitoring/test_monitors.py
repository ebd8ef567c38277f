"""Monitors as a service, on SQLite and PostgreSQL: created on a model or a deployment, each
window of recorded predictions evaluated against the reference (drift of the drifted columns
only, quality from the feedback labels, fairness, counts), ``no_data`` without windows; bad
input refused with nothing written; maintainers write, viewers read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from mlsteward.deployments import create_deployment
from mlsteward.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import (
    DriftOptions,
    Monitor,
    MonitorResult,
    create_monitor,
    delete_monitor,
    evaluate_monitor,
    get_monitor,
    list_monitor_results,
    list_monitors,
    run_due_evaluations,
    update_monitor,
)
from mlsteward.monitoring._tables import monitor_results, monitors
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events

from ._monitor_support import inputs, record_window, register_model, user

MINUTE = dt.timedelta(minutes=1)
PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)  # evaluated on demand: a past window


def rows_in(platform: Platform) -> tuple[int, int]:
    with platform.db.read() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(monitors)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(monitor_results)).scalar_one()),
        )


def next_window(monitor: Monitor) -> dt.datetime:
    """The start of the window after the one the monitor was created in."""
    return monitor.window_of(monitor.created_at)[1]


def drifted_windows(platform: Platform, start: dt.datetime) -> tuple[np.ndarray, dict[str, int]]:
    """Two prediction windows in the five minutes from ``start``: ``amount`` shifted by three
    standard deviations, the other inputs as in training; predictions, and labels for every
    other row of the first window. Returns the first window's predictions and labels."""
    first = inputs(1200, 1, amount_shift=30.0)
    predictions = (first["age"] > 40).astype(int).to_numpy()
    labels = {f"p{i}": int(i % 3 == 0) for i in range(0, 1200, 2)}
    record_window(platform, start, first, predictions, labels=labels)
    second = inputs(800, 2, amount_shift=30.0)
    record_window(platform, start + MINUTE, second, np.zeros(800, int), prefix="q")
    return predictions, labels


def test_a_window_with_drifted_inputs_flags_them_with_quality_fairness_and_counts(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(5000, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "fraud-watch", model_name="fraud", model_version=1,
        quality={"task": "classification", "positive_label": 1},
        fairness={"sensitive": "country", "min_rows": 10},
    )  # fmt: skip
    start = next_window(monitor)
    predictions, labels = drifted_windows(platform, start)

    evaluated = run_due_evaluations(platform, start + dt.timedelta(minutes=7))

    assert evaluated == 2  # the creation window (empty) and the one with predictions
    empty, result = list_monitor_results(platform, SYSTEM, "default", "fraud-watch")
    assert (empty.status, empty.metrics["infra.rows"]) == ("no_data", 0.0)
    assert (result.window_start, result.window_end) == (start, start + dt.timedelta(minutes=5))
    assert result.status == "ok", result.report.get("errors")
    metrics = result.metrics
    assert metrics["drift.column.amount.drifted"] == 1.0
    assert metrics["drift.column.age.drifted"] == 0.0
    assert metrics["drift.column.country.drifted"] == 0.0
    assert metrics["drift.compared_columns"] == 3.0  # the prediction is not in training data
    assert metrics["drift.share_drifted"] == pytest.approx(1 / 3)
    assert metrics["drift.dataset_drifted"] == 0.0
    assert (metrics["infra.rows"], metrics["infra.windows"]) == (2000.0, 2.0)
    assert metrics["infra.rows_per_second"] == pytest.approx(2000 / 300)
    assert metrics["quality.label_coverage"] == pytest.approx(600 / 2000)
    truth = np.array([labels[f"p{i}"] for i in range(0, 1200, 2)])
    assert metrics["quality.accuracy"] == pytest.approx(np.mean(predictions[::2] == truth))
    assert set(metrics) >= {"quality.recall", "fairness.demographic_parity_ratio"}
    assert result.report["reference"] == {"kind": "training", "model": "fraud", "version": 1}
    assert result.report["drift"]["columns"][0]["column"] == "amount"
    assert result.report["fairness"]["sensitive"] == "country"

    (event,) = list_audit_events(platform, SYSTEM, action="monitoring.monitor.evaluate")[-1:]
    assert event.actor_name == "system"
    assert run_due_evaluations(platform, start + dt.timedelta(minutes=7)) == 0  # done already


def test_a_deployment_monitor_reads_the_deployments_windows_only(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(3000, 0))
    create_deployment(platform, SYSTEM, "default", "fraud-prod", "models:/fraud/1")
    create_monitor(
        platform, SYSTEM, "default", "prod-watch", deployment="fraud-prod", window_seconds=60
    )
    start = PAST
    record_window(platform, start, inputs(500, 3), np.zeros(500, int), deployment="fraud-prod")
    record_window(platform, start, inputs(900, 4, amount_shift=50), np.zeros(900, int))

    result = evaluate_monitor(platform, SYSTEM, "default", "prod-watch", start + MINUTE / 2)

    assert result.status == "ok"
    assert result.metrics["infra.rows"] == 500.0  # not the other window, of no deployment
    assert result.metrics["drift.column.amount.score"] < 0.5  # shifted by 5 sd there
    assert result.report["reference"] == {"kind": "training", "model": "fraud", "version": 1}


def test_a_window_without_predictions_is_no_data(backend_platform: Platform) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(500, 0))
    create_monitor(platform, SYSTEM, "default", "quiet", model_name="fraud")
    result = evaluate_monitor(platform, SYSTEM, "default", "quiet", PAST)
    assert result.status == "no_data"
    assert result.metrics["infra.windows"] == 0.0
    assert "drift.share_drifted" not in result.metrics


def test_a_windows_reference_and_a_dataset_reference(platform: Platform) -> None:
    from mlsteward.data import log_table_version

    register_model(platform)  # no training profile: another reference is needed
    create_monitor(
        platform, SYSTEM, "default", "self", model_name="fraud", window_seconds=60,
        reference={"kind": "windows", "since": "2020-01-01T00:00:00Z",
                   "until": "2020-01-01T01:00:00Z"},
    )  # fmt: skip
    baseline = dt.datetime(2020, 1, 1, 0, 10, tzinfo=dt.UTC)
    record_window(platform, baseline, inputs(800, 5), np.zeros(800, int))
    start = PAST
    record_window(platform, start, inputs(800, 6, amount_shift=40), np.ones(800, int))

    result = evaluate_monitor(platform, SYSTEM, "default", "self", start)

    assert result.report["reference"]["windows"] == 1
    assert result.metrics["drift.column.amount.drifted"] == 1.0
    assert result.metrics["drift.column.prediction.drifted"] == 1.0  # all 0 before, all 1 now

    log_table_version(platform, SYSTEM, "default", "train", inputs(800, 7))
    update_monitor(
        platform, SYSTEM, "default", "self", reference={"kind": "dataset", "name": "train",
                                                        "version": 1},
    )  # fmt: skip
    again = evaluate_monitor(platform, SYSTEM, "default", "self", start)
    assert again.id == result.id  # the window's result, replaced
    assert again.report["reference"] == {"kind": "dataset", "name": "train", "version": 1}
    assert again.metrics["drift.column.amount.drifted"] == 1.0
    assert again.metrics["drift.column.age.drifted"] == 0.0


def test_labels_that_come_later_are_counted_when_the_window_is_evaluated_again(
    platform: Platform,
) -> None:
    register_model(platform, training=inputs(1000, 0))
    create_monitor(
        platform, SYSTEM, "default", "late", model_name="fraud", window_seconds=60,
        quality={"task": "classification"},
    )  # fmt: skip
    start = PAST
    record_window(platform, start, inputs(100, 1), np.ones(100, int))
    first = evaluate_monitor(platform, SYSTEM, "default", "late", start)
    assert first.metrics["quality.label_coverage"] == 0.0
    assert first.report["quality"]["reason"] == "no labelled rows"

    labels = {f"p{i}": 1 for i in range(50)}  # in a later window, as serving ships them
    record_window(platform, start + 3 * MINUTE, inputs(1, 9), np.ones(1, int), labels=labels,
                  prefix="z")  # fmt: skip
    second = evaluate_monitor(platform, SYSTEM, "default", "late", start)
    assert second.metrics["quality.label_coverage"] == 0.5
    assert second.metrics["quality.accuracy"] == 1.0


def test_a_part_that_fails_is_an_error_with_the_other_metrics_kept(platform: Platform) -> None:
    register_model(platform, training=inputs(1000, 0))
    create_monitor(
        platform, SYSTEM, "default", "broken", model_name="fraud", window_seconds=60,
        fairness={"sensitive": "no_such_column"},
    )  # fmt: skip
    start = PAST
    record_window(platform, start, inputs(100, 1), np.ones(100, int))
    result = evaluate_monitor(platform, SYSTEM, "default", "broken", start)
    assert result.status == "error"
    assert "no_such_column" in result.report["errors"]["fairness"]
    assert "drift.share_drifted" in result.metrics
    assert result.metrics["infra.rows"] == 100.0


def test_update_disable_and_delete(backend_platform: Platform) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(500, 0))
    monitor = create_monitor(platform, SYSTEM, "default", "m1", model_name="fraud")
    assert [m.name for m in list_monitors(platform, SYSTEM, "default")] == ["m1"]
    changed = update_monitor(
        platform, SYSTEM, "default", "m1", enabled=False, window_seconds=600,
        drift_options=DriftOptions(drift_share=0.25), quality={"task": "regression"},
    )  # fmt: skip
    assert (changed.enabled, changed.window_seconds) == (False, 600)
    assert changed.drift_options["drift_share"] == 0.25
    assert changed.quality == {"task": "regression", "positive_label": None,
                               "prediction_column": "prediction"}  # fmt: skip
    assert get_monitor(platform, SYSTEM, "default", "m1") == changed
    assert Monitor.from_json(changed.to_json()) == changed
    later = monitor.created_at + dt.timedelta(hours=2)
    assert run_due_evaluations(platform, later) == 0  # disabled
    update_monitor(platform, SYSTEM, "default", "m1", enabled=True, quality=None)
    assert run_due_evaluations(platform, later) > 0
    assert rows_in(platform)[1] > 0
    (stored, *_) = list_monitor_results(platform, SYSTEM, "default", "m1")
    assert MonitorResult.from_json(stored.to_json()) == stored

    delete_monitor(platform, SYSTEM, "default", "m1")
    assert rows_in(platform) == (0, 0)
    with pytest.raises(NotFound, match="mlsteward monitor list"):
        get_monitor(platform, SYSTEM, "default", "m1")
    actions = [e.action for e in list_audit_events(platform, SYSTEM)]
    assert {"monitoring.monitor.create", "monitoring.monitor.update",
            "monitoring.monitor.delete"} <= set(actions)  # fmt: skip


def test_results_are_listed_oldest_first_within_since_and_until(platform: Platform) -> None:
    register_model(platform, training=inputs(500, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "m", model_name="fraud", window_seconds=60
    )
    run_due_evaluations(platform, monitor.created_at + dt.timedelta(minutes=10))
    starts = [r.window_start for r in list_monitor_results(platform, SYSTEM, "default", "m")]
    assert len(starts) >= 8
    assert starts == sorted(starts)
    some = list_monitor_results(platform, SYSTEM, "default", "m", since=starts[2], until=starts[5])
    assert [r.window_start for r in some] == starts[2:5]
    newest = list_monitor_results(platform, SYSTEM, "default", "m", limit=2)
    assert [r.window_start for r in newest] == starts[-2:]


BAD_MONITORS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("bad-name", {"name": "../x"}, InvalidArgument, "monitor name"),
    ("both-streams", {"deployment": "d"}, InvalidArgument, "exactly one"),
    ("no-stream", {"model_name": None}, InvalidArgument, "exactly one"),
    ("unknown-model", {"model_name": "nope"}, NotFound, "nope"),
    ("unknown-version", {"model_version": 9}, NotFound, "no version 9"),
    ("version-not-a-number", {"model_version": "one"}, InvalidArgument, "version number"),
    ("unknown-deployment", {"model_name": None, "deployment": "ghost"}, NotFound, "ghost"),
    ("window-too-short", {"window_seconds": 59}, InvalidArgument, "window_seconds"),
    ("window-a-float", {"window_seconds": 300.5}, InvalidArgument, "window_seconds"),
    ("reference-kind", {"reference": {"kind": "magic"}}, InvalidArgument, "reference kind"),
    ("reference-a-list", {"reference": ["training"]}, InvalidArgument, "reference must be"),
    ("reference-extra-key", {"reference": {"kind": "training", "x": 1}}, InvalidArgument,
     "unknown keys"),
    ("windows-backwards", {"reference": {"kind": "windows", "since": "2026-01-02T00:00:00Z",
                                         "until": "2026-01-01T00:00:00Z"}},
     InvalidArgument, "after it starts"),
    ("windows-naive", {"reference": {"kind": "windows", "since": "2026-01-01T00:00:00",
                                     "until": "2026-01-02T00:00:00Z"}},
     InvalidArgument, "UTC offset"),
    ("unknown-dataset", {"reference": {"kind": "dataset", "name": "nope", "version": 1}},
     NotFound, "nope"),
    ("dataset-version-zero", {"reference": {"kind": "dataset", "name": "d", "version": 0}},
     InvalidArgument, "version number"),
    ("quality-task", {"quality": {"task": "ranking"}}, InvalidArgument, "quality task"),
    ("quality-regression-positive", {"quality": {"task": "regression", "positive_label": 1}},
     InvalidArgument, "positive_label"),
    ("fairness-no-column", {"fairness": {"favourable": 1}}, InvalidArgument, "sensitive"),
    ("fairness-min-rows", {"fairness": {"sensitive": "c", "min_rows": 0}}, InvalidArgument,
     "min_rows"),
    ("drift-method", {"drift_options": {"numeric": {"method": "magic"}}}, InvalidArgument,
     "unknown drift method"),
    ("drift-share", {"drift_options": {"drift_share": 2}}, InvalidArgument, "drift_share"),
    ("drift-unknown-key", {"drift_options": {"share": 0.5}}, InvalidArgument, "unknown keys"),
    ("enabled-a-string", {"enabled": "yes"}, InvalidArgument, "enabled"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [c[1:] for c in BAD_MONITORS],
    ids=[c[0] for c in BAD_MONITORS],
)
def test_bad_monitors_are_refused_and_nothing_is_written(
    platform: Platform, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    register_model(platform, training=inputs(200, 0))
    fields: dict[str, Any] = {"name": "watch", "model_name": "fraud", **changes}
    before = len(list_audit_events(platform, SYSTEM))
    with pytest.raises(error) as raised:
        create_monitor(platform, SYSTEM, "default", **fields)
    assert message in str(raised.value)
    assert rows_in(platform) == (0, 0)
    assert len(list_audit_events(platform, SYSTEM)) == before


def test_a_training_reference_needs_a_training_profile_and_names_are_unique(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    register_model(platform)  # saved without training_data
    with pytest.raises(InvalidArgument, match="no training profile"):
        create_monitor(platform, SYSTEM, "default", "m", model_name="fraud", model_version=1)
    create_monitor(
        platform, SYSTEM, "default", "m", model_name="fraud",
        reference={"kind": "windows", "since": "2026-01-01T00:00:00+00:00",
                   "until": "2026-01-02T00:00:00+00:00"},
    )  # fmt: skip
    with pytest.raises(AlreadyExists, match="already has a monitor named 'm'"):
        create_monitor(platform, SYSTEM, "default", "m", model_name="fraud")
    assert rows_in(platform) == (1, 0)


def test_bad_updates_evaluations_and_listings_are_refused(platform: Platform) -> None:
    register_model(platform, training=inputs(200, 0))
    create_monitor(platform, SYSTEM, "default", "m", model_name="fraud")
    before = get_monitor(platform, SYSTEM, "default", "m")
    for fields, message in (
        ({"window_seconds": 10}, "window_seconds"),
        ({"reference": {"kind": "dataset", "name": "nope", "version": 1}}, "nope"),
        ({"quality": {"task": "classification", "extra": 1}}, "unknown keys"),
    ):
        with pytest.raises((InvalidArgument, NotFound), match=message):
            update_monitor(platform, SYSTEM, "default", "m", **fields)
    assert get_monitor(platform, SYSTEM, "default", "m") == before
    with pytest.raises(NotFound):
        update_monitor(platform, SYSTEM, "default", "ghost", enabled=False)
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        evaluate_monitor(platform, SYSTEM, "default", "m", dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="has not started"):
        evaluate_monitor(platform, SYSTEM, "default", "m", before.created_at + dt.timedelta(days=1))
    for limit in (0, 10_001, True):
        with pytest.raises(InvalidArgument, match="limit"):
            list_monitor_results(platform, SYSTEM, "default", "m", limit=limit)
    with pytest.raises(InvalidArgument, match="since"):
        list_monitor_results(platform, SYSTEM, "default", "m", since=dt.datetime(2026, 1, 1))
    assert rows_in(platform) == (1, 0)


def test_maintainers_write_and_viewers_read(platform: Platform) -> None:
    register_model(platform, training=inputs(200, 0))
    viewer = user(platform, "val", "viewer")
    editor = user(platform, "eve", "editor")
    maintainer = user(platform, "max", "maintainer")
    outsider = user(platform, "out", "viewer", project="default")
    from mlsteward.security import create_project, remove_member

    create_project(platform, SYSTEM, "other")
    remove_member(platform, SYSTEM, "default", "out")
    for actor in (viewer, editor):
        with pytest.raises(PermissionDenied):
            create_monitor(platform, actor, "default", "m", model_name="fraud")
    assert rows_in(platform) == (0, 0)
    created = create_monitor(platform, maintainer, "default", "m", model_name="fraud")
    assert created.created_by == "max"
    assert get_monitor(platform, viewer, "default", "m") == created
    assert list_monitors(platform, viewer, "default") == [created]
    assert list_monitor_results(platform, viewer, "default", "m") == []
    for call in (
        lambda: update_monitor(platform, editor, "default", "m", enabled=False),
        lambda: evaluate_monitor(platform, viewer, "default", "m"),
        lambda: delete_monitor(platform, editor, "default", "m"),
        lambda: get_monitor(platform, outsider, "default", "m"),
        lambda: list_monitor_results(platform, outsider, "default", "m"),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert rows_in(platform) == (1, 0)
    assert evaluate_monitor(platform, maintainer, "default", "m").status == "no_data"


def test_an_evaluated_window_that_breaches_a_rule_opens_one_incident(platform: Platform) -> None:
    """The glue between monitors and alerts: each stored result lets the monitor's rules
    judge the series up to it; the breach opens one incident, evaluating again opens no
    second one, and a clear window resolves it."""
    from mlsteward.monitoring import create_alert_rule, list_alerts

    register_model(platform, training=inputs(5000, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "drift-alarm", model_name="fraud", window_seconds=60
    )
    create_alert_rule(
        platform, SYSTEM, "default", monitor_id=monitor.id, name="amount-drift",
        metric="drift.column.amount.drifted", value=0.5, op=">=", severity="critical",
        notifiers=[{"kind": "log"}],
    )  # fmt: skip
    record_window(platform, PAST, inputs(1500, 5, amount_shift=30.0), np.zeros(1500, int))
    record_window(platform, PAST + MINUTE, inputs(1500, 6), np.zeros(1500, int), prefix="c")

    drifted = evaluate_monitor(platform, SYSTEM, "default", "drift-alarm", PAST)
    assert drifted.metrics["drift.column.amount.drifted"] == 1.0
    (alert,) = list_alerts(platform, SYSTEM, "default", monitor_id=monitor.id)
    assert (alert.state, alert.severity, alert.opened_window_start) == (
        "firing",
        "critical",
        PAST,
    )
    evaluate_monitor(platform, SYSTEM, "default", "drift-alarm", PAST)  # the same window again
    assert [a.id for a in list_alerts(platform, SYSTEM, "default")] == [alert.id]

    clear = evaluate_monitor(platform, SYSTEM, "default", "drift-alarm", PAST + MINUTE)
    assert clear.metrics["drift.column.amount.drifted"] == 0.0
    (resolved,) = list_alerts(platform, SYSTEM, "default", monitor_id=monitor.id)
    assert (resolved.id, resolved.state, resolved.resolution) == (alert.id, "resolved", "auto")


def test_a_windows_reference_adds_the_multivariate_detector(platform: Platform) -> None:
    """With a reference period of windows the platform holds both periods' sampled rows: the
    domain classifier runs on them and catches a correlation that flipped, which no column's
    own drift shows; too few rows skip it with the reason."""
    register_model(platform)
    create_monitor(
        platform, SYSTEM, "default", "joint", model_name="fraud", window_seconds=60,
        reference={"kind": "windows", "since": "2020-01-01T00:00:00Z",
                   "until": "2020-01-01T01:00:00Z"},
    )  # fmt: skip
    rng = np.random.default_rng(11)

    def pairs(rows: int, correlation: float) -> Any:
        import pandas as pd

        x = rng.normal(size=rows)
        y = correlation * x + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
        return pd.DataFrame({"x": x, "y": y})

    baseline = dt.datetime(2020, 1, 1, 0, 10, tzinfo=dt.UTC)
    record_window(platform, baseline, pairs(3000, 0.9), np.zeros(3000, int))
    record_window(platform, PAST, pairs(3000, -0.9), np.zeros(3000, int), prefix="f")
    record_window(platform, PAST + 2 * MINUTE, pairs(20, -0.9), np.zeros(20, int), prefix="s")

    result = evaluate_monitor(platform, SYSTEM, "default", "joint", PAST)

    assert result.status == "ok", result.report.get("errors")
    assert result.metrics["drift.column.x.drifted"] == 0.0
    assert result.metrics["drift.column.y.drifted"] == 0.0
    assert result.metrics["drift.multivariate.drifted"] == 1.0
    assert result.metrics["drift.multivariate.auc"] > 0.9
    assert result.report["multivariate"]["columns"] == ["x", "y"]  # not the prediction

    few = evaluate_monitor(platform, SYSTEM, "default", "joint", PAST + 2 * MINUTE)
    assert "drift.multivariate.auc" not in few.metrics
    assert few.report["multivariate"]["skipped"].startswith("too few sampled rows (20;")
