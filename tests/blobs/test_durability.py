"""Process-level guarantees: SIGKILL mid-write leaves no partial object; memory stays bounded.

Both run the store in a child process so that the kill is real and RSS is measured cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ._support import GeneratedStream, MiB, StoreSpec, stream_digest

ROOT = Path(__file__).resolve().parents[2]

_WRITER = textwrap.dedent(
    """
    import json, sys
    from tests.blobs._support import GeneratedStream, StoreSpec, MiB
    spec = StoreSpec("child", **json.loads(sys.argv[1]))
    size, seed = int(sys.argv[2]), int(sys.argv[3])
    done = 0
    def progress(count):
        global done
        done += count
        if done >= 16 * MiB and done - count < 16 * MiB:
            print("writing", flush=True)
    spec.open().put_stream(GeneratedStream(size, seed, delay=0.02), progress=progress)
    print("finished", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["local", "local-encrypted", pytest.param("s3-encrypted", marks=pytest.mark.s3)]
)
def test_sigkill_mid_write_leaves_no_object(
    make_spec: Callable[[str], StoreSpec], kind: str
) -> None:
    spec = make_spec(kind)
    size, seed = 64 * MiB, 42
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, spec.to_json(), str(size), str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    store = spec.open()
    keyring = store.keyring
    expected = stream_digest(GeneratedStream(size, seed), keyring.address_key if keyring else None)
    assert list(store.iter_addresses()) == []
    assert store.exists(expected) is False
    assert spec.raw().list_keys("objects/") == []

    info = store.put_stream(GeneratedStream(size, seed))
    assert (info.address, info.size, info.created) == (expected, size, True)
    with store.open(info.address) as reader:
        assert stream_digest(reader) == stream_digest(GeneratedStream(size, seed))
    stale = store.gc({info.address}, grace_seconds=0)
    assert stale.kept == 1
    assert spec.raw().list_keys("tmp/") == []


_MEASURE = textwrap.dedent(
    """
    import json, sys, os
    from tests.blobs._support import GeneratedStream, StoreSpec, MiB
    spec = StoreSpec("child", **json.loads(sys.argv[1]))
    size = int(sys.argv[2])
    store = spec.open()
    store.get_bytes(store.put_stream(GeneratedStream(MiB, 1)).address)  # warm up
    def peak():
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    base = peak()
    info = store.put_stream(GeneratedStream(size, 2))
    after_put = peak()
    dest = os.path.join(sys.argv[3], "out.bin")
    store.get_file(info.address, dest)
    with store.open(info.address) as reader:
        while reader.read(8 * MiB):
            pass
    print(json.dumps({"base": base, "put": after_put - base, "get": peak() - base,
                      "size": os.path.getsize(dest), "stored": info.size}))
    """
)


@pytest.mark.slow
def test_streaming_memory_is_bounded(local_spec: StoreSpec, tmp_path: Path) -> None:
    size = 300 * MiB
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, local_spec.to_json(), str(size), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(result.stdout)
    assert figures["size"] == figures["stored"] == size
    # Buffers are a few MiB; 300 MB through put and get may grow the peak by far less.
    assert figures["put"] < 48 * MiB, figures
    assert figures["get"] < 48 * MiB, figures
