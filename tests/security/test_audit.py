"""Tampering with the audit trail in any way is detected and located."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, text, update

from mlsteward.errors import PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    Actor,
    AuditVerifyReport,
    create_checkpoint,
    create_project,
    export_audit,
    list_audit_events,
    verify_audit,
)
from mlsteward.settings import Settings
from mlsteward.store._tables import audit_checkpoints, audit_events


def _fill(platform: Platform, n: int) -> None:
    for i in range(n):
        create_project(platform, SYSTEM, f"p{i}", f"project {i}")


def _verify(platform: Platform) -> AuditVerifyReport:
    return verify_audit(platform, SYSTEM)


def test_untouched_chain_verifies(backend_platform: Platform) -> None:
    _fill(backend_platform, 5)
    report = _verify(backend_platform)
    assert report.ok
    assert report.events == 6  # default project + 5
    assert report.first_bad_seq is None


def test_updated_row_is_detected_at_its_position(backend_platform: Platform) -> None:
    _fill(backend_platform, 6)
    with backend_platform.db.write() as conn:
        conn.execute(
            update(audit_events).where(audit_events.c.seq == 4).values(actor_name="mallory")
        )
    report = _verify(backend_platform)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "does not match its stored hash" in (report.problem or "")


def test_updated_details_with_recomputed_own_hash_is_detected_at_next(
    backend_platform: Platform,
) -> None:
    """An attacker who recomputes the edited row's own hash still breaks the next link."""
    from mlsteward.security._audit import compute_event_hash

    _fill(backend_platform, 6)
    with backend_platform.db.write() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.seq == 3)).one()._mapping
        fields = {k: row[k] for k in row if k != "hash"}
        fields["details"] = {"forged": True}
        conn.execute(
            update(audit_events)
            .where(audit_events.c.seq == 3)
            .values(details=fields["details"], hash=compute_event_hash(**fields))
        )
    report = _verify(backend_platform)
    assert report.first_bad_seq == 4
    assert "previous-hash" in (report.problem or "")


def test_deleted_row_is_detected(backend_platform: Platform) -> None:
    _fill(backend_platform, 6)
    with backend_platform.db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 5))
    report = _verify(backend_platform)
    assert report.first_bad_seq == 5
    assert "deleted, inserted or renumbered" in (report.problem or "")


def test_inserted_row_is_detected(backend_platform: Platform) -> None:
    _fill(backend_platform, 4)
    with backend_platform.db.write() as conn:
        rows = conn.execute(
            select(audit_events).where(audit_events.c.seq >= 3).order_by(audit_events.c.seq.desc())
        ).all()
        for r in rows:  # shift 3.. up by one to make room
            conn.execute(
                update(audit_events).where(audit_events.c.seq == r.seq).values(seq=r.seq + 1)
            )
        template = dict(rows[-1]._mapping)
        template.update(seq=3, action="user.create", target_id="backdoor")
        conn.execute(audit_events.insert().values(**template))
    report = _verify(backend_platform)
    assert not report.ok
    assert report.first_bad_seq == 3


def test_reordered_rows_are_detected(backend_platform: Platform) -> None:
    _fill(backend_platform, 6)
    with backend_platform.db.write() as conn:
        a = dict(conn.execute(select(audit_events).where(audit_events.c.seq == 3)).one()._mapping)
        b = dict(conn.execute(select(audit_events).where(audit_events.c.seq == 4)).one()._mapping)
        conn.execute(delete(audit_events).where(audit_events.c.seq.in_([3, 4])))
        conn.execute(audit_events.insert().values(**{**b, "seq": 3}))
        conn.execute(audit_events.insert().values(**{**a, "seq": 4}))
    report = _verify(backend_platform)
    assert report.first_bad_seq == 3


def test_dropping_newest_events_is_detected_against_checkpoint(
    backend_platform: Platform,
) -> None:
    _fill(backend_platform, 5)
    checkpoint = create_checkpoint(backend_platform, SYSTEM)
    assert checkpoint is not None
    assert checkpoint.seq == 6
    _fill_more = [create_project(backend_platform, SYSTEM, f"q{i}") for i in range(2)]
    assert len(_fill_more) == 2
    with backend_platform.db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq >= 5))
    report = _verify(backend_platform)
    assert not report.ok
    assert report.first_bad_seq == 5
    assert "newest events were removed" in (report.problem or "")


def test_forged_checkpoint_signature_is_detected(backend_platform: Platform) -> None:
    _fill(backend_platform, 2)
    create_checkpoint(backend_platform, SYSTEM)
    with backend_platform.db.write() as conn:
        conn.execute(update(audit_checkpoints).values(signature="00" * 64))
    report = _verify(backend_platform)
    assert not report.ok
    assert "invalid signature" in (report.problem or "")


def test_checkpoints_are_signed_automatically_every_interval(
    make_settings: Callable[..., Settings],
) -> None:
    platform = Platform.open(make_settings(audit_checkpoint_interval=3))
    _fill(platform, 6)  # 7 events -> checkpoints at 3 and 6
    with platform.db.read() as conn:
        seqs = conn.execute(select(audit_checkpoints.c.seq)).scalars().all()
    assert sorted(seqs) == [3, 6]
    assert verify_audit(platform, SYSTEM).last_checkpoint_seq == 6
    platform.close()


def test_audit_reads_need_admin_or_project_maintainer(platform: Platform, admin: Actor) -> None:
    from mlsteward.security import add_member, create_user

    create_project(platform, admin, "fraud")
    create_user(platform, admin, "vera", "a-long-password-1")
    add_member(platform, admin, "fraud", "vera", "viewer")
    vera = Actor(id=_user_id(platform, "vera"), name="vera", kind="user")
    with pytest.raises(PermissionDenied):
        list_audit_events(platform, vera)
    with pytest.raises(PermissionDenied):
        list_audit_events(platform, vera, project="fraud")
    with pytest.raises(PermissionDenied):
        verify_audit(platform, vera)
    with pytest.raises(PermissionDenied):
        export_audit(platform, vera)
    from mlsteward.security import set_member_role

    set_member_role(platform, admin, "fraud", "vera", "maintainer")
    events = list_audit_events(platform, vera, project="fraud")
    assert {e.action for e in events} >= {"project.create", "project.member_add"}


def test_list_filters_and_paging(platform: Platform) -> None:
    _fill(platform, 5)
    newest = list_audit_events(platform, SYSTEM, limit=2)
    assert [e.seq for e in newest] == [6, 5]
    older = list_audit_events(platform, SYSTEM, limit=2, before_seq=5)
    assert [e.seq for e in older] == [4, 3]
    assert [e.target_id for e in list_audit_events(platform, SYSTEM, target_id="p2")] == ["p2"]
    assert len(list_audit_events(platform, SYSTEM, action="project.*")) == 6
    exported = list(export_audit(platform, SYSTEM))
    assert [e.seq for e in exported] == list(range(1, 7))


def _user_id(platform: Platform, username: str) -> str:
    with platform.db.read() as conn:
        return str(
            conn.execute(
                text("SELECT id FROM users WHERE username = :u"), {"u": username}
            ).scalar_one()
        )


def test_verifying_without_the_signing_key_says_so(platform: Platform) -> None:
    from mlsteward.errors import ConfigurationError

    _fill(platform, 2)
    create_checkpoint(platform, SYSTEM)
    key_file = platform.settings.resolved_audit_key_file
    key_file.rename(key_file.with_suffix(".moved"))
    fresh = Platform.open(platform.settings)  # a replica without the key
    try:
        with pytest.raises(ConfigurationError, match="MLSTEWARD_AUDIT_KEY_FILE"):
            verify_audit(fresh, SYSTEM)
        assert not key_file.exists()  # verification did not mint a new key
    finally:
        fresh.close()
