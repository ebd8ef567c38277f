"""``mlsteward demo fraud``'s refusals: one-line errors before anything is written. (The loop
itself runs through this command in ``tests/demos/test_fraud_loop.py``.)"""

from __future__ import annotations

import pytest

from .conftest import Cli


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param("bogus", "--rows 'bogus' is not valid: give small, full", id="word"),
        pytest.param("-5", "--rows '-5' is not valid", id="negative"),
        pytest.param("100", "train_rows must be a whole number >= 2000", id="too-few"),
        pytest.param("999999999", "train_rows must be at most", id="too-many"),
    ],
)
def test_bad_rows_are_one_line_errors_and_write_nothing(cli: Cli, rows: str, message: str) -> None:
    result = cli.fails("demo", "fraud", "--rows", rows, "--no-keep-running")
    assert message in result.stderr
    assert not cli.home.exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--seed", "-1"], id="negative-seed"),
        pytest.param(["--port", "0"], id="port-zero"),
        pytest.param(["--rows"], id="rows-without-value"),
    ],
)
def test_bad_options_are_usage_errors_and_write_nothing(cli: Cli, args: list[str]) -> None:
    result = cli("demo", "fraud", "--no-keep-running", *args)
    assert result.exit_code == 2  # Typer's own check, before anything runs
    assert not cli.home.exists()


def test_demo_fraud_documents_itself(cli: Cli) -> None:
    result = cli.ok("demo", "fraud", "--help")
    for option in ("--rows", "--seed", "--keep-running", "--no-keep-running", "--json"):
        assert option in result.stdout
