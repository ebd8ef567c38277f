"""The README and docs/cli.md describe the commands and settings that exist, all of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from mlsteward.cli import app
from mlsteward.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(path), command
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


def test_the_walk_sees_nested_commands() -> None:
    assert {"server", "db upgrade", "projects members add", "keys rotate"} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_cli_reference_documents_every_command_and_option(path: str) -> None:
    text = CLI_DOC.read_text()
    heading_or_use = path if " " in path else f"mlsteward {path}"
    assert heading_or_use in text, f"docs/cli.md does not mention `{path}`"
    for param in COMMANDS[path].params:
        for opt in param.opts:
            if opt.startswith("--") and opt != "--help":
                assert opt in text, f"docs/cli.md does not mention {opt} of `{path}`"


def test_readme_configuration_table_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"^\| `(MLSTEWARD_[A-Z_]+)` \|", README.read_text(), re.M))
    assert documented == {f"MLSTEWARD_{name.upper()}" for name in Settings.model_fields}


def test_readme_starts_with_the_two_setup_commands() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:30])
    assert "make demo" in first_screen
    assert "make test" in first_screen
