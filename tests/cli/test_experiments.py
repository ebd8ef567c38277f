"""``mlsteward experiments``."""

from __future__ import annotations

import pytest

from mlsteward.security import LOCAL_ADMIN, create_project
from mlsteward.tracking import create_experiment, set_experiment_deleted

from .conftest import Cli


@pytest.fixture
def tracked(cli: Cli) -> Cli:
    """A home whose default project has experiments churn (live) and old (deleted), and a
    project fraud with no experiments."""
    platform = cli.platform()
    try:
        create_experiment(platform, LOCAL_ADMIN, "default", "churn", "Churn models")
        create_experiment(platform, LOCAL_ADMIN, "default", "old")
        set_experiment_deleted(platform, LOCAL_ADMIN, "default", "old", True)
        create_project(platform, LOCAL_ADMIN, "fraud")
    finally:
        platform.close()
    return cli


def test_list_hides_deleted_experiments_unless_asked(tracked: Cli) -> None:
    listed = tracked.json("experiments", "list")
    assert [e["name"] for e in listed] == ["churn"]
    assert listed[0]["description"] == "Churn models"
    assert listed[0]["created_by"] == "local-admin"
    assert listed[0]["deleted_at"] is None
    with_deleted = tracked.json("experiments", "list", "--deleted")
    assert [e["name"] for e in with_deleted] == ["churn", "old"]
    assert with_deleted[1]["deleted_at"] is not None

    table = tracked.ok("experiments", "list").stdout
    assert "churn" in table
    assert "Churn models" in table
    assert "old" not in table
    assert "deleted (UTC)" in tracked.ok("experiments", "list", "--deleted").stdout


def test_list_of_a_project_without_experiments(tracked: Cli) -> None:
    assert tracked.json("experiments", "list", "--project", "fraud") == []
    result = tracked.ok("experiments", "list", "--project", "fraud")
    assert result.stdout == ""
    assert "no experiments in 'fraud'" in result.stderr


def test_create_in_a_project(tracked: Cli) -> None:
    created = tracked.json(
        "experiments", "create", "scoring", "--project", "fraud", "--description", "v2 scoring"
    )
    assert created["name"] == "scoring"
    assert created["description"] == "v2 scoring"
    listed = tracked.json("experiments", "list", "--project", "fraud")
    assert [(e["id"], e["name"]) for e in listed] == [(created["id"], "scoring")]
    # The same name in another project is another experiment.
    human = tracked.ok("experiments", "create", "scoring")
    assert "created experiment 'scoring' in 'default'" in human.stderr
    assert human.stdout == ""
    assert [e["name"] for e in tracked.json("experiments", "list")] == ["churn", "scoring"]


def test_delete_and_restore(tracked: Cli) -> None:
    deleted = tracked.json("experiments", "delete", "churn")
    assert deleted["name"] == "churn"
    assert deleted["deleted_at"] is not None
    assert tracked.json("experiments", "list") == []
    restored = tracked.ok("experiments", "restore", "churn")
    assert "restored experiment 'churn' in 'default'" in restored.stderr
    assert [e["name"] for e in tracked.json("experiments", "list")] == ["churn"]
    assert tracked.json("experiments", "restore", "old")["deleted_at"] is None
    assert [e["name"] for e in tracked.json("experiments", "list")] == ["churn", "old"]


def test_each_change_is_audited(tracked: Cli) -> None:
    events = tracked.audit_count()
    tracked.ok("experiments", "create", "scoring")
    tracked.ok("experiments", "delete", "scoring")
    tracked.ok("experiments", "restore", "scoring")
    assert tracked.audit_count() == events + 3
    tail = tracked.ok("audit", "tail", "-n", "3", "--json").stdout.splitlines()
    assert '"experiment.restore"' in tail[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiments", "list", "--project", "nope"], "no project named 'nope'"),
        (["experiments", "create", "churn"], "an experiment named 'churn' already exists"),
        (["experiments", "create", "a/b"], "without '/'"),
        (["experiments", "create", " "], "must be a non-empty string"),
        (["experiments", "create", "x", "--project", "nope"], "no project named 'nope'"),
        (["experiments", "delete", "ghost"], "no experiment named 'ghost'"),
        (["experiments", "delete", "churn", "--project", "fraud"], "no experiment named 'churn'"),
        (["experiments", "delete", "old"], "experiment 'old' is already deleted"),
        (["experiments", "restore", "churn"], "experiment 'churn' is already not deleted"),
        (["experiments", "restore", "ghost", "--json"], "no experiment named 'ghost'"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    tracked: Cli, args: list[str], message: str
) -> None:
    before = tracked.json("experiments", "list", "--deleted")
    events = tracked.audit_count()
    result = tracked.fails(*args)
    assert message in result.stderr
    assert result.stdout == ""
    assert tracked.audit_count() == events
    assert tracked.json("experiments", "list", "--deleted") == before
