"""``mlsteward db upgrade`` and ``db current``."""

from __future__ import annotations

from mlsteward.store import head_revision

from .conftest import Cli


def test_current_on_a_fresh_home_reports_empty_without_creating_it(cli: Cli) -> None:
    info = cli.json("db", "current")
    assert info["revision"] is None
    assert info["head"] == head_revision()
    assert info["up_to_date"] is False
    assert not (cli.home / "mlsteward.db").exists()


def test_upgrade_creates_the_schema_then_is_idempotent(cli: Cli) -> None:
    first = cli.ok("db", "upgrade")
    assert f"upgraded from empty to {head_revision()}" in first.stderr
    info = cli.json("db", "current")
    assert info == {
        "database_url": f"sqlite:///{cli.home / 'mlsteward.db'}",
        "revision": head_revision(),
        "head": head_revision(),
        "up_to_date": True,
    }
    events = cli.audit_count()
    again = cli.ok("db", "upgrade")
    assert "already at the newest schema" in again.stderr
    assert cli.audit_count() == events


def test_upgrade_creates_the_default_project(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    assert [p["name"] for p in cli.json("projects", "list")] == ["default"]


def test_current_human_output_says_what_to_do(cli: Cli) -> None:
    result = cli.ok("db", "current")
    assert "(empty)" in result.stdout
    assert "mlsteward db upgrade" in result.stderr
