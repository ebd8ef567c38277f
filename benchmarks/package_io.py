"""Package build and verify of one large generated model file vs BLAKE3 over the same bytes.

mlsteward sides: ``build_package`` of a folder holding the file (copy into the archive, hash,
sign, atomic rename; no fsync) and ``verify_package`` of the result (hash every member in
place, check the signature). Peer side (always measured: it is the target's yardstick):
what a user would run to hash the file, ``blake3.blake3(max_threads=1)`` updated with 2 MiB
pieces read with ``readinto`` from an unbuffered file. Target: each mlsteward side at most
1.5x the peer's time (a ratio of 67% or more in the table). Every timed run starts with the
file to read in the page cache and after ``os.sync()``; each side runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import blake3

from ._harness import Row, Side, peak_rss, run_child
from .blob_io import _warm, generate

FULL_SIZE = 500_000_000
QUICK_SIZE = 50_000_000
HASH_CHUNK = 2 * 1024 * 1024
METADATA = {"flavor": "sklearn", "source": {"model": "models:/bench@production"}}
REQUIREMENTS = ["numpy==2.1.0"]


def hash_file(path: Path) -> str:
    """The peer: single-threaded BLAKE3 of a file read in 2 MiB pieces."""
    hasher = blake3.blake3(max_threads=1)
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while got := handle.readinto(buffer):
            hasher.update(view[:got])
    return str(hasher.hexdigest())


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one side ``runs`` times; return the timings and this process's peak RSS."""
    from mlsteward.packaging._archive import verify_package
    from mlsteward.packaging._build import build_package
    from mlsteward.packaging._signing import load_private_key

    work = Path(job["work"])
    source = work / "model" / "model.bin"
    key = load_private_key(work / "signing.pem")
    times: list[float] = []
    for _ in range(job["runs"]):
        if job["side"] == "blake3":
            _warm(source)
            os.sync()
            start = time.perf_counter()
            hash_file(source)
        elif job["side"] == "build":
            output = work / "built.mlsb"
            output.unlink(missing_ok=True)
            _warm(source)
            os.sync()
            start = time.perf_counter()
            build_package(
                source.parent,
                metadata=METADATA,
                requirements=REQUIREMENTS,
                signing_key=key,
                output=output,
            )
        else:
            package = work / "package.mlsb"
            _warm(package)
            os.sync()
            start = time.perf_counter()
            report = verify_package(package, trusted_keys={"bench": key.public_key()})
            if not report.ok:
                raise RuntimeError(f"the benchmark package does not verify: {report.problems}")
        times.append(time.perf_counter() - start)
    (work / "built.mlsb").unlink(missing_ok=True)
    return {"times": times, "peak_rss": peak_rss()}


def _measure(job: dict[str, Any], repeat: int, sides: list[str]) -> dict[str, Side]:
    """Alternate the sides run by run (one process each), after one warm-up run per side."""
    for side in sides:
        run_child(__name__, {**job, "side": side, "runs": 1})
    results = {side: Side(times=[], peak_rss=0) for side in sides}
    for _ in range(repeat):
        for side in sides:
            one = run_child(__name__, {**job, "side": side, "runs": 1})
            results[side].times.extend(one.times)
            results[side].peak_rss = max(results[side].peak_rss, one.peak_rss)
    return results


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Measure build and verify against BLAKE3 hashing (``peer`` is implied)."""
    from mlsteward.packaging._build import build_package
    from mlsteward.packaging._signing import generate_signing_key, save_private_key

    del peer  # the BLAKE3 yardstick is always measured
    size = QUICK_SIZE if quick else FULL_SIZE
    base = Path(tempfile.mkdtemp(prefix="mlsteward-bench-", dir=workdir))
    try:
        (base / "model").mkdir()
        generate(base / "model" / "model.bin", size)
        key = generate_signing_key()
        save_private_key(key, base / "signing.pem")
        build_package(
            base / "model",
            metadata=METADATA,
            requirements=REQUIREMENTS,
            signing_key=key,
            output=base / "package.mlsb",
        )
        results = _measure({"work": str(base)}, repeat, ["blake3", "build", "verify"])
        return [
            Row("package build vs blake3", size, results["build"], results["blake3"]),
            Row("package verify vs blake3", size, results["verify"], results["blake3"]),
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    args = parser.parse_args()
    print(json.dumps(_child(json.loads(args.child))))
    sys.exit(0)
