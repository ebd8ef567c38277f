"""Who may predict with a project's models: the one rule for inference servers.

An inference server asks it for each platform token presented to it, either in-process
(``serving``'s local lookup) or over HTTP (``GET /api/v1/projects/{project}/predict-access``),
so both ways refuse the same tokens with the same messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from ._actors import Actor, Role, Scope
from ._permissions import project_role
from ._projects import fetch_project
from ._validation import check_name

if TYPE_CHECKING:
    from ..platform import Platform


def require_predict_access(platform: Platform, actor: Actor, project: str) -> Role:
    """The actor's role in ``project`` when it may call the project's inference servers.

    It may when it holds the ``predict`` scope and any role in the project (viewer is
    enough). Reading only: no audit event. ``Unauthenticated`` for an anonymous actor;
    ``PermissionDenied`` (details: ``username``) without the scope, for a project that does
    not exist (not ``NotFound``: an inference server's project was deleted under it) or
    without a role.
    """
    if not actor.is_authenticated:
        raise Unauthenticated("pass a platform token with the predict scope")
    details: dict[str, object] = {"username": actor.name}
    if Scope.PREDICT not in actor.scopes:
        raise PermissionDenied(
            "this token lacks the 'predict' scope: create one with "
            "`mlsteward tokens create --user NAME --name serving --scope predict`",
            details={**details, "needed_scope": Scope.PREDICT.value},
        )
    with platform.db.read() as conn:
        try:  # a name no project may have (NUL, 2,000 characters) is not looked up
            project_id = fetch_project(conn, check_name("project", project)).id
        except (NotFound, InvalidArgument):
            raise PermissionDenied(
                f"the project {project[:100]!r} of this model no longer exists", details=details
            ) from None
        role = project_role(conn, actor, project_id)
    if role is None:
        raise PermissionDenied(
            f"user {actor.name!r} has no role in project {project!r}: ask one of its "
            "maintainers to add you (viewer is enough to predict)",
            details=details,
        )
    return role
