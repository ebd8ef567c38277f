"""OpenLineage: our runs as RunEvents that the reference client's typed event classes accept,
and events from other systems (a Spark-like job) into the lineage graph."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from openlineage.client.generated.base import (
    EventType,
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
)
from openlineage.client.serde import Serde
from sqlalchemy import func, select

from mlsteward.data._lineage import lineage_downstream, lineage_upstream, record_dataset_input
from mlsteward.data._openlineage import (
    RUN_EVENT_SCHEMA_URL,
    ingest_openlineage_event,
    openlineage_events_for_run,
)
from mlsteward.data._tables import lineage_edges, lineage_nodes
from mlsteward.errors import Conflict, InvalidArgument, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_project, list_audit_events
from mlsteward.tracking import end_run

from ._lineage_rows import add_dataset, new_run, register_from
from .test_lineage import _user

SPARK_RUN = "0176a8c2-fe01-7439-87e6-56a1a1b4029f"


def typed_event(event: dict[str, Any]) -> RunEvent:
    """The event as openlineage-python's spec classes (generated from OpenLineage.json 2-0-2):
    their validators check runId (UUID), eventTime (ISO 8601 with a time), producer and
    schemaURL (URIs); a missing required field is a TypeError, an unknown eventType a
    ValueError."""
    return RunEvent(
        eventType=EventType(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        inputs=[InputDataset(d["namespace"], d["name"]) for d in event["inputs"]],
        outputs=[OutputDataset(d["namespace"], d["name"]) for d in event["outputs"]],
        producer=event["producer"],
    )


def spark_event(event_type: str = "START", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": event_type,
        "eventTime": "2026-11-29T08:00:00.000Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/spark",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": SPARK_RUN, "facets": {"spark_version": {"spark-version": "4.0"}}},
        "job": {"namespace": "spark://etl", "name": "daily_features.write"},
        "inputs": [
            {"namespace": "mlsteward://default", "name": "transactions@1"},
            {"namespace": "s3://raw", "name": "events/2026-11-29", "facets": {"schema": {}}},
        ],
        "outputs": [{"namespace": "postgres://warehouse:5432", "name": "analytics.features"}],
    }
    event.update(changes)
    return event


def _rows(platform: Platform) -> tuple[int, int]:
    with platform.db.read() as conn:
        nodes = conn.execute(select(func.count()).select_from(lineage_nodes)).scalar_one()
        edges = conn.execute(select(func.count()).select_from(lineage_edges)).scalar_one()
    return int(nodes), int(edges)


def test_events_for_a_finished_run_match_the_spec_classes(platform: Platform) -> None:
    run_id = new_run(platform, experiment="fraud-training")
    (version_id,) = add_dataset(platform, "transactions")
    record_dataset_input(platform, SYSTEM, run_id, version_id)
    register_from(platform, run_id)
    end_run(platform, SYSTEM, run_id, "FINISHED")
    events = openlineage_events_for_run(platform, SYSTEM, run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        typed = typed_event(event)
        # Byte for byte what the reference client would send for the same event.
        assert Serde.to_dict(typed) == event
        assert typed.schemaURL == RUN_EVENT_SCHEMA_URL
    start = events[0]
    assert start["run"]["runId"] == str(uuid.UUID(run_id))
    assert start["job"] == {
        "namespace": "mlsteward://default",
        "name": "fraud-training",
        "facets": {},
    }
    assert [(d["namespace"], d["name"]) for d in start["inputs"]] == [
        ("mlsteward://default", "transactions@1")
    ]
    assert [d["name"] for d in start["outputs"]] == ["models:/fraud/1"]
    assert start["eventTime"].endswith("Z")
    assert events[1]["eventTime"] >= start["eventTime"]


def test_running_failed_and_killed_runs(platform: Platform) -> None:
    """A running run has only its START; FAILED and KILLED end with FAIL and ABORT."""
    running = openlineage_events_for_run(platform, SYSTEM, new_run(platform))
    assert [e["eventType"] for e in running] == ["START"]
    assert running[0]["inputs"] == []
    for status, last in (("FAILED", "FAIL"), ("KILLED", "ABORT")):
        run_id = new_run(platform)
        end_run(platform, SYSTEM, run_id, status)
        events = openlineage_events_for_run(platform, SYSTEM, run_id)
        assert [e["eventType"] for e in events] == ["START", last]
        typed_event(events[1])


def test_events_need_read_access(platform: Platform) -> None:
    create_project(platform, SYSTEM, "secret")
    run_id = new_run(platform, project="secret")
    outsider = _user(platform, "otto", {"default": "viewer"})
    with pytest.raises(PermissionDenied):
        openlineage_events_for_run(platform, outsider, run_id)
    with pytest.raises(InvalidArgument, match="run id"):
        openlineage_events_for_run(platform, SYSTEM, "../etc")
    # A run the reader can see that read a dataset it cannot: the dataset is left out.
    (hidden,) = add_dataset(platform, "salaries", project="secret")
    (public,) = add_dataset(platform, "transactions")
    visible_run = new_run(platform)
    record_dataset_input(platform, SYSTEM, visible_run, hidden)
    record_dataset_input(platform, SYSTEM, visible_run, public)
    seen = openlineage_events_for_run(platform, outsider, visible_run)[0]["inputs"]
    assert [d["name"] for d in seen] == ["transactions@1"]
    everything = openlineage_events_for_run(platform, SYSTEM, visible_run)[0]["inputs"]
    assert [d["name"] for d in everything] == ["salaries@1", "transactions@1"]


def test_ingested_spark_job_links_to_our_dataset_version(backend_platform: Platform) -> None:
    platform = backend_platform
    (version_id,) = add_dataset(platform, "transactions")
    first = ingest_openlineage_event(platform, SYSTEM, "default", spark_event("START"))
    assert first.new_edges == 3
    assert first.inputs[0] == f"dataset_version:{version_id}"
    again = ingest_openlineage_event(platform, SYSTEM, "default", spark_event("COMPLETE"))
    assert again.new_edges == 0
    assert again.to_json()["run_node"] == f"openlineage_run:{SPARK_RUN}"
    # One run node, two foreign dataset nodes; three edges, also after the repeat.
    assert _rows(platform) == (3, 3)
    down = lineage_downstream(platform, SYSTEM, "dataset:transactions@1")
    assert [(n.node_type, n.label) for n in down.nodes] == [
        ("dataset_version", "transactions@1"),
        ("openlineage_run", "daily_features.write"),
        ("openlineage_dataset", "analytics.features"),
    ]
    up = lineage_upstream(
        platform, SYSTEM, "openlineage:postgres://warehouse:5432/analytics.features"
    )
    assert {n.label for n in up.nodes} == {
        "analytics.features",
        "daily_features.write",
        "transactions@1",
        "events/2026-11-29",
    }
    with platform.db.read() as conn:
        facets = conn.execute(
            select(lineage_nodes.c.facets).where(lineage_nodes.c.node_id == SPARK_RUN)
        ).scalar_one()
    assert facets["eventType"] == "COMPLETE"
    assert facets["facets"] == ["spark_version"]  # facet names kept, not their content
    actions = [e.action for e in list_audit_events(platform, SYSTEM)]
    assert actions.count("lineage.openlineage.ingest") == 2


def _without(path: str) -> dict[str, Any]:
    event = spark_event()
    *parents, last = path.split(".")
    target = event
    for key in parents:
        target = target[key]
    del target[last]
    return event


def _with(path: str, value: Any) -> dict[str, Any]:
    event = copy.deepcopy(spark_event())
    *parents, last = path.split(".")
    target: Any = event
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return event


MALFORMED_EVENTS = [
    (_with("eventType", "DONE"), "eventType"),
    (_without("eventTime"), "eventTime"),
    (_with("eventTime", "2026-11-29"), "eventTime"),
    (_with("eventTime", "yesterday"), "eventTime"),
    (_with("eventTime", "2026-11-29T08:00:00"), "eventTime"),
    (_without("run.runId"), "run.runId"),
    (_with("run.runId", "not-a-uuid"), "run.runId"),
    (_with("run", "x"), "run"),
    (_without("job.namespace"), "job.namespace"),
    (_with("job.name", ""), "job.name"),
    (_with("job.name", "x" * 301), "job.name"),
    (_without("producer"), "producer"),
    (_with("producer", "spark"), "producer"),
    (_without("schemaURL"), "schemaURL"),
    (_with("inputs", {"namespace": "x"}), "inputs"),
    (_with("inputs.0", "transactions"), "inputs[0]"),
    (_with("inputs.1.name", None), "inputs[1].name"),
    (_with("outputs.0.namespace", 7), "outputs[0].namespace"),
    (_with("outputs.0.facets", []), "outputs[0].facets"),
    (_with("inputs.0.name", "transactions@9"), "inputs[0]"),
    (_with("inputs.0.namespace", "mlsteward://nowhere"), "inputs[0]"),
    (_with("outputs", [{"namespace": "n", "name": str(i)} for i in range(201)]), "outputs"),
    (_with("job.name", "a\x00b"), "job.name"),
]


def test_malformed_events_name_the_field_and_write_nothing(platform: Platform) -> None:
    add_dataset(platform, "transactions")
    before = platform.audit.count(platform.db)
    for event, field in MALFORMED_EVENTS:
        with pytest.raises(InvalidArgument, match="invalid OpenLineage event") as caught:
            ingest_openlineage_event(platform, SYSTEM, "default", event)
        assert caught.value.details["field"] == field
        assert _rows(platform) == (0, 0)
    assert platform.audit.count(platform.db) == before


NOT_EVENTS: list[tuple[Any, str]] = [
    ([], "JSON object"),
    ({"eventTime": float("nan"), "x": object()}, "plain JSON"),
    (_with("run.facets", {"big": "x" * 1_000_001}), "at most 1000000 bytes"),
]


def test_oversized_and_non_json_events_are_refused(platform: Platform) -> None:
    for event, message in NOT_EVENTS:
        with pytest.raises(InvalidArgument, match=message):
            ingest_openlineage_event(platform, SYSTEM, "default", event)
    assert _rows(platform) == (0, 0)


def test_ingest_needs_editor_and_keeps_runs_in_their_project(platform: Platform) -> None:
    add_dataset(platform, "transactions")
    create_project(platform, SYSTEM, "other")
    viewer = _user(platform, "vic", {"default": "viewer"})
    with pytest.raises(PermissionDenied, match="editor"):
        ingest_openlineage_event(platform, viewer, "default", spark_event())
    ingest_openlineage_event(platform, SYSTEM, "default", spark_event())
    with pytest.raises(Conflict, match="another project"):
        ingest_openlineage_event(platform, SYSTEM, "other", spark_event(inputs=[], outputs=[]))
    # A job in another project may not claim to read a dataset its reporter cannot read.
    editor = _user(platform, "eve", {"other": "editor"})
    with pytest.raises(PermissionDenied):
        ingest_openlineage_event(
            platform, editor, "other", spark_event(run={"runId": str(uuid.uuid4())})
        )
