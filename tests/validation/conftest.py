"""The CLI tests here use the ``cli`` fixture of tests/cli."""

from __future__ import annotations

from ..cli.conftest import cli as cli
