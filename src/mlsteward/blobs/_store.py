"""``BlobStore``: content-addressed, optionally encrypted blobs over a folder or fsspec URL."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
from collections.abc import Container, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import DecryptionFailed, InvalidArgument, NotFound
from ._address import (
    OBJECTS_DIR,
    check_address,
    is_address,
    new_hasher,
    object_key,
    sidecar_key,
)
from ._backend import Backend, Entry, LocalBackend, open_backend
from ._batch import BlobBatch
from ._crypto import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MAGIC,
    ChunkCipher,
    decode_header,
    new_data_key,
    plaintext_size,
    unwrap_data_key,
    wrap_data_key,
)
from ._kernel_copy import copy_file_in, copy_object_out
from ._keyring import Keyring
from ._pipeline import read_full, write_all
from ._reports import BlobInfo, GcReport, ProgressCallback, VerifyReport
from ._streams import ObjectDecoder, ObjectReader, WrittenTemp, copy_object, write_temp

if TYPE_CHECKING:
    from ..settings import Settings

_READ_BUFFER_SIZE = 1024 * 1024
_ORPHAN_SIDECAR_SECONDS = 60.0
_ASSUMED_PUBLISH_BYTES_PER_SECOND = 20e6
_NO_KEYRING = (
    "blob {address} is encrypted but no keyring is configured: set MLSTEWARD_MASTER_KEY_FILE "
    "to the keyring file the store was written with"
)


class BlobStore:
    """Immutable blobs named by the BLAKE3 digest of their content.

    ``url`` is a local folder or any fsspec URL (``s3://bucket/prefix``); ``storage_options``
    go to fsspec. With a ``keyring`` every object is encrypted at rest (AES-256-GCM, one data
    key per object, wrapped by the keyring's active master key) and addresses are keyed
    BLAKE3 digests. Writes are atomic: readers never see a partial object. All I/O streams
    with bounded memory. Safe to share between threads; several processes may share a store.
    """

    def __init__(
        self,
        url: str,
        *,
        storage_options: dict[str, Any] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self._backend: Backend = open_backend(url, storage_options)
        self._keyring = keyring
        self._address_key = keyring.address_key if keyring is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        """The store configured by ``settings`` (blob URL, storage options, keyring file)."""
        keyring = Keyring.load(settings.master_key_file) if settings.master_key_file else None
        return cls(
            settings.resolved_blob_url,
            storage_options=settings.blob_storage_options or None,
            keyring=keyring,
        )

    def __repr__(self) -> str:
        return f"BlobStore({self._backend.url!r}, encrypted={self.encrypted})"

    @property
    def url(self) -> str:
        """Where the store lives."""
        return self._backend.url

    @property
    def encrypted(self) -> bool:
        """True when objects are encrypted at rest."""
        return self._keyring is not None

    @property
    def keyring(self) -> Keyring | None:
        """The keyring used for encryption, if any."""
        return self._keyring

    # -- writing ---------------------------------------------------------------------------

    def put_file(
        self, path: str | os.PathLike[str], *, progress: ProgressCallback | None = None
    ) -> BlobInfo:
        """Store the content of a local file; ``NotFound`` if it does not exist.

        Into a local, unencrypted store the kernel copies the file (``copy_file_range``) and
        the address is the hash of the bytes that landed; otherwise it streams like
        ``put_stream``.
        """
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            raise NotFound(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InvalidArgument(f"{path} is a folder, not a file") from None
        with handle:
            if self._keyring is None and isinstance(self._backend, LocalBackend):
                written = copy_file_in(self._backend, handle.fileno(), progress)
                if written is not None:
                    return self._publish_written(written, None)
            return self.put_stream(handle, progress=progress)

    @contextlib.contextmanager
    def batch(self) -> Iterator[BlobBatch]:
        """Store many blobs made durable together: faster than single puts for many small
        ones. They become visible when the ``with`` block ends without an exception (each
        on disk before its address names it); on an exception none does.

        Only a local, unencrypted store batches; others store each blob at once.
        """
        batch = BlobBatch(self, self._backend)
        try:
            yield batch
        except BaseException:
            batch.abort()
            raise
        batch.commit()

    def put_bytes(self, data: bytes | bytearray | memoryview) -> BlobInfo:
        """Store ``data``."""
        return self.put_stream(io.BytesIO(data))

    def put_stream(
        self,
        source: Any,
        *,
        progress: ProgressCallback | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Store everything read from a blocking binary stream (``read``/``readinto``).

        Hashes (and encrypts) while writing to a temporary object, then publishes it
        atomically at its address; ``created`` is False when the content was already stored.
        Raises ``PayloadTooLarge`` (writing nothing) once more than ``max_bytes`` are read.
        """
        data_key = new_data_key() if self._keyring is not None else None
        cipher = ChunkCipher(data_key, DEFAULT_CHUNK_SIZE) if data_key is not None else None
        written = write_temp(
            source,
            self._backend.open_temp(),
            hasher=new_hasher(self._address_key),
            cipher=cipher,
            progress=progress,
            max_bytes=max_bytes,
        )
        return self._publish_written(written, data_key)

    def _publish_written(self, written: WrittenTemp, data_key: bytes | None) -> BlobInfo:
        try:
            created = self._publish(written.temp.key, written.address, written.size, data_key)
        except BaseException:
            self._backend.remove(written.temp.key)
            raise
        return BlobInfo(written.address, written.size, created)

    def _publish(self, temp_key: str, address: str, size: int, data_key: bytes | None) -> bool:
        final = object_key(address)
        if data_key is None or self._keyring is None:
            if self._backend.exists(final):
                self._drop_duplicate(temp_key, final)
                return False
            self._backend.publish(temp_key, final)
            return True
        # Encrypted: the wrapped key must match the object. The writer that creates the
        # sidecar (atomically, if absent) is the one that publishes the object; concurrent
        # writers of the same content wait for it, then drop their copy.
        sidecar = sidecar_key(address)
        document = wrap_data_key(self._keyring, address, data_key)
        orphan_after = _ORPHAN_SIDECAR_SECONDS + size / _ASSUMED_PUBLISH_BYTES_PER_SECOND
        delay = 0.01
        while True:
            object_there = self._backend.exists(final)
            if object_there and self._backend.exists(sidecar):
                self._drop_duplicate(temp_key, final)
                return False
            if self._backend.write_small(sidecar, document, exclusive=True):
                self._backend.publish(temp_key, final)
                return True
            entry = self._backend.stat(sidecar)
            if entry is None or self._backend.exists(final):
                continue  # the other writer finished or gave up: look again
            if time.time() - entry.mtime > orphan_after:
                # Left by a writer that died before publishing its object.
                self._backend.remove(sidecar)
                continue
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _drop_duplicate(self, temp_key: str, final: str) -> None:
        self._backend.remove(temp_key)
        self._backend.touch(final)  # a re-stored object is young again for gc

    # -- reading ---------------------------------------------------------------------------

    def open(self, address: str) -> BinaryIO:
        """A streaming reader of a blob's plaintext (bounded memory; not seekable).

        Raises ``InvalidArgument`` for a malformed address, ``NotFound`` if absent,
        ``DecryptionFailed`` if the data key cannot be unwrapped. Encrypted data is
        authenticated chunk by chunk before it is returned; reading to the end raises
        ``IntegrityError`` if the content does not match the address.
        """
        return io.BufferedReader(ObjectReader(self._decoder(address)), _READ_BUFFER_SIZE)

    def _decoder(self, address: str, *, parallel_hash: bool = False) -> ObjectDecoder:
        check_address(address)
        data_key = self._data_key(address) if self._keyring is not None else None
        try:
            handle = self._backend.open_read(object_key(address))
        except FileNotFoundError:
            raise NotFound(
                f"no blob with address {address}", details={"address": address}
            ) from None
        hasher = new_hasher(self._address_key, parallel=parallel_hash)
        if data_key is not None:
            return ObjectDecoder(handle, address, hasher, data_key)
        try:
            prefix = self._check_not_encrypted(handle, address)
        except BaseException:
            handle.close()
            raise
        return ObjectDecoder(handle, address, hasher, None, prefix)

    def _check_not_encrypted(self, handle: BinaryIO, address: str) -> bytes:
        """Read the first bytes; refuse, before returning any ciphertext, an encrypted object."""
        header = bytearray(HEADER_SIZE)
        prefix = bytes(header[: read_full(handle, memoryview(header))])
        if prefix.startswith(MAGIC) and self._backend.exists(sidecar_key(address)):
            raise DecryptionFailed(
                _NO_KEYRING.format(address=address),
                details={"address": address, "reason": "no_keyring"},
            )
        return prefix

    def _data_key(self, address: str) -> bytes:
        assert self._keyring is not None
        try:
            raw = self._backend.read_small(sidecar_key(address))
        except FileNotFoundError:
            if not self._backend.exists(object_key(address)):
                raise NotFound(
                    f"no blob with address {address}", details={"address": address}
                ) from None
            raise DecryptionFailed(
                f"the wrapped data key of blob {address} is missing (keys/ sidecar deleted); "
                "the object cannot be decrypted: restore the keys/ folder from a backup",
                details={"address": address, "reason": "missing_wrapped_key"},
            ) from None
        return unwrap_data_key(self._keyring, address, raw)[1]

    def get_bytes(self, address: str) -> bytes:
        """A blob's whole plaintext in memory (use ``open``/``get_file`` for big blobs)."""
        with self.open(address) as reader:
            return reader.read()

    def get_file(
        self,
        address: str,
        dest_path: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Write a blob to ``dest_path`` (via a temp file renamed on success); return its size.

        ``dest_path`` appears only complete and verified; on any error (including corruption
        found at the end) it is left untouched. Like a plain file copy it is not fsynced: call
        ``os.fsync`` on it if the copy itself must survive a power failure.
        """
        dest = Path(dest_path)
        decoder = self._decoder(address)
        temp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.part")
        try:
            with decoder.handle, open(temp, "xb+", buffering=0) as out:
                size = None
                if self._keyring is None and self._backend.is_local:
                    size = copy_object_out(decoder, out.fileno(), progress)
                if size is None:
                    size = copy_object(decoder, write_all(out), progress)
            os.replace(temp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return size

    def exists(self, address: str) -> bool:
        """True if a blob is stored at ``address``."""
        return self._backend.exists(object_key(check_address(address)))

    def size(self, address: str) -> int:
        """A blob's plaintext size in bytes; ``NotFound`` if absent."""
        key = object_key(check_address(address))
        entry = self._backend.stat(key)
        if entry is None:
            raise NotFound(f"no blob with address {address}", details={"address": address})
        if self._keyring is None:
            return entry.size
        try:
            header = self._backend.read_range(key, 0, HEADER_SIZE)
        except FileNotFoundError:
            raise NotFound(
                f"no blob with address {address}", details={"address": address}
            ) from None
        return plaintext_size(entry.size, decode_header(header, address), address)

    def delete(self, address: str) -> bool:
        """Delete a blob (and its wrapped key); False if it was not stored."""
        check_address(address)
        deleted = self._backend.remove(object_key(address))
        if self._keyring is not None:
            self._backend.remove(sidecar_key(address))
        return deleted

    def iter_addresses(self) -> Iterator[str]:
        """Every stored address, one shard at a time (memory bounded by one shard listing)."""
        for address, _entry in self._iter_objects():
            yield address

    def _iter_objects(self) -> Iterator[tuple[str, Entry]]:
        for shard in self._backend.list_subdirs(OBJECTS_DIR):
            if len(shard) != 2:
                continue
            for entry in sorted(
                self._backend.list_dir(f"{OBJECTS_DIR}/{shard}"), key=lambda e: e.name
            ):
                address = shard + entry.name
                if is_address(address):
                    yield address, entry

    # -- maintenance -----------------------------------------------------------------------

    def verify(
        self,
        progress: ProgressCallback | None = None,
        *,
        expected: Iterable[str] | None = None,
    ) -> VerifyReport:
        """Re-hash (and decrypt and authenticate) every object; see ``VerifyReport``.

        ``expected`` addresses that are not stored are reported as ``missing``; a malformed
        expected address raises ``InvalidArgument`` before anything is read.
        """
        from ._maintenance import verify_store

        return verify_store(self, progress=progress, expected=expected)

    def gc(
        self,
        referenced: Container[str],
        *,
        grace_seconds: float = 3600,
        dry_run: bool = False,
    ) -> GcReport:
        """Delete unreferenced objects and stale temporary files older than the grace period.

        Objects younger than ``grace_seconds`` survive so that writes not yet recorded as
        references are safe. With ``dry_run`` nothing is deleted; the report says what would
        be. Memory stays bounded: objects are visited one shard at a time.
        """
        from ._maintenance import collect_garbage

        return collect_garbage(self, referenced, grace_seconds=grace_seconds, dry_run=dry_run)

    def rotate_keys(self, progress: ProgressCallback | None = None) -> int:
        """Re-wrap every data key under the keyring's active master key; return how many.

        Object data is never rewritten; each sidecar is replaced atomically. ``progress``
        receives 1 per sidecar visited. Raises ``ConfigurationError`` without a keyring.
        """
        from ._maintenance import rewrap_keys

        return rewrap_keys(self, progress=progress)

    def key_usage(self) -> dict[str, int]:
        """How many wrapped data keys each master key id protects (to know when one can go)."""
        from ._maintenance import count_key_usage

        return count_key_usage(self)
