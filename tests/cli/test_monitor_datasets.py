"""``mlsteward monitor create --dataset``: a monitor of a table dataset's new versions, shown
by ``--json`` and ``list``; bad input is one ``error:`` line and writes nothing."""

from __future__ import annotations

from pathlib import Path

from mlsteward.data import add_dataset_version, log_table_version
from mlsteward.security import SYSTEM

from ..monitoring._monitor_support import inputs
from .conftest import Cli


def _seed(cli: Cli, tmp_path: Path) -> None:
    platform = cli.platform()
    try:
        log_table_version(platform, SYSTEM, "default", "transactions", inputs(300, 0))
        folder = tmp_path / "docs"
        folder.mkdir()
        (folder / "readme.txt").write_text("not a table")
        add_dataset_version(platform, SYSTEM, "default", "docs", folder)
    finally:
        platform.close()


def test_create_a_dataset_monitor_and_refuse_bad_ones(cli: Cli, tmp_path: Path) -> None:
    _seed(cli, tmp_path)
    created = cli.json(
        "monitor", "create", "data-watch", "--dataset", "transactions", "--window-seconds", "3600"
    )
    assert created["dataset"] == "transactions"
    assert (created["model_name"], created["deployment"]) == (None, None)
    assert created["reference"] == {"kind": "dataset", "name": "transactions", "version": 1}
    listed = cli.ok("monitor", "list").stdout
    assert "dataset transactions" in listed
    assert "dataset transactions@1" in listed
    assert cli.json("monitor", "show", "data-watch")["monitor"]["dataset"] == "transactions"
    said = cli.ok("monitor", "create", "other", "--dataset", "transactions").output
    assert "watches dataset transactions" in said

    before = cli.audit_count()
    for args, message in (
        (["--dataset", "nope"], "no dataset named 'nope'"),
        (["--dataset", "docs"], "holds files, not a table"),
        (["--dataset", "transactions", "--deployment", "d"], "exactly one"),
        (["--dataset", "transactions", "--reference", "training"], "no training profile"),
        (["--dataset", "transactions", "--quality-task", "regression"], "quality is for"),
        (["--dataset", "transactions", "--sensitive", "country"], "fairness is for"),
    ):
        failed = cli.fails("monitor", "create", "third", *args)
        assert message in failed.stderr, failed.stderr
    assert cli.audit_count() == before
