"""Test helpers for the flavor tests: save a model with its input, then load and predict in a
fresh Python process, so nothing can lean on the state of the process that saved it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from mlsteward.models._flavors import FlavorConfig, get_flavor

REPO = Path(__file__).resolve().parents[2]
CONFIG_FILE = "flavor.json"


@dataclass
class Saved:
    """A model saved by a flavor next to the input it should predict on."""

    directory: Path
    config: FlavorConfig


def save_case(flavor: str, model: object, directory: Path, data: Any, **options: Any) -> Saved:
    """Save ``model`` with ``flavor`` into ``directory/model`` and the input beside it."""
    model_dir = directory / "model"
    model_dir.mkdir(parents=True)
    config = get_flavor(flavor).save(model, model_dir, **options)
    json.dumps(config)  # a config must be JSON as returned, not only after coercion
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    if hasattr(data, "to_json"):
        data.to_json(directory / "input.json", orient="split")
    else:
        numpy.save(directory / "input.npy", numpy.asarray(data), allow_pickle=False)
    return Saved(model_dir, config)


def fresh_predictions(*cases: Path) -> list[dict[str, Any]]:
    """For each case directory, ``predict`` (and ``predict_proba`` when the loaded predictor
    has it) computed in one new interpreter; ``None`` stands for a missing predict_proba."""
    code = "import sys; from tests.models._flavor_support import main; main(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *map(str, cases)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = []
    for case in cases:
        found: dict[str, Any] = {"predict": numpy.load(case / "out_predict.npy")}
        proba = case / "out_proba.npy"
        found["predict_proba"] = numpy.load(proba) if proba.exists() else None
        found["modules"] = json.loads((case / "out_modules.json").read_text())
        results.append(found)
    return results


def main(cases: list[str]) -> None:
    """Subprocess side of ``fresh_predictions``."""
    for case in map(Path, cases):
        config = json.loads((case / CONFIG_FILE).read_text())
        if (case / "input.json").exists():
            import pandas

            data: Any = pandas.read_json(case / "input.json", orient="split")
        else:
            data = numpy.load(case / "input.npy", allow_pickle=False)
        predictor = get_flavor(config["flavor"]).load(case / "model", config)
        numpy.save(case / "out_predict.npy", numpy.asarray(predictor.predict(data)))
        if hasattr(predictor, "predict_proba"):
            numpy.save(case / "out_proba.npy", numpy.asarray(predictor.predict_proba(data)))
        loaded = sorted({m.split(".")[0] for m in sys.modules})
        (case / "out_modules.json").write_text(json.dumps(loaded))
