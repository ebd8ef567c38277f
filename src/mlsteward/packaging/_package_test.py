"""``package test``: install a package's lock into a fresh virtual environment and check,
in that environment, that the model loads with its flavor and still predicts what it
predicted when it was logged.

The environment is made with ``python -m venv`` (no system site-packages); the lock is
installed with ``pip install -r`` plus the caller's pip arguments (``--no-index
--find-links DIR`` installs offline). mlsteward itself is not in the lock: its own package
folder is copied into the environment, so the check runs the same mlsteward release as the
caller. The check runs ``_package_check.py`` as a child process and reads one JSON line back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, InvalidArgument
from ._archive import extract_package
from ._manifest import LOCK_NAME

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VENV_TIMEOUT = 300
PIP_TIMEOUT = 3600
CHECK_TIMEOUT = 600
_OUTPUT_TAIL = 4000


@dataclass(frozen=True, slots=True)
class PackageTestResult:
    """What ``run_package_test`` did: ``status`` is ``predictions_match``, ``loaded`` (no
    recorded predictions to compare) or ``not_loaded`` (no flavor config to load with);
    a mismatch or failure raises instead."""

    path: Path
    key_id: str
    requirements: list[str]
    status: str
    message: str


def _run(argv: Sequence[str], what: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    try:
        done = subprocess.run(  # noqa: S603 - argv built here, no shell
            list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise IntegrityError(f"{what} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-_OUTPUT_TAIL:]
        raise IntegrityError(
            f"{what} failed (exit {done.returncode}): {output.strip()}",
            details={"argv": list(argv), "exit_code": done.returncode},
        )
    return done


def create_environment(folder: Path, *, python: str = sys.executable) -> Path:
    """A fresh virtual environment in the new folder ``folder``; returns its Python."""
    _run([python, "-m", "venv", str(folder)], "creating the virtual environment", VENV_TIMEOUT)
    bin_dir = folder / ("Scripts" if os.name == "nt" else "bin")
    return bin_dir / ("python.exe" if os.name == "nt" else "python")


def _site_packages(venv_python: Path) -> Path:
    done = _run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        "locating site-packages",
        VENV_TIMEOUT,
    )
    return Path(done.stdout.strip())


def install_lock(venv_python: Path, lock: Path, *, pip_args: Sequence[str] = ()) -> None:
    """``pip install -r lock`` (with ``pip_args``) in the environment of ``venv_python``."""
    argv = [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check", *pip_args]
    _run([*argv, "-r", str(lock)], "installing the requirements lock", PIP_TIMEOUT)


def add_mlsteward(venv_python: Path) -> None:
    """Copy this mlsteward package into the environment (it is not in the lock)."""
    import mlsteward

    source = Path(mlsteward.__file__).parent
    target = _site_packages(venv_python) / "mlsteward"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


def run_check(venv_python: Path, package_dir: Path, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``_package_check`` in the environment; returns its JSON verdict."""
    # Run as a script, not ``-m``: importing ``mlsteward.packaging`` would need blake3 and
    # cryptography, which the lock need not hold. ``-I``: no caller path or environment.
    script = _site_packages(venv_python) / "mlsteward" / "packaging" / "_package_check.py"
    argv = [
        str(venv_python),
        "-I",
        str(script),
        str(package_dir),
        json.dumps(dict(metadata), default=str),
    ]
    done = _run(argv, "the model check", CHECK_TIMEOUT)
    lines = done.stdout.strip().splitlines()
    try:
        verdict = json.loads(lines[-1]) if lines else None
    except ValueError:
        verdict = None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("status"), str):
        raise IntegrityError(f"the model check printed no verdict: {done.stdout[-500:]!r}")
    return verdict


def run_package_test(
    path: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    pip_args: Sequence[str] = (),
    python: str = sys.executable,
    work_dir: Path | None = None,
) -> PackageTestResult:
    """Verify and unpack the package, install its lock into a fresh virtual environment,
    then load the model there and compare its predictions on the input example with the
    recorded ones.

    Raises ``IntegrityError`` when verification, the install or the check fails (with
    pip's or the check's output), ``InvalidArgument`` for bad pip arguments.
    """
    if any(not isinstance(a, str) or a in ("-r", "--requirement") for a in pip_args):
        raise InvalidArgument("pip arguments must be strings and must not name another lock")
    with tempfile.TemporaryDirectory(prefix="mlsteward-package-test-", dir=work_dir) as temp:
        root = Path(temp)
        info = extract_package(Path(path), root / "package", trusted_keys=trusted_keys)
        venv_python = create_environment(root / "venv", python=python)
        if info.requirements:
            install_lock(venv_python, root / "package" / LOCK_NAME, pip_args=pip_args)
        add_mlsteward(venv_python)
        verdict = run_check(venv_python, root / "package", info.metadata)
    status = verdict["status"]
    message = str(verdict.get("message", ""))
    if status not in {"predictions_match", "loaded", "not_loaded"}:
        raise IntegrityError(f"package {path} failed its test: {message}", details=verdict)
    return PackageTestResult(Path(path), info.key_id, info.requirements, status, message)
