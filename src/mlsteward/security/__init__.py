"""Identity, access and audit: users, projects, roles, tokens, sessions, the audit chain."""

from ._actors import ALL_SCOPES as ALL_SCOPES
from ._actors import ANONYMOUS as ANONYMOUS
from ._actors import LOCAL_ADMIN as LOCAL_ADMIN
from ._actors import SYSTEM as SYSTEM
from ._actors import Actor as Actor
from ._actors import ProjectId as ProjectId
from ._actors import Role as Role
from ._actors import Scope as Scope
from ._actors import TokenId as TokenId
from ._actors import UserId as UserId
from ._audit import AuditCheckpoint as AuditCheckpoint
from ._audit import AuditEvent as AuditEvent
from ._audit import AuditLog as AuditLog
from ._audit import AuditVerifyReport as AuditVerifyReport
from ._audit import CheckpointSigner as CheckpointSigner
from ._audit_service import create_checkpoint as create_checkpoint
from ._audit_service import export_audit as export_audit
from ._audit_service import list_audit_events as list_audit_events
from ._audit_service import verify_audit as verify_audit
from ._permissions import project_role as project_role
from ._permissions import require_admin as require_admin
from ._permissions import require_project_role as require_project_role
from ._permissions import require_scope as require_scope
from ._predict_access import require_predict_access as require_predict_access
from ._projects import Member as Member
from ._projects import Project as Project
from ._projects import add_member as add_member
from ._projects import create_project as create_project
from ._projects import fetch_project as fetch_project
from ._projects import get_project as get_project
from ._projects import list_members as list_members
from ._projects import list_projects as list_projects
from ._projects import my_role as my_role
from ._projects import remove_member as remove_member
from ._projects import set_member_role as set_member_role
from ._sessions import LoginSession as LoginSession
from ._sessions import authenticate_password as authenticate_password
from ._sessions import authenticate_session as authenticate_session
from ._sessions import login as login
from ._sessions import logout as logout
from ._tokens import CreatedToken as CreatedToken
from ._tokens import TokenInfo as TokenInfo
from ._tokens import authenticate_token as authenticate_token
from ._tokens import create_token as create_token
from ._tokens import list_tokens as list_tokens
from ._tokens import revoke_token as revoke_token
from ._users import User as User
from ._users import count_admins as count_admins
from ._users import create_admin as create_admin
from ._users import create_user as create_user
from ._users import generate_password as generate_password
from ._users import get_user as get_user
from ._users import list_users as list_users
from ._users import set_password as set_password
from ._users import set_user_disabled as set_user_disabled

__all__ = [
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
    "require_predict_access",
    "require_project_role",
    "require_scope",
    "revoke_token",
    "set_member_role",
    "set_password",
    "set_user_disabled",
    "verify_audit",
]
