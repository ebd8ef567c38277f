"""Encryption at rest: no plaintext on disk, key rotation, wrong keys, tampering."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlsteward.blobs import BlobStore, Keyring
from mlsteward.blobs._crypto import DEFAULT_CHUNK_SIZE
from mlsteward.errors import ConfigurationError, DecryptionFailed, IntegrityError

from ._support import MiB, StoreSpec, generated_bytes, object_key, sidecar_key

ENCRYPTED_KINDS = ["local-encrypted", pytest.param("s3-encrypted", marks=pytest.mark.s3)]
CHUNK = DEFAULT_CHUNK_SIZE


@pytest.fixture(params=ENCRYPTED_KINDS)
def enc_spec(request: pytest.FixtureRequest, make_spec: Callable[[str], StoreSpec]) -> StoreSpec:
    return make_spec(request.param)


def _distinctive(size: int = 4096) -> bytes:
    line = b"mlsteward-secret-plaintext: the quick brown fox guards model weights. "
    return (line * (size // len(line) + 1))[:size]


def test_plaintext_never_reaches_storage(enc_spec: StoreSpec) -> None:
    store = enc_spec.open()
    secret = _distinctive()
    big = secret * 2000 + b"tail"  # > 2 chunks, repeated plaintext
    store.put_bytes(secret)
    store.put_bytes(big)
    needles = [secret[:64], secret[1000:1064], b"quick brown fox"]
    files = enc_spec.raw().files()
    assert len(files) == 4  # 2 objects + 2 sidecars
    for key, content in files.items():
        for needle in needles:
            assert needle not in content, f"plaintext found in {key}"
    assert all(
        json.loads(files[k])["type"] == "mlsteward.wrapped_key"
        for k in files
        if k.startswith("keys/")
    )


def test_rotation_rewraps_keys_without_rewriting_data(enc_spec: StoreSpec) -> None:
    store = enc_spec.open()
    blobs = {store.put_bytes(generated_bytes(n, seed=n)).address: n for n in (0, 5, CHUNK + 3)}
    raw = enc_spec.raw()
    objects_before = {k: v for k, v in raw.files().items() if k.startswith("objects/")}
    keyring = store.keyring
    assert keyring is not None
    old_id = keyring.active_key_id

    new_id = keyring.rotate()
    seen: list[int] = []
    assert store.rotate_keys(progress=seen.append) == 3
    assert sum(seen) == 3
    assert new_id != old_id
    assert store.rotate_keys() == 0  # already done: idempotent

    files = raw.files()
    assert {k: v for k, v in files.items() if k.startswith("objects/")} == objects_before
    for address in blobs:
        assert json.loads(files[sidecar_key(address)])["key_id"] == new_id
    reloaded = Keyring.load(keyring.path)  # type: ignore[arg-type]
    assert reloaded.active_key_id == new_id
    assert reloaded.key_ids == sorted([old_id, new_id])
    fresh = enc_spec.open(reloaded)
    for address, n in blobs.items():
        assert fresh.get_bytes(address) == generated_bytes(n, seed=n)
    assert fresh.key_usage() == {new_id: 3}
    assert fresh.verify().ok


def test_wrong_keyring_fails_clearly(enc_spec: StoreSpec, tmp_path: Path) -> None:
    store = enc_spec.open()
    address = store.put_bytes(_distinctive()).address
    other = enc_spec.open(Keyring.generate(tmp_path / "other.json"))
    with pytest.raises(DecryptionFailed, match="is needed but is not in the keyring") as caught:
        other.get_bytes(address)
    assert store.keyring is not None
    assert store.keyring.active_key_id in caught.value.message
    report = other.verify()
    assert report.missing_keys == [address]


def test_clashing_key_id_with_wrong_key_fails_authentication(enc_spec: StoreSpec) -> None:
    store = enc_spec.open()
    address = store.put_bytes(b"payload").address
    raw = enc_spec.raw()
    sidecar = json.loads(raw.read(sidecar_key(address)))
    sidecar["wrapped"] = sidecar["wrapped"][:-4] + (
        "AAAA" if sidecar["wrapped"][-4:] != "AAAA" else "BBBB"
    )
    raw.write(sidecar_key(address), json.dumps(sidecar).encode())
    with pytest.raises(DecryptionFailed, match=r"master key is wrong .* or the wrapped key"):
        store.get_bytes(address)


def test_no_keyring_refuses_encrypted_objects(enc_spec: StoreSpec) -> None:
    address = enc_spec.open().put_bytes(_distinctive()).address
    plain = BlobStore(enc_spec.url, storage_options=enc_spec.storage_options or None)
    with pytest.raises(DecryptionFailed, match="MLSTEWARD_MASTER_KEY_FILE"):
        plain.open(address)
    with pytest.raises(DecryptionFailed, match="MLSTEWARD_MASTER_KEY_FILE"):
        plain.get_bytes(address)
    assert plain.verify().missing_keys == [address]
    with pytest.raises(ConfigurationError, match="MLSTEWARD_MASTER_KEY_FILE"):
        plain.rotate_keys()


def test_sidecar_moved_to_another_object_fails(enc_spec: StoreSpec) -> None:
    store = enc_spec.open()
    first = store.put_bytes(b"first").address
    second = store.put_bytes(b"second").address
    raw = enc_spec.raw()
    raw.write(sidecar_key(second), raw.read(sidecar_key(first)))
    raw.write(object_key(second), raw.read(object_key(first)))
    with pytest.raises(DecryptionFailed, match="cannot unwrap the data key"):
        store.get_bytes(second)
    assert store.verify().corrupt == [second]


TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "truncated-at-chunk-boundary": lambda c: c[: 12 + CHUNK + 16],
    "truncated-mid-chunk": lambda c: c[:-100],
    "swapped-chunks": lambda c: (
        c[:12]
        + c[12 + CHUNK + 16 : 12 + 2 * (CHUNK + 16)]
        + c[12 : 12 + CHUNK + 16]
        + c[12 + 2 * (CHUNK + 16) :]
    ),
    "appended-bytes": lambda c: c + b"\x00" * 16,
    "header-chunk-size-edited": lambda c: c[:8] + (1024).to_bytes(4, "big") + c[12:],
    "bad-magic": lambda c: b"XXXXXXXX" + c[8:],
    "header-only": lambda c: c[:12],
}


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_detected_never_garbage(
    make_spec: Callable[[str], StoreSpec], tamper: Callable[[bytes], bytes]
) -> None:
    spec = make_spec("local-encrypted")
    store = spec.open()
    data = generated_bytes(2 * CHUNK + 1000, seed=11)
    address = store.put_bytes(data).address
    raw = spec.raw()
    raw.write(object_key(address), tamper(raw.read(object_key(address))))
    returned: list[bytes] = []

    def read_all() -> None:
        with store.open(address) as reader:
            while piece := reader.read(MiB):
                returned.append(piece)

    with pytest.raises(IntegrityError):
        read_all()
    assert data.startswith(b"".join(returned))  # only authenticated plaintext is returned
    assert store.verify().corrupt == [address]


def test_put_repairs_an_object_whose_key_was_lost(enc_spec: StoreSpec) -> None:
    store = enc_spec.open()
    data = _distinctive()
    address = store.put_bytes(data).address
    enc_spec.raw().delete(sidecar_key(address))
    with pytest.raises(DecryptionFailed, match=r"wrapped data key .* is missing"):
        store.get_bytes(address)
    again = store.put_bytes(data)
    assert (again.address, again.created) == (address, True)
    assert store.get_bytes(address) == data


def test_orphan_sidecar_from_a_crash_does_not_block_puts(
    make_spec: Callable[[str], StoreSpec],
) -> None:
    """A writer killed between writing the wrapped key and publishing the object."""
    import os
    import time

    spec = make_spec("local-encrypted")
    store = spec.open()
    data = b"content whose first writer died"
    address = store.put_bytes(data).address
    raw = spec.raw()
    stale = raw.read(sidecar_key(address))
    store.delete(address)
    raw.write(sidecar_key(address), stale)  # sidecar left without its object
    old = time.time() - 3600
    os.utime(Path(spec.url) / sidecar_key(address), (old, old))
    assert store.put_bytes(data).created is True
    assert store.get_bytes(address) == data


def test_concurrent_puts_of_the_same_content_agree_on_one_key(enc_spec: StoreSpec) -> None:
    """Each writer has its own data key; exactly one wins, the object stays readable."""
    from concurrent.futures import ThreadPoolExecutor

    data = generated_bytes(CHUNK + 12345, seed=77)
    stores = [enc_spec.open() for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        infos = list(pool.map(lambda s: s.put_bytes(data), stores))
    assert len({info.address for info in infos}) == 1
    assert sum(info.created for info in infos) == 1
    assert stores[0].get_bytes(infos[0].address) == data
    assert stores[0].verify().ok
    assert enc_spec.raw().list_keys("tmp/") == []
