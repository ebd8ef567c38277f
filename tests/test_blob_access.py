"""Blob access through the service layer: admin only, audited, referenced for gc."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from mlsteward.blob_access import blob_size, open_blob, put_blob
from mlsteward.errors import PayloadTooLarge, PermissionDenied
from mlsteward.platform import Platform, ReferencedBlobs, referenced_blob_addresses
from mlsteward.security import SYSTEM, Actor, create_user, list_audit_events
from mlsteward.settings import Settings


def test_uploads_are_audited_and_survive_garbage_collection(
    platform: Platform, settings: Settings
) -> None:
    kept = put_blob(platform, SYSTEM, io.BytesIO(b"uploaded through the service"))
    stray = platform.blobs.put_bytes(b"written by nobody, referenced by nothing")
    referenced = referenced_blob_addresses(platform)
    assert kept.address in referenced
    assert stray.address not in referenced

    report = platform.blobs.gc(referenced, grace_seconds=0)

    assert platform.blobs.exists(kept.address)
    assert not platform.blobs.exists(stray.address)
    assert report is not None
    with open_blob(platform, SYSTEM, kept.address) as reader:
        assert reader.read() == b"uploaded through the service"
    assert blob_size(platform, SYSTEM, kept.address) == len(b"uploaded through the service")
    events = list_audit_events(platform, SYSTEM, action="blob.put")
    assert [e.target_id for e in events] == [kept.address]


def test_uploading_the_same_content_twice_keeps_one_reference(platform: Platform) -> None:
    first = put_blob(platform, SYSTEM, io.BytesIO(b"same"))
    second = put_blob(platform, SYSTEM, io.BytesIO(b"same"))
    assert (first.address, first.created, second.created) == (second.address, True, False)
    assert len(list_audit_events(platform, SYSTEM, action="blob.put")) == 2


def test_non_admins_cannot_touch_raw_blobs(platform: Platform, admin: Actor) -> None:
    create_user(platform, admin, "eve", "a-long-password-1")
    eve = Actor(id="eve-id", name="eve", kind="user")
    with pytest.raises(PermissionDenied):
        put_blob(platform, eve, io.BytesIO(b"x"))
    assert list(platform.blobs.iter_addresses()) == []


def test_oversized_uploads_store_nothing(make_settings: Callable[..., Settings]) -> None:
    small = Platform.open(make_settings(max_upload_bytes=1024))
    try:
        with pytest.raises(PayloadTooLarge):
            put_blob(small, SYSTEM, io.BytesIO(b"x" * 5000))
        assert list(small.blobs.iter_addresses()) == []
        assert list_audit_events(small, SYSTEM, action="blob.put") == []
    finally:
        small.close()


def test_referenced_addresses_stream_distinct_and_verify_reports_missing(
    platform: Platform,
) -> None:
    from sqlalchemy import insert

    from mlsteward.store import utcnow
    from mlsteward.store._tables import blob_refs

    stored = [put_blob(platform, SYSTEM, io.BytesIO(bytes([i]) * 10)).address for i in range(5)]
    ghost = "f" * 64
    with platform.db.write() as conn:  # a second owner of one blob, and a reference to nothing
        for owner, address in (("run", stored[0]), ("run", ghost)):
            conn.execute(
                insert(blob_refs).values(
                    address=address, owner_type=owner, owner_id="r1", size=1, created_at=utcnow()
                )
            )
    refs = ReferencedBlobs(platform.db, batch_size=2)
    assert list(refs) == sorted({*stored, ghost})

    report = platform.blobs.verify(expected=refs)

    assert report.missing == [ghost]
    assert not report.ok
