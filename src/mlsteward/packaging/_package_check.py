"""The check ``package test`` runs inside the package's fresh environment.

Usage: ``python -I <site-packages>/mlsteward/packaging/_package_check.py [--lock-only]
PACKAGE_DIR METADATA_JSON`` (a script: importing ``mlsteward.packaging`` would need its
dependencies). Prints one JSON line: ``{"status": ..., "message": ...}`` where status is
``predictions_match``, ``loaded``, ``not_loaded``, ``lock_mismatch`` (with ``mismatches``: one
line per lock pin the environment does not hold at exactly that version), ``mismatch`` or
``error``; ``--lock-only`` stops after the lock (status ``lock_satisfied``). Always exits 0
after printing a verdict, so the caller can tell a failed check from a crashed interpreter.

The lock is checked first, in the environment the predictions are computed in: whatever
installed or provided the packages, the verdict is only about the pinned versions.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
LOCK_FILE = "requirements.lock"
_PIN = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?"
    r"\s*===?\s*(?P<version>[A-Za-z0-9_.!+-]+)\s*(?:;(?P<marker>.*?))?(?:\s+--hash=\S+)*"
)


def _member(root: Path, name: object) -> Path | None:
    """A file the metadata names (``model/...``), kept inside ``root``."""
    if not isinstance(name, str) or not name.startswith("model/"):
        return None
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return None
    return path


def _same(actual: Any, expected: Any) -> bool:
    import numpy as np

    got, want = np.asarray(actual), np.asarray(expected)
    if got.shape != want.shape:
        return False
    if np.issubdtype(got.dtype, np.number) and np.issubdtype(want.dtype, np.number):
        return bool(np.allclose(got, want, rtol=1e-6, atol=1e-9, equal_nan=True))
    return bool(np.array_equal(got.astype(str), want.astype(str)))


def _marker_applies(marker: str | None) -> bool:
    """Whether a lock line's environment marker holds here (assumed true without ``packaging``
    to evaluate it, so the pin is checked rather than skipped)."""
    if not marker or not marker.strip():
        return True
    try:
        from packaging.markers import Marker
    except ImportError:
        return True
    return bool(Marker(marker.strip()).evaluate())


def _same_version(installed: str, pinned: str) -> bool:
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return installed == pinned
    try:
        return Version(installed) == Version(pinned)
    except InvalidVersion:
        return installed == pinned


def lock_mismatches(lines: Iterable[str], installed: Callable[[str], str | None]) -> list[str]:
    """One message per lock line that ``installed`` (distribution name to its version, or
    None when absent) does not satisfy with exactly the pinned version."""
    problems = []
    for line in lines:
        match = _PIN.fullmatch(line.strip())
        if match is None:
            problems.append(f"{line}: not an exact pin")
            continue
        if not _marker_applies(match["marker"]):
            continue
        version = installed(match["name"])
        if version is None:
            problems.append(f"{line}: not installed")
        elif not _same_version(version, match["version"]):
            problems.append(f"{line}: the environment has {match['name']} {version}")
    return problems


def _installed_version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _check_lock(root: Path) -> dict[str, Any] | None:
    path = root / LOCK_FILE
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        return {"status": "error", "message": f"{LOCK_FILE} is too large"}
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    problems = lock_mismatches(pins, _installed_version)
    if not problems:
        return None
    return {
        "status": "lock_mismatch",
        "message": f"the environment does not hold {len(problems)} pinned package(s): "
        + "; ".join(problems),
        "mismatches": problems,
    }


def check(root: Path, metadata: dict[str, Any], *, lock_only: bool = False) -> dict[str, Any]:
    """Check the lock, then load the model and compare predictions; the verdict as a dict."""
    lock_verdict = _check_lock(root)
    if lock_verdict is not None:
        return lock_verdict
    if lock_only:
        return {"status": "lock_satisfied", "message": "every pin is installed at its version"}
    from mlsteward.models._model_dir import METADATA_FILE, load_model_dir

    folder = root / "model"
    if (
        not isinstance(metadata.get("flavor_config"), dict)
        or not (folder / METADATA_FILE).is_file()
    ):
        return {"status": "not_loaded", "message": "the package holds no saved model to load"}
    for name in (metadata.get("input_example"), metadata.get("predictions")):
        path = _member(root, name)
        if path is not None and path.stat().st_size > MAX_DOCUMENT_BYTES:
            return {"status": "error", "message": "the input example or predictions are too large"}
    model = load_model_dir(folder)  # scanned first: a model that runs code is refused
    example, recorded = model.input_example(), model.example_predictions()
    if example is None or recorded is None:
        return {"status": "loaded", "message": "loaded; no input example and predictions"}
    if not _same(model.predict(example), recorded):
        return {
            "status": "mismatch",
            "message": "the model's predictions on the input example differ from the recorded "
            "ones: the lock does not reproduce the training environment",
        }
    return {"status": "predictions_match", "message": "predictions match the recorded ones"}


def main(argv: list[str]) -> int:
    args = argv[1:]
    lock_only = bool(args) and args[0] == "--lock-only"
    if lock_only:
        args = args[1:]
    try:
        verdict = check(Path(args[0]), json.loads(args[1]), lock_only=lock_only)
    except Exception as exc:  # reported as a verdict; the caller raises
        verdict = {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000]}
    print(json.dumps(verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
