"""Content-addressed, optionally encrypted blob storage over a local folder or fsspec.

Blobs are immutable and named by the BLAKE3 digest of their content (keyed when encrypted);
writes are atomic and streamed with bounded memory. See ``BlobStore``.
"""

from ._address import check_address as check_address
from ._batch import BlobBatch as BlobBatch
from ._keyring import Keyring as Keyring
from ._reports import BlobInfo as BlobInfo
from ._reports import GcReport as GcReport
from ._reports import ProgressCallback as ProgressCallback
from ._reports import VerifyReport as VerifyReport
from ._store import BlobStore as BlobStore

__all__ = [
    "BlobBatch",
    "BlobInfo",
    "BlobStore",
    "GcReport",
    "Keyring",
    "ProgressCallback",
    "VerifyReport",
    "check_address",
]
