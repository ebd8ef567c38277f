"""A ``data add`` killed part-way leaves no version and no blob references."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlsteward.data import add_dataset_version, read_manifest
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN
from mlsteward.settings import Settings

from ._dataset_support import NOTHING, stored_sizes, write_random, written

# Runs in the child before the CLI: once three files are stored, say so and stall, so the
# parent kills the process at a known point (no race on timing).
_PRELUDE = """
import pathlib, threading, time
from mlsteward.data import _snapshot
_real = _snapshot._store_file
_stored = []
_lock = threading.Lock()
def _stalling(blobs, found, progress):
    result = _real(blobs, found, progress)
    with _lock:
        _stored.append(found.path)
        if len(_stored) == 3:
            pathlib.Path(MARKER).touch()
    if len(_stored) >= 3:
        time.sleep(600)
    return result
_snapshot._store_file = _stalling
"""


def test_a_killed_add_leaves_no_version_and_a_later_add_succeeds(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for i in range(20):
        write_random(src / f"part-{i:02}.bin", 50_000, seed=i)
    marker = tmp_path / "three-stored"
    code = f"MARKER = {str(marker)!r}\n{_PRELUDE}\n"
    code += f"import sys\nsys.argv = ['mlsteward', 'data', 'add', {str(src)!r}, '--name', 'ds']\n"
    code += "from mlsteward.cli import main\nmain()\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
    env["MLSTEWARD_HOME"] = str(settings.home)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never stored three files"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    # Part-way: three files written as temporary files (made durable and published only
    # together, at the end), none published at an address; gc removes the leftovers.
    assert stored_sizes(platform) == {}
    leftovers = list((Path(platform.blobs.url) / "tmp").iterdir())
    assert len(leftovers) >= 3
    assert written(platform) == NOTHING
    report = platform.blobs.gc(set(), grace_seconds=0)
    assert report.temp_deleted >= 3
    assert not any(path.exists() for path in leftovers)
    version = add_dataset_version(platform, LOCAL_ADMIN, "default", "ds", src)
    assert version.version == 1
    assert version.file_count == 20
    assert len(read_manifest(platform, version).entries) == 20
