"""The ``mlsteward`` entry point: help, version, cheap import, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlsteward import __version__

from .conftest import Cli, cli_env, run_cli_process

SCRIPT = Path(sys.executable).with_name("mlsteward")
GROUPS = [
    "db",
    "config",
    "users",
    "projects",
    "tokens",
    "audit",
    "blobs",
    "keys",
    "experiments",
    "runs",
    "artifacts",
    "gc",
]


def test_console_script_help_lists_every_command_group(tmp_path: Path) -> None:
    assert SCRIPT.exists(), "the mlsteward console script is installed with the package"
    out = subprocess.run(
        [str(SCRIPT), "--help"],
        env=cli_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    for group in ["server", *GROUPS]:
        assert group in out.stdout
    assert not (tmp_path / "home").exists(), "--help must not create the home folder"


def test_python_m_runs_the_same_cli(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlsteward.cli", "--version"],
        env=cli_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"mlsteward {__version__}"


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, json, mlsteward.cli; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy','alembic','pydantic','pydantic_settings','fastapi','uvicorn',"
        "'cryptography','argon2','fsspec'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_every_group_has_help(cli: Cli) -> None:
    for group in GROUPS:
        result = cli.ok(group, "--help")
        assert "Usage: mlsteward" in result.stdout
    assert "members" in cli.ok("projects", "--help").stdout


def test_invalid_settings_are_one_clean_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTEWARD_PORT", "not-a-port")
    result = cli.fails("config", "show")
    assert "MLSTEWARD_PORT" in result.stderr
    assert result.stdout == ""


def test_explicit_database_needs_db_upgrade_first(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.home.mkdir()
    monkeypatch.setenv("MLSTEWARD_DATABASE_URL", f"sqlite:///{cli.home / 'explicit.db'}")
    result = cli.fails("users", "list")
    assert "mlsteward db upgrade" in result.stderr
    cli.ok("db", "upgrade")
    assert cli.json("users", "list") == []


def test_errors_in_a_real_process_are_one_line(tmp_path: Path) -> None:
    """A StewardError raised in a real process prints one line, never a traceback."""
    out = run_cli_process("users", "disable", "ghost", env=cli_env(tmp_path / "home"), timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == "error: no user named 'ghost'"
    assert out.stdout == ""


def test_blob_and_key_groups_are_wired(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring = tmp_path / "keyring.json"
    cli.ok("keys", "generate", str(keyring))
    monkeypatch.setenv("MLSTEWARD_MASTER_KEY_FILE", str(keyring))
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    address = cli.json("blobs", "put", str(source))["address"]
    cli.ok("blobs", "get", address, str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    assert cli.json("keys", "status")["encrypted"] is True
    bad = cli.fails("blobs", "get", "../../etc/passwd", str(tmp_path / "x"))
    assert "invalid blob address" in bad.stderr


def test_a_missing_database_driver_names_the_extra(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", MLSTEWARD_DATABASE_URL="postgresql://u@127.0.0.1:1/mls")
    out = run_cli_process(
        "db", "current", env=env, prelude="import sys; sys.modules['psycopg'] = None"
    )
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: the database driver 'psycopg' is not installed: pip install 'mlsteward[postgres]'"
    )
