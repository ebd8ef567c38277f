"""``mlsteward audit``: verify (and find tampering), export, tail, checkpoint."""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import Cli, cli_env


@pytest.fixture
def busy(cli: Cli) -> Cli:
    """A home with a few audited actions: 1 default project + 5 more events."""
    cli.ok("projects", "create", "alpha")
    cli.ok("projects", "create", "beta")
    cli.ok("projects", "create", "gamma")
    cli.ok("projects", "create", "delta")
    cli.ok("projects", "create", "epsilon")
    return cli


def _tamper(cli: Cli, sql: str) -> None:
    with sqlite3.connect(cli.home / "mlsteward.db") as conn:
        conn.execute(sql)
    conn.close()


def test_verify_an_intact_trail(busy: Cli) -> None:
    report = busy.json("audit", "verify")
    assert report == {
        "ok": True,
        "events": 6,
        "checkpoints": 0,
        "last_checkpoint_seq": None,
        "first_bad_seq": None,
        "problem": None,
    }
    assert "audit trail intact: 6 events" in busy.ok("audit", "verify").stderr


def test_verify_names_the_first_tampered_position(busy: Cli) -> None:
    busy.ok("audit", "verify")
    _tamper(busy, "UPDATE audit_events SET target_id = 'mallory' WHERE seq = 4")
    result = busy.fails("audit", "verify")
    assert "audit trail broken at position #4" in result.stderr
    assert "does not match its stored hash" in result.stderr
    as_json = busy("audit", "verify", "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["first_bad_seq"] == 4
    assert report["events"] == 3


def test_verify_detects_a_deleted_event(busy: Cli) -> None:
    _tamper(busy, "DELETE FROM audit_events WHERE seq = 2")
    result = busy.fails("audit", "verify")
    assert "position #2" in result.stderr


def test_checkpoint_then_truncation_is_detected(busy: Cli) -> None:
    signed = busy.json("audit", "checkpoint")
    assert signed["seq"] == 6
    assert busy.json("audit", "checkpoint") is None
    assert "nothing to sign" in busy.ok("audit", "checkpoint").stderr
    report = busy.json("audit", "verify")
    assert report["checkpoints"] == 1
    assert report["last_checkpoint_seq"] == 6
    _tamper(busy, "DELETE FROM audit_events WHERE seq = 6")
    result = busy.fails("audit", "verify")
    assert "newest events were removed" in result.stderr


def test_export_to_stdout_is_json_lines_in_chain_order(busy: Cli) -> None:
    out = busy.ok("audit", "export").stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[1]["action"] == "project.create"
    assert events[1]["target_id"] == "alpha"
    assert events[1]["prev_hash"] == events[0]["hash"]


def test_export_to_a_file_is_private_and_complete(busy: Cli, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    result = busy.ok("audit", "export", "--output", str(target))
    assert "exported 6 audit events" in result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == busy.ok("audit", "export").stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "home"], "no leftovers"


def test_export_to_an_unwritable_place_is_a_clean_error(busy: Cli, tmp_path: Path) -> None:
    result = busy.fails("audit", "export", "-o", str(tmp_path / "missing" / "audit.jsonl"))
    assert "cannot write" in result.stderr


def test_tail_shows_the_newest_events_oldest_first(busy: Cli) -> None:
    out = busy.ok("audit", "tail", "-n", "2", "--json").stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["target_id"] for e in events] == ["delta", "epsilon"]
    human = busy.ok("audit", "tail", "-n", "1").stdout
    assert human.startswith("#6  ")
    assert "local-admin (local)  project.create  project:epsilon" in human
    assert busy.ok("audit", "tail", "-n", "0").stdout == ""


def test_tail_rejects_a_silly_count(busy: Cli) -> None:
    assert busy("audit", "tail", "-n", "-1").exit_code == 2
    assert busy("audit", "tail", "-n", "100000").exit_code == 2


def test_tail_follow_prints_new_events(busy: Cli) -> None:
    env = cli_env(busy.home)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlsteward.cli",
            *["audit", "tail", "-n", "1", "-f", "--json", "--interval", "0.1"],
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        first = json.loads(lines.get(timeout=30))
        assert first["target_id"] == "epsilon"
        busy.ok("projects", "create", "zeta")
        busy.ok("users", "create", "zoe")
        new = [json.loads(lines.get(timeout=30)) for _ in range(2)]
        assert [(e["seq"], e["action"]) for e in new] == [(7, "project.create"), (8, "user.create")]
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        returncode = proc.wait(timeout=30)
        reader.join(timeout=30)
        assert proc.stdout is not None
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
