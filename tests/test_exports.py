"""Each subsystem's public surface is pinned: changing it is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "mlsteward": ["Client", "__version__"],
    "mlsteward.store": [
        "Database",
        "JSONText",
        "UTCDateTime",
        "head_revision",
        "metadata",
        "normalize_database_url",
        "upgrade",
        "utcnow",
    ],
    "mlsteward.security": [
        "ALL_SCOPES",
        "ANONYMOUS",
        "LOCAL_ADMIN",
        "SYSTEM",
        "Actor",
        "AuditCheckpoint",
        "AuditEvent",
        "AuditLog",
        "AuditVerifyReport",
        "CheckpointSigner",
        "CreatedToken",
        "LoginSession",
        "Member",
        "Project",
        "ProjectId",
        "Role",
        "Scope",
        "TokenId",
        "TokenInfo",
        "User",
        "UserId",
        "add_member",
        "authenticate_password",
        "authenticate_session",
        "authenticate_token",
        "count_admins",
        "create_admin",
        "create_checkpoint",
        "create_project",
        "create_token",
        "create_user",
        "export_audit",
        "fetch_project",
        "generate_password",
        "get_project",
        "get_user",
        "list_audit_events",
        "list_members",
        "list_projects",
        "list_tokens",
        "login",
        "logout",
        "my_role",
        "project_role",
        "remove_member",
        "require_admin",
        "require_project_role",
        "require_scope",
        "revoke_token",
        "set_member_role",
        "set_password",
        "set_user_disabled",
        "verify_audit",
    ],
    "mlsteward.server": [
        "API_PREFIX",
        "auth_required",
        "check_can_serve",
        "create_app",
        "run_server",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned_and_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert sorted(exported) == sorted(PUBLIC[module_name])
    for name in exported:
        assert getattr(module, name) is not None
