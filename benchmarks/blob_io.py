"""Blob store put/get of one large generated file vs a plain file copy on the same disk.

mlsteward side: ``BlobStore.put_file`` (hash, optionally encrypt, fsync, atomic rename) and
``BlobStore.get_file`` (read, decrypt, verify the hash, atomic rename; no fsync, like a copy).
Peer sides: ``shutil.copyfile`` of the same file (kernel copy, no hashing), without and with
an ``fsync`` of the copy (the store fsyncs every object it publishes, for durability). Every
timed run starts with the file to read in the page cache and after ``os.sync()``, so earlier
writes do not slow it down. Each side runs in its own process: its peak RSS is its own.
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

FULL_SIZE = 1_000_000_000
QUICK_SIZE = 50_000_000
SEED = 20240601
_GEN_CHUNK = 8 * 1024 * 1024


def generate(path: Path, size: int, seed: int = SEED) -> None:
    """Write ``size`` incompressible bytes from a fixed seed (BLAKE3 XOF), unless present."""
    if path.exists() and path.stat().st_size == size:
        return
    xof = blake3.blake3(seed.to_bytes(8, "big"))
    with open(path, "wb") as out:
        for offset in range(0, size, _GEN_CHUNK):
            out.write(xof.digest(length=min(_GEN_CHUNK, size - offset), seek=offset))


def _warm(path: Path) -> None:
    """Read a file so that it is in the page cache (the host may evict idle pages)."""
    buffer = bytearray(_GEN_CHUNK)
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one side ``runs`` times; return the timings and this process's peak RSS."""
    source = Path(job["source"])
    work = Path(job["work"])
    side = job["side"]
    times: list[float] = []
    if side in ("copyfile", "copyfile+fsync"):
        dest = work / "copy.bin"
        for _ in range(job["runs"]):
            dest.unlink(missing_ok=True)
            _warm(source)
            os.sync()
            start = time.perf_counter()
            shutil.copyfile(source, dest)
            if side == "copyfile+fsync":
                fd = os.open(dest, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            times.append(time.perf_counter() - start)
        dest.unlink(missing_ok=True)
    else:
        from mlsteward.blobs import BlobStore, Keyring

        keyring = Keyring.load(job["keyring"]) if job.get("keyring") else None
        if job["op"] == "put":
            root = work / "put-store"
            for _ in range(job["runs"]):
                shutil.rmtree(root, ignore_errors=True)  # a fresh store: no dedup shortcut
                store = BlobStore(str(root), keyring=keyring)
                _warm(source)
                os.sync()
                start = time.perf_counter()
                store.put_file(source)
                times.append(time.perf_counter() - start)
            shutil.rmtree(root, ignore_errors=True)
        else:
            store = BlobStore(job["store"], keyring=keyring)
            dest = work / "restored.bin"
            address = job["address"]
            stored = Path(job["store"], "objects", address[:2], address[2:])
            for _ in range(job["runs"]):
                dest.unlink(missing_ok=True)
                _warm(stored)
                os.sync()
                start = time.perf_counter()
                store.get_file(job["address"], dest)
                times.append(time.perf_counter() - start)
            dest.unlink(missing_ok=True)
    return {"times": times, "peak_rss": peak_rss()}


PEERS = ("copyfile", "copyfile+fsync")


def _measure(job: dict[str, Any], repeat: int, sides: list[str]) -> dict[str, Side]:
    """Alternate the sides run by run (one process each), after one warm-up run per side.

    Interleaving keeps a change in machine load from favouring one side.
    """
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
    """Measure put and get, plain and encrypted; one row per case and peer."""
    from mlsteward.blobs import BlobStore, Keyring

    size = QUICK_SIZE if quick else FULL_SIZE
    base = Path(tempfile.mkdtemp(prefix="mlsteward-bench-", dir=workdir))
    try:
        source = base / "source.bin"
        generate(source, size)
        keyring_path = base / "keyring.json"
        keyring = Keyring.generate(keyring_path)
        rows = []
        for encrypted in (False, True):
            store_root = base / ("get-store-encrypted" if encrypted else "get-store")
            address = (
                BlobStore(str(store_root), keyring=keyring if encrypted else None)
                .put_file(source)
                .address
            )
            for op in ("put", "get"):
                job: dict[str, Any] = {
                    "source": str(source),
                    "work": str(base),
                    "op": op,
                    "keyring": str(keyring_path) if encrypted else None,
                    "store": str(store_root),
                    "address": address,
                }
                sides = ["mlsteward", *(PEERS if peer else ())]
                results = _measure(job, repeat, sides)
                name = f"blob {op}" + (" encrypted" if encrypted else "")
                if not peer:
                    rows.append(Row(name, size, results["mlsteward"], None))
                for peer_name in PEERS if peer else ():
                    rows.append(
                        Row(
                            f"{name} vs {peer_name}", size, results["mlsteward"], results[peer_name]
                        )
                    )
            shutil.rmtree(store_root, ignore_errors=True)
        return rows
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    args = parser.parse_args()
    print(json.dumps(_child(json.loads(args.child))))
    sys.exit(0)
