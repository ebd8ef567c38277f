"""What a run records about where it ran: code version, interpreter, packages, host, command."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

_GIT_TIMEOUT = 5.0
MAX_DIFF_BYTES = 5 * 1024 * 1024


def _git(args: list[str], cwd: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [git, *args],
            cwd=cwd,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def git_state(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit, branch and dirtiness of the git work tree around ``cwd``; None outside git."""
    where = cwd or Path.cwd()
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], where) or ""
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], where) or "").strip()
    return {"commit": commit.strip(), "branch": branch or None, "dirty": bool(status.strip())}


def git_diff(cwd: Path | None = None) -> bytes | None:
    """The uncommitted changes to tracked files (``git diff HEAD``), capped at 5 MiB."""
    diff = _git(["diff", "HEAD", "--no-color"], cwd or Path.cwd())
    if not diff:
        return None
    return diff.encode()[:MAX_DIFF_BYTES]


def installed_packages() -> dict[str, str]:
    """Name -> version of every distribution importable here."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def capture_environment(cwd: Path | None = None) -> dict[str, Any]:
    """The environment record stored with a run (JSON-serialisable)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": list(sys.argv),
        "cwd": str(cwd or Path.cwd()),
        "git": git_state(cwd),
        "packages": installed_packages(),
    }
