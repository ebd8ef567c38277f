"""The check ``package test`` runs inside the package's fresh environment.

Usage: ``python -I <site-packages>/mlsteward/packaging/_package_check.py PACKAGE_DIR
METADATA_JSON`` (a script: importing ``mlsteward.packaging`` would need its dependencies). Prints
one JSON line: ``{"status": ..., "message": ...}`` where status is ``predictions_match``,
``loaded``, ``not_loaded``, ``mismatch`` or ``error``. Always exits 0 after printing a
verdict, so the caller can tell a failed check from a crashed interpreter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


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


def check(root: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """Load the model and compare predictions; the verdict as a dict."""
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
    try:
        verdict = check(Path(argv[1]), json.loads(argv[2]))
    except Exception as exc:  # reported as a verdict; the caller raises
        verdict = {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000]}
    print(json.dumps(verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
