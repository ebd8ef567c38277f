"""``package test``: install a package's lock into a fresh virtual environment and check,
in that environment, that every pin is installed at exactly its version, that the model
loads with its flavor and that it still predicts what it predicted when it was logged.

The environment is made with ``python -m venv`` (no system site-packages). Its packages come
from one of two places:

- pip (the default): ``pip install -r requirements.lock`` plus the caller's pip arguments;
  ``--no-index --find-links DIR`` installs offline from a folder of wheels.
- ``base_site_packages`` (offline, nothing to download): a ``.pth`` file puts an existing
  ``site-packages`` folder (a virtual environment that already holds the lock) on the path
  after the environment's own, then pip runs with ``--no-index`` so it can only confirm that
  the lock and its dependencies are satisfied; it never downloads, and it never changes that
  folder (pip leaves distributions outside the environment alone). Re-building wheels from
  that folder is not offered: pip cannot turn an installed distribution back into a wheel,
  and a hand-made one would prove less than the files themselves.

Either way the check then compares each lock line with the version installed in the
environment (``importlib.metadata``) and fails listing every pin it does not hold, before
the model is loaded. What this proves, and what not: the pinned versions reproduce the
recorded predictions. Packages outside the lock (dependencies pip resolves, or anything else
in ``base_site_packages``) are whatever the environment holds, so an import the lock forgot
can pass here and fail on a clean host. mlsteward itself is not in the lock: its own package
folder is copied into the environment, so the check runs the same mlsteward release as the
caller, and the loader's own requirement (PyYAML, to read ``mlsteward.yaml``) is installed
with the lock. The check runs ``_package_check.py`` as a child process and reads one JSON
line back.
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

from ..errors import IntegrityError, InvalidArgument, NotFound
from ._archive import extract_package
from ._manifest import LOCK_NAME

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VENV_TIMEOUT = 300
PIP_TIMEOUT = 3600
CHECK_TIMEOUT = 600
_OUTPUT_TAIL = 4000
LOADER_REQUIREMENTS = ("PyYAML>=6.0",)
"""What the copied mlsteward needs to load a saved model, installed with the lock."""
BASE_PTH_NAME = "mlsteward-package-test-base.pth"


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
    """``pip install -r lock`` and the loader's requirements (with ``pip_args``) in the
    environment of ``venv_python``."""
    argv = [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check", *pip_args]
    argv += ["-r", str(lock), *LOADER_REQUIREMENTS]
    _run(argv, "installing the requirements lock", PIP_TIMEOUT)


def provide_site_packages(venv_python: Path, base: Path) -> None:
    """Put the existing folder ``base`` on the environment's path, after its own
    site-packages (a ``.pth`` line: ``base``'s own ``.pth`` files are not run).

    Raises ``NotFound`` when ``base`` is not an existing folder.
    """
    folder = Path(base).resolve()
    if not folder.is_dir():
        raise NotFound(f"the site-packages folder {base} does not exist")
    if any(c in str(folder) for c in "\r\n"):
        raise InvalidArgument("the site-packages path must not contain line breaks")
    (_site_packages(venv_python) / BASE_PTH_NAME).write_text(f"{folder}\n", encoding="utf-8")


def add_mlsteward(venv_python: Path) -> None:
    """Copy this mlsteward package into the environment (it is not in the lock)."""
    import mlsteward

    source = Path(mlsteward.__file__).parent
    target = _site_packages(venv_python) / "mlsteward"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


def run_check(
    venv_python: Path, package_dir: Path, metadata: Mapping[str, Any], *, lock_only: bool = False
) -> dict[str, Any]:
    """Run ``_package_check`` in the environment (only its lock check with ``lock_only``);
    returns its JSON verdict."""
    # Run as a script, not ``-m``: importing ``mlsteward.packaging`` would need blake3 and
    # cryptography, which the lock need not hold. ``-I``: no caller path or environment.
    script = _site_packages(venv_python) / "mlsteward" / "packaging" / "_package_check.py"
    argv = [
        str(venv_python),
        "-I",
        str(script),
        *(["--lock-only"] if lock_only else []),
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
    base_site_packages: Path | None = None,
    work_dir: Path | None = None,
) -> PackageTestResult:
    """Verify and unpack the package, install its lock into a fresh virtual environment
    (from ``base_site_packages`` with pip ``--no-index`` when given: see the module
    docstring), check that every pin is installed at exactly its version, then load the
    model there and compare its predictions on the input example with the recorded ones.

    Raises ``IntegrityError`` when verification, the install or the check fails (with
    pip's or the check's output; a lock the environment does not hold lists every
    mismatched pin in ``details["mismatches"]``), ``InvalidArgument`` for bad pip arguments,
    ``NotFound`` when ``base_site_packages`` does not exist.
    """
    if any(not isinstance(a, str) or a in ("-r", "--requirement") for a in pip_args):
        raise InvalidArgument("pip arguments must be strings and must not name another lock")
    if base_site_packages is not None and not Path(base_site_packages).is_dir():
        raise NotFound(f"the site-packages folder {base_site_packages} does not exist")
    with tempfile.TemporaryDirectory(prefix="mlsteward-package-test-", dir=work_dir) as temp:
        root = Path(temp)
        info = extract_package(Path(path), root / "package", trusted_keys=trusted_keys)
        package = root / "package"
        venv_python = create_environment(root / "venv", python=python)
        add_mlsteward(venv_python)
        if base_site_packages is not None:
            provide_site_packages(venv_python, base_site_packages)
            # Every mismatched pin at once, before pip stops at the first it cannot find.
            _raise_for(path, run_check(venv_python, package, info.metadata, lock_only=True))
            pip_args = ["--no-index", *pip_args]
        if info.requirements or isinstance(info.metadata.get("flavor_config"), dict):
            install_lock(venv_python, package / LOCK_NAME, pip_args=pip_args)
        verdict = _raise_for(path, run_check(venv_python, package, info.metadata))
    status, message = verdict["status"], str(verdict.get("message", ""))
    return PackageTestResult(Path(path), info.key_id, info.requirements, status, message)


def _raise_for(path: Path, verdict: dict[str, Any]) -> dict[str, Any]:
    """The verdict of a passed check; ``IntegrityError`` with the check's message otherwise."""
    if verdict["status"] not in {"predictions_match", "loaded", "not_loaded", "lock_satisfied"}:
        message = str(verdict.get("message", ""))
        raise IntegrityError(f"package {path} failed its test: {message}", details=verdict)
    return verdict
