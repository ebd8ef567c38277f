"""``mlsteward lineage``: upstream and downstream trees (and --json), a run's OpenLineage
events, ingesting events from a file or stdin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsteward.data import record_dataset_input
from mlsteward.security import SYSTEM

from ..data._lineage_rows import add_dataset, new_run, register_from
from ..data.test_openlineage import SPARK_RUN, spark_event
from .conftest import Cli


@pytest.fixture
def trained(cli: Cli) -> tuple[Cli, str]:
    """transactions@1 read by a run that produced fraud v1."""
    platform = cli.platform()
    try:
        (version_id,) = add_dataset(platform, "transactions")
        run_id = new_run(platform)
        record_dataset_input(platform, SYSTEM, run_id, version_id)
        register_from(platform, run_id)
    finally:
        platform.close()
    return cli, run_id


def test_upstream_and_downstream_trees(trained: tuple[Cli, str]) -> None:
    cli, run_id = trained
    out = cli.ok("lineage", "upstream", "models:/fraud/1").stdout
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    assert lines[0] == "[model_version] fraud v1"
    assert f"produced: [run] run {run_id[:8]}… (fit)" in lines[1]
    assert "input_of: [dataset_version] transactions@1" in lines[2]
    out = cli.ok("lineage", "downstream", "dataset:transactions@1", "--depth", "1").stdout
    assert "transactions@1" in out
    assert "[run]" in out
    assert "fraud v1" not in out


def test_json_output(trained: tuple[Cli, str]) -> None:
    cli, run_id = trained
    graph = cli.json("lineage", "downstream", "dataset:transactions@1")
    assert [n["label"] for n in graph["nodes"]][-1] == "fraud v1"
    assert graph["direction"] == "downstream"
    assert {e["relation"] for e in graph["edges"]} == {"input_of", "produced"}
    up = cli.json("lineage", "upstream", f"run:{run_id}", "--depth", "1")
    assert [n["type"] for n in up["nodes"]] == ["run", "dataset_version"]


def test_events_are_json_lines(trained: tuple[Cli, str]) -> None:
    cli, run_id = trained
    out = cli.ok("lineage", "events", run_id).stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["eventType"] for e in events] == ["START"]
    assert events[0]["inputs"][0]["name"] == "transactions@1"
    assert events[0]["outputs"][0]["name"] == "models:/fraud/1"


def test_ingest_from_a_file_and_from_stdin(trained: tuple[Cli, str], tmp_path: Path) -> None:
    cli, _ = trained
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        json.dumps(spark_event("START")) + "\n\n" + json.dumps(spark_event("COMPLETE")) + "\n"
    )
    result = cli.ok("lineage", "ingest", str(lines))
    assert "ingested 2 event(s) into 'default': 3 new edge(s)" in result.stderr
    array = json.dumps([spark_event("COMPLETE")])
    assert cli.json("lineage", "ingest", "-", input=array) == [
        {
            "run_node": f"openlineage_run:{SPARK_RUN}",
            "event_type": "COMPLETE",
            "inputs": [
                cli.json("lineage", "upstream", "dataset:transactions@1")["start"],
                "openlineage_dataset:s3://raw/events/2026-11-29",
            ],
            "outputs": ["openlineage_dataset:postgres://warehouse:5432/analytics.features"],
            "new_edges": 0,
        }
    ]
    down = cli.json("lineage", "downstream", "dataset:transactions@1")
    assert "daily_features.write" in [n["label"] for n in down["nodes"]]


def test_bad_input_fails_cleanly(trained: tuple[Cli, str], tmp_path: Path) -> None:
    cli, _ = trained
    assert "<name>@<version>" in cli.fails("lineage", "upstream", "dataset:transactions").stderr
    assert "no dataset version" in cli.fails("lineage", "upstream", "dataset:nope@1").stderr
    assert "run id" in cli.fails("lineage", "events", "xyz").stderr
    assert "no such file" in cli.fails("lineage", "ingest", str(tmp_path / "none.json")).stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(spark_event()) + "\n{not json\n")
    assert "line 2: not a JSON document" in cli.fails("lineage", "ingest", str(bad)).stderr
    broken = json.dumps([{**spark_event(), "run": {"runId": "x"}}])
    result = cli.fails("lineage", "ingest", "-", input=broken)
    assert "event 1: invalid OpenLineage event: run.runId must be a UUID" in result.stderr
    assert "holds no events" in cli.fails("lineage", "ingest", "-", input="  ").stderr
    assert cli("lineage", "upstream", "run:" + "0" * 32, "--depth", "0").exit_code == 2
