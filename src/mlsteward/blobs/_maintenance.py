"""Whole-store work: verify, garbage collection, master key rotation."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Container, Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import ConfigurationError, DecryptionFailed, IntegrityError, NotFound
from ._address import (
    KEYS_DIR,
    OBJECTS_DIR,
    SIDECAR_SUFFIX,
    TMP_DIR,
    check_address,
    is_address,
    object_key,
)
from ._crypto import parse_sidecar, unwrap_data_key, wrap_data_key
from ._reports import GcReport, ProgressCallback, VerifyReport
from ._streams import copy_object

if TYPE_CHECKING:
    from ._store import BlobStore

_KEY_PROBLEMS = {"missing_wrapped_key", "unknown_master_key", "no_keyring"}


def verify_store(
    store: BlobStore,
    *,
    progress: ProgressCallback | None,
    expected: Iterable[str] | None,
) -> VerifyReport:
    """Read every object to the end (which checks hash and authentication); report problems."""
    wanted = [check_address(address) for address in expected] if expected is not None else []
    report = VerifyReport()
    for address, _entry in store._iter_objects():
        checked = 0
        try:
            decoder = store._decoder(address, parallel_hash=True)
            with decoder.handle:
                checked = copy_object(decoder, None, progress)
        except NotFound:
            continue  # deleted while we were listing
        except DecryptionFailed as exc:
            target = (
                report.missing_keys
                if exc.details.get("reason") in _KEY_PROBLEMS
                else report.corrupt
            )
            target.append(address)
            report.problems[address] = exc.message
        except IntegrityError as exc:
            report.corrupt.append(address)
            report.problems[address] = exc.message
        report.objects += 1
        report.bytes += checked
    backend = store._backend
    for address in wanted:
        if not backend.exists(object_key(address)):
            report.missing.append(address)
            report.problems[address] = "expected but not stored"
    return report


def collect_garbage(
    store: BlobStore,
    referenced: Container[str],
    *,
    grace_seconds: float,
    dry_run: bool,
) -> GcReport:
    """Delete what nothing references and the grace period no longer protects."""
    if grace_seconds < 0:
        from ..errors import InvalidArgument

        raise InvalidArgument(f"grace_seconds must be >= 0, not {grace_seconds}")
    backend = store._backend
    cutoff = time.time() - grace_seconds
    report = GcReport(dry_run=dry_run)
    for address, entry in store._iter_objects():
        if address in referenced:
            report.kept += 1
        elif entry.mtime > cutoff:
            report.young += 1
        else:
            if not dry_run:
                store.delete(address)
            report.deleted += 1
            report.deleted_bytes += entry.size
    for entry in list(backend.list_dir(TMP_DIR)):
        if entry.mtime <= cutoff:
            if not dry_run:
                backend.remove(f"{TMP_DIR}/{entry.name}")
            report.temp_deleted += 1
    for shard in backend.list_subdirs(KEYS_DIR):
        objects = {entry.name for entry in backend.list_dir(f"{OBJECTS_DIR}/{shard}")}
        for entry in list(backend.list_dir(f"{KEYS_DIR}/{shard}")):
            owner = _sidecar_address(shard, entry.name)
            if owner is None or owner[2:] in objects or entry.mtime > cutoff:
                continue
            if not dry_run:
                backend.remove(f"{KEYS_DIR}/{shard}/{entry.name}")
            report.orphan_keys_deleted += 1
    return report


def _sidecar_address(shard: str, name: str) -> str | None:
    if not name.endswith(SIDECAR_SUFFIX):
        return None
    address = name[: -len(SIDECAR_SUFFIX)]
    return address if is_address(address) and address.startswith(shard) else None


def _iter_sidecars(store: BlobStore) -> Iterator[tuple[str, str]]:
    backend = store._backend
    for shard in backend.list_subdirs(KEYS_DIR):
        for entry in list(backend.list_dir(f"{KEYS_DIR}/{shard}")):
            address = _sidecar_address(shard, entry.name)
            if address is not None:
                yield address, f"{KEYS_DIR}/{shard}/{entry.name}"


def rewrap_keys(store: BlobStore, *, progress: ProgressCallback | None) -> int:
    """Re-wrap every data key not yet under the active master key; return how many."""
    keyring = store.keyring
    if keyring is None:
        raise ConfigurationError(
            "this blob store has no keyring: set MLSTEWARD_MASTER_KEY_FILE to rotate keys"
        )
    backend = store._backend
    active = keyring.active_key_id
    rewrapped = 0
    for address, key in _iter_sidecars(store):
        try:
            raw = backend.read_small(key)
        except FileNotFoundError:
            continue  # deleted meanwhile
        key_id, data_key = unwrap_data_key(keyring, address, raw)
        if key_id != active:
            # One PUT / os.replace per sidecar: readers see the old or the new one, never half.
            backend.write_small(key, wrap_data_key(keyring, address, data_key), exclusive=False)
            rewrapped += 1
        if progress is not None:
            progress(1)
    return rewrapped


def count_key_usage(store: BlobStore) -> dict[str, int]:
    """Number of sidecars per master key id (``"<malformed>"`` for unreadable ones)."""
    counts: Counter[str] = Counter()
    backend = store._backend
    for address, key in _iter_sidecars(store):
        try:
            doc = parse_sidecar(backend.read_small(key), address)
        except FileNotFoundError:
            continue
        except IntegrityError:
            counts["<malformed>"] += 1
            continue
        counts[str(doc["key_id"])] += 1
    return dict(sorted(counts.items()))
