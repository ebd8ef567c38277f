"""``mlsteward validate`` and ``mlsteward suites``: exit codes, --json, --docs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..cli.conftest import Cli

PASSING = (
    "name: amounts\nexpectations:\n"
    "  - expect_column_values_to_be_between: {column: amount, min_value: 0}\n"
)
FAILING = PASSING.replace("min_value: 0", "min_value: 10").replace("amounts", "strict")


def write(tmp_path: Path) -> tuple[Path, Path, Path]:
    data = tmp_path / "data.parquet"
    pd.DataFrame({"amount": [1.0, 2.0, 30.0]}).to_parquet(data)
    passing, failing = tmp_path / "passing.yaml", tmp_path / "failing.yaml"
    passing.write_text(PASSING)
    failing.write_text(FAILING)
    return data, passing, failing


def test_validate_a_file_exit_codes_json_and_docs(cli: Cli, tmp_path: Path) -> None:
    data, passing, failing = write(tmp_path)
    ok = cli("validate", str(data), "--suite", str(passing), "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["success"] is True
    docs = tmp_path / "docs.html"
    bad = cli("validate", str(data), "--suite", str(failing), "--docs", str(docs))
    assert bad.exit_code == 1
    assert "validation failed" in bad.output
    assert "expect_column_values_to_be_between" in docs.read_text()
    as_json = cli("validate", str(data), "--suite", str(failing), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["results"][0]["unexpected_count"] == 2
    missing = cli("validate", str(tmp_path / "nope.parquet"), "--suite", str(passing))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nexpectations: [\n")
    assert cli("validate", str(data), "--suite", str(broken)).exit_code == 2
    assert cli("validate", str(data), "--suite", "no-such-suite").exit_code == 2


def test_suites_commands_and_dataset_refs(cli: Cli, tmp_path: Path) -> None:
    data, passing, failing = write(tmp_path)
    cli.ok("suites", "create", str(passing))
    cli.ok("suites", "create", str(failing))
    assert cli("suites", "create", str(passing)).exit_code == 1
    cli.ok("suites", "create", str(passing), "--replace")
    assert [s["name"] for s in cli.json("suites", "list")] == ["amounts", "strict"]
    assert "expect_column_values_to_be_between" in cli.ok("suites", "show", "amounts").stdout
    from mlsteward.data import log_table_version
    from mlsteward.security import SYSTEM

    platform = cli.platform()
    try:
        log_table_version(platform, SYSTEM, "default", "orders", pd.read_parquet(data))
    finally:
        platform.close()
    cli.ok("suites", "attach", "amounts", "orders")
    assert cli.json("suites", "show", "amounts")["datasets"] == ["orders"]
    assert cli("validate", "orders@1", "--suite", "amounts").exit_code == 0
    assert cli("validate", "orders@1", "--suite", "strict").exit_code == 1
    assert cli("validate", "orders@7", "--suite", "amounts").exit_code == 2
    cli.ok("suites", "detach", "amounts", "orders")
    cli.ok("suites", "delete", "strict")
    assert [s["name"] for s in cli.json("suites", "list")] == ["amounts"]
    assert cli("suites", "delete", "strict").exit_code == 1
