"""Fixtures for CLI tests: ``MLSTEWARD_HOME`` in a temporary folder and a runner for ``app``.

Commands run in-process through ``typer.testing.CliRunner``; tests that need a real process
(the server, ``--follow``, the console script) start ``python -m mlsteward.cli``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mlsteward.cli import app
from mlsteward.platform import Platform
from mlsteward.settings import Settings, load_settings


@dataclass
class Cli:
    """Runs ``mlsteward`` commands against one home folder."""

    home: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """Run a command. An exception other than ``SystemExit`` fails the test as itself."""
        return CliRunner().invoke(
            app,
            list(args),
            input=input,
            env={"MLSTEWARD_HOME": str(self.home)},
            catch_exceptions=False,
        )

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run a command with ``--json`` and parse its stdout (which must be only JSON)."""
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def fails(self, *args: str, input: str | None = None) -> Result:
        """Run a command that must fail cleanly: exit 1, ``error: ...`` on stderr, no trace."""
        result = self(*args, input=input)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        assert "Traceback" not in result.output
        return result

    def settings(self) -> Settings:
        return load_settings(home=self.home)

    def audit_count(self) -> int:
        """Events in the audit trail (0 before the database exists); never migrates."""
        if not (self.home / "mlsteward.db").exists():
            return 0
        platform = Platform(self.settings())
        try:
            return platform.audit.count(platform.db)
        finally:
            platform.close()

    def platform(self) -> Platform:
        return Platform.open(self.settings())


def _clear_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MLSTEWARD_") and name[10:].lower() in Settings.model_fields:
            monkeypatch.delenv(name)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI with ``MLSTEWARD_HOME`` in a fresh temporary folder (and no other settings)."""
    _clear_settings_env(monkeypatch)
    home = tmp_path / "home"
    monkeypatch.setenv("MLSTEWARD_HOME", str(home))
    return Cli(home)


_TEMPLATES: dict[str, Path] = {}


@pytest.fixture
def seeded(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Cli]:
    """``seeded(name, build)``: the CLI's home starts as a copy of a home that ``build`` set up.

    Each template is built once per test session through the CLI itself, then copied (database,
    keys and all) for every test that uses it: password hashing makes building it slow.
    """

    def seed(name: str, build: Callable[[Cli], None]) -> Cli:
        template = _TEMPLATES.get(name)
        if template is None:
            template = tmp_path_factory.mktemp(f"template-{name}") / "home"
            build(Cli(template))
            _TEMPLATES[name] = template
        shutil.copytree(template, cli.home)
        return cli

    return seed


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for a ``mlsteward`` subprocess: only ``MLSTEWARD_HOME`` and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("MLSTEWARD_") and k[10:].lower() in Settings.model_fields)
    }
    env["MLSTEWARD_HOME"] = str(home)
    env.update(extra)
    return env


def run_cli_process(
    *args: str, env: Mapping[str, str], timeout: float = 60, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mlsteward.cli ARGS`` (after ``prelude`` code) and capture its output."""
    code = f"{prelude}\nimport sys\nsys.argv = ['mlsteward', *{list(args)!r}]\n"
    code += "from mlsteward.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
