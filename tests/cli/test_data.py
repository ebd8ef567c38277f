"""``mlsteward data``: dataset versions from the command line, as the local operator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Cli


def _source(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.txt").write_text("beta\n")
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return _source(tmp_path / "src")


@pytest.fixture
def cli(seeded: Callable[..., Cli]) -> Cli:
    """The CLI on a home that is already migrated (copied from a template made once)."""
    return seeded("data-empty", lambda c: c.ok("data", "list"))


def test_add_prints_the_version_then_unchanged(cli: Cli, source: Path) -> None:
    result = cli.ok("data", "add", str(source), "--name", "events", "-m", "first")
    assert "added events@1: 2 file(s)" in result.stdout + result.stderr
    again = cli.ok("data", "add", str(source), "--name", "events")
    assert "unchanged: events@1 has the same content" in again.stdout + again.stderr


def test_add_json(cli: Cli, source: Path) -> None:
    data = cli.json("data", "add", str(source), "--name", "events", "--message", "m")
    assert (data["version"], data["kind"], data["file_count"], data["message"]) == (
        1,
        "files",
        2,
        "m",
    )
    assert data["unchanged"] is False
    again = cli.json("data", "add", str(source), "--name", "events")
    assert again["unchanged"] is True
    assert again["version"] == 1


def test_add_failures_are_one_line_errors_and_write_nothing(cli: Cli, tmp_path: Path) -> None:
    events = cli.audit_count()
    missing = cli.fails("data", "add", str(tmp_path / "nope"), "--name", "events")
    assert "no such file or folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = cli.fails("data", "add", str(tmp_path / "empty"), "--name", "events")
    assert "has no files" in empty.stderr
    bad = cli.fails("data", "add", str(tmp_path / "empty"), "--name", "a b")
    assert "invalid dataset name" in bad.stderr
    corrupt = tmp_path / "t.parquet"
    corrupt.write_bytes(b"PAR1 not really parquet")
    failed = cli.fails("data", "add", str(corrupt), "--name", "t")
    assert "cannot read 't.parquet' as Parquet" in failed.stderr
    assert cli.json("data", "list") == []
    assert cli.audit_count() == events


def test_an_unknown_project_stops_the_add_and_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    big = tmp_path / "big"
    for i in range(200):  # the files are stored while the platform opens: this stops them
        (big / f"part-{i % 4}").mkdir(parents=True, exist_ok=True)
        (big / f"part-{i % 4}" / f"file-{i}.bin").write_bytes(bytes([i % 251]) * 200_000)
    failed = cli.fails("data", "add", str(big), "--name", "events", "--project", "nope")
    assert "no project named 'nope'" in failed.stderr
    blobs = cli.home / "blobs"
    assert [p for p in blobs.rglob("*") if p.is_file()] == []  # no object, no temporary file
    assert cli.json("data", "list") == []


def test_list_versions_and_show(cli: Cli, source: Path) -> None:
    cli.ok("data", "add", str(source), "--name", "events")
    (source / "c.txt").write_text("gamma\n")
    cli.ok("data", "add", str(source), "--name", "events", "-m", "more")
    listed = cli.json("data", "list")
    assert [(d["name"], d["latest_version"]) for d in listed] == [("events", 2)]
    assert "events" in cli.ok("data", "list").stdout
    versions = cli.json("data", "versions", "events")
    assert [(v["version"], v["file_count"]) for v in versions] == [(1, 2), (2, 3)]
    assert "more" in cli.ok("data", "versions", "events").stdout
    assert cli.json("data", "show", "events@1")["file_count"] == 2
    assert cli.json("data", "show", "events")["version"] == 2
    shown = cli.ok("data", "show", "events@2").stdout
    assert "events@2" in shown
    assert "more" in shown
    assert "has no version 9" in cli.fails("data", "show", "events@9").stderr
    assert "no dataset named 'nope'" in cli.fails("data", "versions", "nope").stderr


def test_show_a_table(cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text("item,price\napple,1.5\npear,2\n")
    cli.ok("data", "add", str(csv), "--name", "prices")
    shown = cli.ok("data", "show", "prices").stdout
    assert "table" in shown
    assert "price (double)" in shown
    assert cli.json("data", "show", "prices@1")["row_count"] == 2


def test_checkout(cli: Cli, source: Path, tmp_path: Path) -> None:
    cli.ok("data", "add", str(source), "--name", "events")
    out = tmp_path / "out"
    done = cli.json("data", "checkout", "events@1", str(out))
    assert (done["file_count"], done["version"]) == (2, 1)
    assert (out / "sub" / "b.txt").read_text() == "beta\n"
    copied = cli.ok("data", "checkout", "events", str(tmp_path / "copy"), "--copy")
    assert "checked out events@1" in copied.stdout + copied.stderr
    assert (tmp_path / "copy" / "a.txt").read_text() == "alpha\n"
    refused = cli.fails("data", "checkout", "events@1", str(out))
    assert "is not empty" in refused.stderr


def test_diff(cli: Cli, source: Path) -> None:
    cli.ok("data", "add", str(source), "--name", "events")
    (source / "a.txt").write_text("alpha, longer\n")
    (source / "new.txt").write_text("n")
    cli.ok("data", "add", str(source), "--name", "events")
    diff = cli.json("data", "diff", "events", "1", "2")
    assert [a["path"] for a in diff["added"]] == ["new.txt"]
    assert [c["path"] for c in diff["changed"]] == ["a.txt"]
    text = cli.ok("data", "diff", "events", "1", "2").stdout
    assert "new.txt" in text
    assert "added" in text
    assert "changed" in text
    assert "has no version 5" in cli.fails("data", "diff", "events", "1", "5").stderr


def test_diff_of_tables(cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text("item,price\napple,1.5\npear,2\n")
    cli.ok("data", "add", str(csv), "--name", "prices")
    csv.write_text("item,price,stock\napple,1.5,3\npear,4,1\nplum,1,0\n")
    cli.ok("data", "add", str(csv), "--name", "prices")
    diff = cli.json("data", "diff", "prices", "1", "2")
    assert (diff["row_count_a"], diff["row_count_b"]) == (2, 3)
    assert [c["name"] for c in diff["columns"]] == ["stock"]
    text = cli.ok("data", "diff", "prices", "1", "2").stdout
    assert "stock" in text
    assert "rows" in text
