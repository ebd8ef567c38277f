"""Loading a package and serving its first prediction vs loading the bare model file with its
framework and predicting.

``python -m benchmarks model_load [--quick]``: one scikit-learn random forest (fixed seed,
500 trees on 20,000 x 30 generated rows: about 50 MB as skops; ``--quick``: 50 trees) and one
XGBoost booster (300 rounds). For each model:

- **mlsteward side**: from a signed package file to the first prediction:
  ``extract_package`` (reads the archive once: every member's BLAKE3 and the signature are
  checked while it is written to a new folder), ``load_model_dir`` (reads ``mlsteward.yaml``,
  scans the files, loads with the flavor: skops with its trusted types / XGBoost's UBJSON) and
  ``predict`` of one row through the signature check.
- **peer side** (the yardstick of the target "at most 2x"): the same framework loading the
  bare model file the package carries (``skops.io.load`` with the types it lists /
  ``xgboost.XGBClassifier().load_model``) and ``predict`` of the same row.

Each repetition is one fresh process per side that imports its libraries first, then times
only the load and the first prediction (imports are the same for both and not what the target
is about). The files are in the page cache before every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._harness import Row, Side, peak_rss, run_child

ROWS, COLUMNS = 20_000, 30


def _data() -> tuple[Any, Any]:
    import numpy

    rng = numpy.random.default_rng(20261129)
    x = rng.normal(size=(ROWS, COLUMNS))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.5, size=ROWS) > 0).astype(int)
    return x, y


def _prepare(work: Path, quick: bool) -> dict[str, dict[str, str]]:
    """Train, save and package each model; return each model's package and bare file."""
    import xgboost
    from sklearn.ensemble import RandomForestClassifier

    from mlsteward.models._model_dir import save_model
    from mlsteward.packaging._build import build_package
    from mlsteward.packaging._signing import generate_signing_key, save_private_key

    x, y = _data()
    key = generate_signing_key()
    save_private_key(key, work / "signing.pem")
    forest = RandomForestClassifier(n_estimators=50 if quick else 500, random_state=0, n_jobs=1)
    booster = xgboost.XGBClassifier(n_estimators=30 if quick else 300, max_depth=6)
    cases: dict[str, dict[str, str]] = {}
    for name, model, bare in (
        ("sklearn", forest.fit(x, y), "model.skops"),
        ("xgboost", booster.fit(x, y), "model.ubj"),
    ):
        folder = work / name / "model"
        save_model(model, folder, input_example=x[:3])
        build_package(
            folder,
            metadata={"flavor": name},
            requirements=[],
            signing_key=key,
            output=work / f"{name}.mlsb",
        )
        cases[name] = {"package": str(work / f"{name}.mlsb"), "bare": str(folder / bare)}
    return cases


def _warm(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(1 << 22):
            pass


def _child(job: dict[str, Any]) -> dict[str, Any]:
    import numpy
    import skops.io
    import xgboost

    from mlsteward.models._model_dir import load_model_dir
    from mlsteward.packaging._archive import extract_package
    from mlsteward.packaging._signing import load_private_key

    work = Path(job["work"])
    row = numpy.asarray(_data()[0][:1])
    public = load_private_key(work / "signing.pem").public_key()
    target = Path(job["package"] if job["side"] == "package" else job["bare"])
    _warm(target)
    times = []
    for _ in range(job["runs"]):
        out = Path(tempfile.mkdtemp(dir=work)) / "x"
        start = time.perf_counter()
        if job["side"] == "package":
            extract_package(target, out, trusted_keys={"bench": public})
            model: Any = load_model_dir(out / "model")
        elif job["model"] == "sklearn":
            model = skops.io.load(target, trusted=skops.io.get_untrusted_types(file=target))
        else:
            model = xgboost.XGBClassifier()
            model.load_model(target)
        model.predict(row)
        times.append(time.perf_counter() - start)
        shutil.rmtree(out.parent, ignore_errors=True)
    return {"times": times, "peak_rss": peak_rss()}


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """First prediction from a package vs from the bare model file (``peer`` is implied)."""
    del peer  # the bare framework load is the target's yardstick: always measured
    work = Path(tempfile.mkdtemp(prefix="mlsteward-bench-", dir=workdir))
    try:
        cases = _prepare(work, quick)
        rows = []
        for name, paths in cases.items():
            sides = {}
            for side in ("bare", "package"):
                job = {"work": str(work), "model": name, "side": side, **paths, "runs": 1}
                run_child(__name__, job)  # warm-up
                results = [run_child(__name__, job) for _ in range(repeat)]
                sides[side] = Side(
                    times=[t for r in results for t in r.times],
                    peak_rss=max(r.peak_rss for r in results),
                )
            size = Path(paths["package"]).stat().st_size
            rows.append(
                Row(
                    f"first prediction from a package vs bare file ({name}, "
                    f"{size / 1e6:,.0f} MB package)",
                    1,
                    sides["package"],
                    sides["bare"],
                    unit="loads",
                )
            )
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    args = parser.parse_args()
    print(json.dumps(_child(json.loads(args.child))))
    sys.exit(0)
