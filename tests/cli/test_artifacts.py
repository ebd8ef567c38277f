"""``mlsteward artifacts``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsteward.security import LOCAL_ADMIN
from mlsteward.tracking import create_experiment, end_run, start_run

from .conftest import Cli


@pytest.fixture
def run_id(cli: Cli) -> str:
    platform = cli.platform()
    try:
        create_experiment(platform, LOCAL_ADMIN, "default", "e")
        return start_run(platform, LOCAL_ADMIN, "default", "e").id
    finally:
        platform.close()


def test_put_ls_get_files_and_folders(cli: Cli, run_id: str, tmp_path: Path) -> None:
    local = tmp_path / "report"
    (local / "plots").mkdir(parents=True)
    (local / "summary.md").write_text("# good\n")
    (local / "plots" / "roc.svg").write_text("<svg/>")
    single = tmp_path / "model.bin"
    single.write_bytes(b"\x00weights")
    cli.ok("artifacts", "put", run_id, str(single), "--path", "model")
    assert "stored 2 artifact(s)" in cli.ok("artifacts", "put", run_id, str(local)).stderr
    listing = cli.json("artifacts", "ls", run_id)["artifacts"]
    assert [(e["path"], e["is_dir"]) for e in listing] == [
        ("model", True),
        ("plots", True),
        ("summary.md", False),
    ]
    inside = cli.json("artifacts", "ls", run_id, "--prefix", "model")["artifacts"]
    assert [(e["path"], e["size"]) for e in inside] == [("model/model.bin", 8)]
    assert "model/" in cli.ok("artifacts", "ls", run_id).stdout
    cli.ok("artifacts", "get", run_id, "model/model.bin", str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == b"\x00weights"
    cli.ok("artifacts", "get", run_id, "plots", str(tmp_path / "plots-copy"))
    assert (tmp_path / "plots-copy" / "roc.svg").read_text() == "<svg/>"


def test_bad_input_fails_cleanly_and_writes_nothing(cli: Cli, run_id: str, tmp_path: Path) -> None:
    local = tmp_path / "a.txt"
    local.write_text("a")
    before = cli.audit_count()
    for bad in ["../up", "/abs", "a%2fb", "a\\b"]:
        result = cli.fails("artifacts", "put", run_id, str(local), "--path", bad)
        assert "artifact path" in result.stderr
    assert "no such file" in cli.fails("artifacts", "put", run_id, str(tmp_path / "x")).stderr
    assert "no artifact" in cli.fails("artifacts", "get", run_id, "nope", str(tmp_path)).stderr
    assert cli.fails("artifacts", "ls", "not-a-run-id").stderr.startswith("error: invalid run id")
    assert cli.audit_count() == before
    assert cli.json("artifacts", "ls", run_id) == {"artifacts": []}
    platform = cli.platform()
    try:
        end_run(platform, LOCAL_ADMIN, run_id)
    finally:
        platform.close()
    assert "finished run" in cli.fails("artifacts", "put", run_id, str(local)).stderr
