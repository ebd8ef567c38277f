"""``mlsteward runs``."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from mlsteward.security import LOCAL_ADMIN, SYSTEM
from mlsteward.tracking import (
    MetricPoint,
    create_experiment,
    end_run,
    log_batch,
    start_run,
)
from mlsteward.tracking._tables import runs

from .conftest import Cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
UNKNOWN_RUN = "f" * 32


@dataclass
class Tracked:
    cli: Cli
    run: str  # running, with params, tags, metrics and an environment
    done: str  # finished, nothing logged, no environment


@pytest.fixture
def tracked(cli: Cli) -> Tracked:
    platform = cli.platform()
    try:
        create_experiment(platform, LOCAL_ADMIN, "default", "churn")
        run = start_run(
            platform,
            LOCAL_ADMIN,
            "default",
            "churn",
            name="baseline",
            tags={"team": "growth"},
            environment={
                "python": "3.12.4",
                "host": "gpu-07",
                "git": {"commit": COMMIT, "branch": "main", "dirty": True},
                "packages": {"numpy": "2.0.0"},
            },
        )
        log_batch(
            platform,
            LOCAL_ADMIN,
            run.id,
            params={"lr": "0.01"},
            metrics=[
                MetricPoint("loss", 0.9, 0, 1_700_000_000_000),
                MetricPoint("loss", 0.5, 1, 1_700_000_001_500),
                MetricPoint("auc", math.nan, 0, 1_700_000_000_000),
            ],
        )
        done = start_run(platform, LOCAL_ADMIN, "default", "churn", name="quick")
        end_run(platform, SYSTEM, done.id)
    finally:
        platform.close()
    return Tracked(cli, run.id, done.id)


def test_show_json(tracked: Tracked) -> None:
    shown = tracked.cli.json("runs", "show", tracked.run)
    assert shown["id"] == tracked.run
    assert shown["name"] == "baseline"
    assert shown["project"] == "default"
    assert shown["experiment"] == "churn"
    assert shown["status"] == "RUNNING"
    assert shown["end_time"] is None
    assert shown["params"] == {"lr": "0.01"}
    assert shown["tags"] == {"team": "growth"}
    assert shown["metrics"] == {"loss": 0.5, "auc": "NaN"}
    assert shown["environment"]["packages"] == {"numpy": "2.0.0"}
    assert shown["environment_summary"] == {
        "python": "3.12.4",
        "git_commit": COMMIT,
        "git_dirty": True,
        "host": "gpu-07",
    }


def test_show_table(tracked: Tracked) -> None:
    result = tracked.cli.ok("runs", "show", tracked.run)
    out = result.stdout
    for expected in [
        tracked.run,
        "baseline",
        "churn",
        "RUNNING",
        "3.12.4",
        f"{COMMIT} (uncommitted changes)",
        "gpu-07",
        "lr",
        "0.01",
        "growth",
        "0.5",
        "NaN",
    ]:
        assert expected in out, expected
    assert "0.9" not in out  # only the latest value of each metric
    assert result.stderr == ""


def test_show_a_run_with_nothing_logged(tracked: Tracked) -> None:
    shown = tracked.cli.json("runs", "show", tracked.done)
    assert shown["status"] == "FINISHED"
    assert shown["end_time"] is not None
    assert shown["environment_summary"] == {
        "python": None,
        "git_commit": None,
        "git_dirty": None,
        "host": None,
    }
    result = tracked.cli.ok("runs", "show", tracked.done)
    assert "FINISHED" in result.stdout
    assert "git commit" not in result.stdout
    for empty in ["no parameters", "no tags", "no metrics"]:
        assert empty in result.stderr


def test_history(tracked: Tracked) -> None:
    points = tracked.cli.json("runs", "history", tracked.run, "loss")
    assert points == [
        {"key": "loss", "value": 0.9, "step": 0, "timestamp": 1_700_000_000_000},
        {"key": "loss", "value": 0.5, "step": 1, "timestamp": 1_700_000_001_500},
    ]
    assert tracked.cli.json("runs", "history", tracked.run, "auc")[0]["value"] == "NaN"
    table = tracked.cli.ok("runs", "history", tracked.run, "loss").stdout
    assert "0.9" in table
    assert "2023-11-14 22:13:21.500" in table


def test_end_defaults_to_finished_and_takes_any_case(tracked: Tracked) -> None:
    result = tracked.cli.ok("runs", "end", tracked.run, "--status", "failed")
    assert f"run {tracked.run} ended as FAILED" in result.stderr
    shown = tracked.cli.json("runs", "show", tracked.run)
    assert shown["status"] == "FAILED"
    assert shown["end_time"] is not None

    cli = tracked.cli
    platform = cli.platform()
    try:
        other = start_run(platform, LOCAL_ADMIN, "default", "churn").id
    finally:
        platform.close()
    ended = cli.json("runs", "end", other)
    assert ended["id"] == other
    assert ended["status"] == "FINISHED"


def test_delete_and_restore(tracked: Tracked) -> None:
    events = tracked.cli.audit_count()
    deleted = tracked.cli.json("runs", "delete", tracked.done)
    assert deleted["deleted_at"] is not None
    assert tracked.cli.json("runs", "show", tracked.done)["deleted_at"] is not None
    result = tracked.cli.ok("runs", "restore", tracked.done)
    assert f"restored run {tracked.done}" in result.stderr
    assert tracked.cli.json("runs", "show", tracked.done)["deleted_at"] is None
    assert tracked.cli.audit_count() == events + 2


def _silence(cli: Cli, run_id: str, seconds: float) -> None:
    """Pretend the run's last heartbeat was ``seconds`` ago."""
    platform = cli.platform()
    try:
        with platform.db.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds))
            )
    finally:
        platform.close()


def test_reap_kills_only_silent_running_runs(tracked: Tracked) -> None:
    cli = tracked.cli
    _silence(cli, tracked.run, 600)
    _silence(cli, tracked.done, 600)  # finished: not a candidate
    quiet = cli.ok("runs", "reap", "--timeout-seconds", "900")
    assert "no running run has been silent for 900 s" in quiet.stderr
    assert cli.json("runs", "show", tracked.run)["status"] == "RUNNING"

    reaped = cli.json("runs", "reap")
    assert reaped == {"timeout_seconds": 300.0, "killed": [tracked.run]}
    shown = cli.json("runs", "show", tracked.run)
    assert shown["status"] == "KILLED"
    assert cli.json("runs", "reap") == {"timeout_seconds": 300.0, "killed": []}


def test_reap_text_names_the_runs(tracked: Tracked) -> None:
    _silence(tracked.cli, tracked.run, 600)
    result = tracked.cli.ok("runs", "reap")
    assert f"marked 1 run(s) KILLED: {tracked.run}" in result.stderr


def test_reap_timeout_defaults_to_the_setting(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    _silence(tracked.cli, tracked.run, 100)
    monkeypatch.setenv("MLSTEWARD_RUN_HEARTBEAT_TIMEOUT_SECONDS", "120")
    assert tracked.cli.json("runs", "reap")["killed"] == []
    monkeypatch.setenv("MLSTEWARD_RUN_HEARTBEAT_TIMEOUT_SECONDS", "60")
    assert tracked.cli.json("runs", "reap") == {"timeout_seconds": 60.0, "killed": [tracked.run]}


@pytest.mark.parametrize("timeout", ["0", "4.5", "-300", "soon"])
def test_reap_timeout_below_the_floor_is_a_usage_error(tracked: Tracked, timeout: str) -> None:
    events = tracked.cli.audit_count()
    result = tracked.cli("runs", "reap", "--timeout-seconds", timeout)
    assert result.exit_code == 2
    assert "--timeout-seconds" in result.stderr
    assert tracked.cli.audit_count() == events
    assert tracked.cli.json("runs", "show", tracked.run)["status"] == "RUNNING"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "xyz"], "invalid run id 'xyz': a run id is 32 lowercase hex characters"),
        (["runs", "show", "A" * 32], "invalid run id"),
        (["runs", "show", UNKNOWN_RUN], f"no run with id '{UNKNOWN_RUN}'"),
        (["runs", "show", UNKNOWN_RUN, "--json"], "no run with id"),
        (["runs", "history", "xyz", "loss"], "invalid run id 'xyz'"),
        (["runs", "history", UNKNOWN_RUN, "loss"], "no run with id"),
        (["runs", "history", "{run}", "acc"], "has no metric 'acc'; it has auc, loss"),
        (["runs", "history", "{done}", "loss"], "has no metric 'loss'; it has logged no metrics"),
        (["runs", "end", "{run}", "--status", "DONE"], "unknown run status 'DONE'"),
        (["runs", "end", "{run}", "--status", "RUNNING"], "FINISHED, FAILED, KILLED"),
        (["runs", "end", "{done}"], "is FINISHED; a finished run takes no more data"),
        (["runs", "end", "../etc"], "invalid run id"),
        (["runs", "end", UNKNOWN_RUN, "--json"], "no run with id"),
        (["runs", "delete", "xyz"], "invalid run id"),
        (["runs", "delete", UNKNOWN_RUN], "no run with id"),
        (["runs", "restore", "{run}"], "is already not deleted"),
        (["runs", "restore", UNKNOWN_RUN], "no run with id"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    tracked: Tracked, args: list[str], message: str
) -> None:
    args = [a.format(run=tracked.run, done=tracked.done) for a in args]
    cli = tracked.cli
    before = [cli.json("runs", "show", r) for r in (tracked.run, tracked.done)]
    events = cli.audit_count()
    result = cli.fails(*args)
    assert message in result.stderr
    assert result.stdout == ""
    assert cli.audit_count() == events
    assert [cli.json("runs", "show", r) for r in (tracked.run, tracked.done)] == before


def test_deleting_twice_is_refused(tracked: Tracked) -> None:
    tracked.cli.ok("runs", "delete", tracked.run)
    events = tracked.cli.audit_count()
    result = tracked.cli.fails("runs", "delete", tracked.run)
    assert f"run {tracked.run} is already deleted" in result.stderr
    assert tracked.cli.audit_count() == events


def _ids(page: dict[str, object]) -> list[str]:
    runs = page["runs"]
    assert isinstance(runs, list)
    return [run["id"] for run in runs]


def test_list_newest_first(tracked: Tracked) -> None:
    page = tracked.cli.json("runs", "list")
    assert _ids(page) == [tracked.done, tracked.run]
    assert page["next_page_token"] is None
    assert page["runs"][1]["metrics"] == {"loss": 0.5, "auc": "NaN"}
    result = tracked.cli.ok("runs", "list", "--project", "default")
    for expected in [tracked.run, tracked.done, "baseline", "churn", "FINISHED", "loss=0.5"]:
        assert expected in result.stdout, expected
    assert result.stderr == ""


def test_list_filters_and_orders(tracked: Tracked) -> None:
    cli = tracked.cli
    assert _ids(cli.json("runs", "list", "--filter", "metrics.loss < 0.6")) == [tracked.run]
    finished = cli.json("runs", "list", "--filter", "attributes.status = 'FINISHED'")
    assert _ids(finished) == [tracked.done]
    by_name = cli.json("runs", "list", "--order-by", "attributes.name asc")
    assert _ids(by_name) == [tracked.run, tracked.done]
    assert cli.json("runs", "list", "--filter", "params.lr = '0.02'")["runs"] == []
    nothing = cli.ok("runs", "list", "--filter", "params.lr = '0.02'")
    assert "no runs match" in nothing.stderr


def test_list_pages(tracked: Tracked) -> None:
    first = tracked.cli.json("runs", "list", "--max-results", "1")
    assert _ids(first) == [tracked.done]
    token = first["next_page_token"]
    assert isinstance(token, str)
    second = tracked.cli.json("runs", "list", "--max-results", "1", "--page-token", token)
    assert _ids(second) == [tracked.run]
    assert second["next_page_token"] is None
    human = tracked.cli.ok("runs", "list", "--max-results", "1")
    assert f"more runs: add --page-token {token}" in human.stderr


def test_list_by_experiment_and_deleted(tracked: Tracked) -> None:
    cli = tracked.cli
    platform = cli.platform()
    try:
        create_experiment(platform, LOCAL_ADMIN, "default", "uplift")
        other = start_run(platform, LOCAL_ADMIN, "default", "uplift").id
    finally:
        platform.close()
    assert _ids(cli.json("runs", "list", "--experiment", "uplift")) == [other]
    both = cli.json("runs", "list", "--experiment", "churn", "--experiment", "uplift")
    assert set(_ids(both)) == {tracked.run, tracked.done, other}
    assert "uplift" in cli.ok("runs", "list", "--experiment", "uplift").stdout
    cli.ok("runs", "delete", tracked.done)
    assert _ids(cli.json("runs", "list", "--experiment", "churn")) == [tracked.run]
    with_deleted = cli.json("runs", "list", "--experiment", "churn", "--deleted")
    assert _ids(with_deleted) == [tracked.done, tracked.run]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], "no project named 'nope'"),
        (["--experiment", "ghost"], "no experiment named 'ghost' in 'default'"),
        (["--experiment", "churn", "--experiment", "ghost"], "no experiment named 'ghost'"),
        (["--filter", "metrics.loss >"], "expected a value after '>'"),
        (["--filter", "loss < 1"], "at position"),
        (["--order-by", "metrics.loss sideways"], "order_by[0]"),
        (["--max-results", "0"], "use 1 to 10000"),
        (["--max-results", "10001"], "use 1 to 10000"),
        (["--page-token", "not-a-token"], "page_token is not a token returned by this search"),
    ],
)
def test_list_bad_input_fails_cleanly(tracked: Tracked, args: list[str], message: str) -> None:
    events = tracked.cli.audit_count()
    result = tracked.cli.fails("runs", "list", *args)
    assert message in result.stderr
    assert result.stdout == ""
    assert tracked.cli.audit_count() == events


def test_a_page_token_belongs_to_its_search(tracked: Tracked) -> None:
    token = tracked.cli.json("runs", "list", "--max-results", "1")["next_page_token"]
    result = tracked.cli.fails(
        "runs", "list", "--max-results", "1", "--page-token", token, "--filter", "tags.team = 'x'"
    )
    assert "belongs to a different search" in result.stderr


def test_compare_and_best(cli: Cli) -> None:
    platform = cli.platform()
    try:
        create_experiment(platform, SYSTEM, "default", "cmp")
        now = int(time.time() * 1000)
        ids = []
        for lr, auc in (("0.1", 0.7), ("0.2", 0.9)):
            run_id = start_run(platform, SYSTEM, "default", "cmp").id
            log_batch(
                platform,
                SYSTEM,
                run_id,
                metrics=[MetricPoint("auc", auc, 0, now)],
                params={"lr": lr},
            )
            ids.append(run_id)
    finally:
        platform.close()
    data = cli.json("runs", "compare", *ids, "--json")
    assert data["differing_params"] == ["lr"]
    assert data["metrics"][0]["values"] == {ids[0]: [0.7], ids[1]: [0.9]}
    table = cli.ok("runs", "compare", *ids)
    assert "* params.lr" in table.stdout
    assert cli.json("runs", "best", "auc", "--json")["id"] == ids[1]
    assert cli.json("runs", "best", "auc", "--min", "--json")["id"] == ids[0]
    before = cli.audit_count()
    bad = cli.fails("runs", "compare", "not-a-run-id")
    assert "32 lowercase hex" in bad.stderr
    missing = cli.fails("runs", "best", "never")
    assert "has logged metric 'never'" in missing.stderr
    assert cli.audit_count() == before
