"""The public surface of ``mlsteward.blobs`` is pinned."""

from __future__ import annotations

import mlsteward.blobs


def test_all_is_pinned_and_sorted() -> None:
    assert mlsteward.blobs.__all__ == [
        "BlobBatch",
        "BlobInfo",
        "BlobStore",
        "GcReport",
        "Keyring",
        "ProgressCallback",
        "VerifyReport",
        "check_address",
    ]
    assert sorted(mlsteward.blobs.__all__) == mlsteward.blobs.__all__
    for name in mlsteward.blobs.__all__:
        assert getattr(mlsteward.blobs, name) is not None


def test_public_callables_are_documented() -> None:
    store = mlsteward.blobs.BlobStore
    for name in dir(store):
        member = getattr(store, name)
        if not name.startswith("_") and callable(member):
            assert member.__doc__, f"BlobStore.{name} has no docstring"
