"""The registry pages of the web UI: models, a model, and the forms of the model page
(promotion requests and decisions, setting and removing aliases, alias policies).

Every page and action goes through the registry services with the logged-in actor. A refused
action (four-eyes, an unmet policy, a conflicting request, bad input) re-renders the model page
with the service's message and HTTP status; a policy refusal lists every unmet condition, and
a policy that cannot be saved shows why inside its editor. The version page and its model card
live in ``_ui_registry_version``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, NotFound, PermissionDenied, PolicyNotMet, StewardError
from ..registry import (
    PromotionRequest,
    RequestStatus,
    alias_history_of,
    apply_promotion,
    approve_promotion,
    cancel_promotion,
    delete_alias,
    get_alias_policy,
    get_registered_model,
    list_alias_policies,
    list_model_versions,
    list_promotion_requests,
    list_registered_models,
    reject_promotion,
    request_promotion,
    set_alias,
    set_alias_policy,
)
from ..security import Role, list_projects, my_role
from ._ui_registry_policies import (
    PolicyEditor,
    conditions_from_form,
    describe_condition,
    editor_for,
    editor_from_form,
    flag_types,
    metric_rows,
)
from ._ui_registry_version import router as version_router
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
router.include_router(version_router)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]

WELL_KNOWN_ALIASES = ("production", "staging")
"""Aliases whose policy the model page shows even before any version held them."""
_OPEN = frozenset({RequestStatus.PENDING, RequestStatus.APPROVED})


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def models_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/models"


def model_path(project: str, name: str) -> str:
    return f"{models_path(project)}/{quote(name, safe='')}"


# -- pages ------------------------------------------------------------------------------------


@router.get("/models")
def models_home(page: Viewer) -> Response:
    projects = list_projects(page.platform, page.actor)
    wanted = page.request.query_params.get("project", "")
    if wanted:
        if not any(p.name == wanted for p in projects):
            raise InvalidArgument(f"there is no project {wanted[:64]!r} that you can see")
        return _see_other(models_path(wanted))
    if projects:
        return _see_other(models_path(projects[0].name))
    return render(
        page, "registry_models.html", active="models", projects=[], project=None, models=[]
    )


@router.get("/projects/{project}/models")
def models_page(page: Viewer, project: str) -> Response:
    models = list_registered_models(page.platform, page.actor, project)
    return render(
        page,
        "registry_models.html",
        active="models",
        projects=list_projects(page.platform, page.actor),
        project=project,
        models=models,
    )


def _model_page(
    page: Page,
    project: str,
    name: str,
    *,
    status: int = 200,
    error: str | None = None,
    unmet: list[dict[str, str]] | None = None,
    form: dict[str, str] | None = None,
    policy_form: PolicyEditor | None = None,
    show_alias: str | None = None,
) -> Response:
    """The model page; ``policy_form`` is a refused policy form, shown in its alias's editor
    (or in the editor for another alias) with its error."""
    platform, actor = page.platform, page.actor
    model = get_registered_model(platform, actor, project, name)
    versions = list_model_versions(platform, actor, project, name)
    history = alias_history_of(platform, actor, project, name)
    requests = list_promotion_requests(platform, actor, project, name)
    role = my_role(platform, actor, project)
    with_policies = list_alias_policies(platform, actor, project, model=name)
    aliases = dict.fromkeys(
        [*model.aliases, *WELL_KNOWN_ALIASES, *with_policies, *(p.alias for p in history)]
        + [r.alias for r in requests]
        + ([show_alias] if show_alias else [])
    )
    policies, editors = [], []
    for alias in sorted(aliases):
        conditions = get_alias_policy(platform, actor, project, alias, model=name)
        policies.append((alias, [describe_condition(c) for c in conditions]))
        refused_here = policy_form is not None and policy_form.alias == alias
        editors.append(policy_form if refused_here else editor_for(alias, conditions))
    new_policy = PolicyEditor("")
    if policy_form is not None and policy_form.alias not in aliases:
        new_policy = policy_form  # a policy for an alias nobody has used yet
    return render(
        page,
        "registry_model.html",
        status=status,
        active="models",
        error=error,
        unmet=unmet or [],
        form=form or {},
        project=project,
        model=model,
        versions=versions,
        history=list(reversed(history)),
        open_requests=[r for r in requests if r.status in _OPEN],
        closed_requests=[r for r in requests if r.status not in _OPEN],
        policies=policies,
        policy_editors=editors,
        new_policy=new_policy,
        flag_types=flag_types(),
        known_aliases=list(aliases),
        can_request=role is not None and role >= Role.EDITOR,
        can_decide=role is not None and role >= Role.MAINTAINER,
        me=actor.name,
        base=model_path(project, name),
        models_base=models_path(project),
    )


@router.get("/projects/{project}/models/{name}")
def model_page(page: Viewer, project: str, name: str, alias: str = "") -> Response:
    """The model page; ``?alias=`` also shows that alias's policy (one just saved for an
    alias no version has held yet)."""
    return _model_page(page, project, name, show_alias=alias or None)


# -- actions ----------------------------------------------------------------------------------


def _refused(
    page: Page, project: str, name: str, exc: StewardError, form: dict[str, str]
) -> Response:
    unmet = exc.details.get("unmet") if isinstance(exc, PolicyNotMet) else None
    return _model_page(
        page,
        project,
        name,
        status=status_for(exc),
        error=exc.message,
        unmet=[u for u in unmet if isinstance(u, dict)] if isinstance(unmet, list) else None,
        form=form,
    )


def _version_number(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidArgument(f"version must be a version number, not {text[:20]!r}") from None


@router.post("/projects/{project}/models/{name}/promotions")
def promotion_request(
    page: Writer,
    project: str,
    name: str,
    version: FormText = "",
    alias: FormText = "",
    comment: FormText = "",
) -> Response:
    form = {"version": version, "alias": alias, "comment": comment}
    try:
        created = request_promotion(
            page.platform,
            page.actor,
            project,
            name,
            _version_number(version),
            alias.strip(),
            comment,
        )
    except StewardError as exc:
        return _refused(page, project, name, exc, form)
    flash(
        page.request,
        f"Requested promotion of version {created.version} to @{created.alias}; "
        "a maintainer other than you approves it.",
    )
    return _see_other(model_path(project, name))


def _decided(request: PromotionRequest, unmet: list[dict[str, str]]) -> str:
    if not unmet:
        return f"Approved: @{request.alias} now points at version {request.version}."
    names = ", ".join(str(u.get("condition", "?")) for u in unmet)
    return (
        f"Approved, but @{request.alias} has not moved: {len(unmet)} unmet "
        f"condition{'s' if len(unmet) > 1 else ''} ({names}). Meet them, then apply the request."
    )


@router.post("/projects/{project}/models/{name}/promotions/{request_id}/approve")
def promotion_approve(
    page: Writer, project: str, name: str, request_id: str, comment: FormText = ""
) -> Response:
    try:
        _check_request_of(page, project, name, request_id)
        approved, unmet = approve_promotion(page.platform, page.actor, project, request_id, comment)
    except StewardError as exc:
        return _refused(page, project, name, exc, {"decision": request_id, "comment": comment})
    flash(page.request, _decided(approved, unmet))
    return _see_other(model_path(project, name))


@router.post("/projects/{project}/models/{name}/promotions/{request_id}/reject")
def promotion_reject(
    page: Writer, project: str, name: str, request_id: str, comment: FormText = ""
) -> Response:
    try:
        _check_request_of(page, project, name, request_id)
        rejected = reject_promotion(page.platform, page.actor, project, request_id, comment)
    except StewardError as exc:
        return _refused(page, project, name, exc, {"decision": request_id, "comment": comment})
    flash(page.request, f"Rejected the request for version {rejected.version} @{rejected.alias}.")
    return _see_other(model_path(project, name))


@router.post("/projects/{project}/models/{name}/promotions/{request_id}/apply")
def promotion_apply(page: Writer, project: str, name: str, request_id: str) -> Response:
    try:
        _check_request_of(page, project, name, request_id)
        applied = apply_promotion(page.platform, page.actor, project, request_id)
    except StewardError as exc:
        return _refused(page, project, name, exc, {})
    flash(page.request, f"Applied: @{applied.alias} now points at version {applied.version}.")
    return _see_other(model_path(project, name))


@router.post("/projects/{project}/models/{name}/promotions/{request_id}/cancel")
def promotion_cancel(page: Writer, project: str, name: str, request_id: str) -> Response:
    try:
        _check_request_of(page, project, name, request_id)
        cancelled = cancel_promotion(page.platform, page.actor, project, request_id)
    except StewardError as exc:
        return _refused(page, project, name, exc, {})
    flash(
        page.request,
        f"Withdrew the request for version {cancelled.version} @{cancelled.alias}.",
    )
    return _see_other(model_path(project, name))


@router.post("/projects/{project}/models/{name}/aliases")
def alias_set(
    page: Writer, project: str, name: str, version: FormText = "", alias: FormText = ""
) -> Response:
    """Point an alias at a version directly (maintainers), if its policy allows it."""
    form = {"set_version": version, "set_alias": alias}
    alias = alias.strip()
    try:
        number = _version_number(version)
        before = get_registered_model(page.platform, page.actor, project, name).aliases
        moved = set_alias(page.platform, page.actor, project, name, alias, number)
    except StewardError as exc:
        return _refused(page, project, name, exc, form)
    if before.get(alias) == moved.version:
        flash(page.request, f"@{alias} already points at version {moved.version}.")
    else:
        flash(page.request, f"@{alias} now points at version {moved.version}.")
    return _see_other(model_path(project, name))


@router.post("/projects/{project}/models/{name}/aliases/{alias}/delete")
def alias_delete(page: Writer, project: str, name: str, alias: str) -> Response:
    """Remove an alias from the model (maintainers); its history keeps when it ended."""
    try:
        delete_alias(page.platform, page.actor, project, name, alias)
    except StewardError as exc:
        return _refused(page, project, name, exc, {})
    flash(page.request, f"Removed @{alias}; the alias history shows when it ended.")
    return _see_other(model_path(project, name))


@router.post("/projects/{project}/models/{name}/policies")
def policy_save(
    page: Writer,
    project: str,
    name: str,
    alias: FormText = "",
    condition: FormList = None,
    metric_kind: FormList = None,
    metric_name: FormList = None,
    metric_threshold: FormList = None,
    keep: FormList = None,
) -> Response:
    """Set the model's own policy for an alias (maintainers) from the policy editor."""
    alias, flags, kept = alias.strip(), condition or [], keep or []
    try:
        rows = metric_rows(metric_kind or [], metric_name or [], metric_threshold or [])
    except InvalidArgument as exc:
        return _refused(page, project, name, exc, {})
    try:
        conditions = conditions_from_form(flags, rows, kept)
        saved = set_alias_policy(page.platform, page.actor, project, alias, conditions, model=name)
    except PermissionDenied as exc:  # not a maintainer: there is no editor to show it in
        return _refused(page, project, name, exc, {})
    except StewardError as exc:
        refused = editor_from_form(alias, flags, rows, kept, exc.message)
        return _model_page(page, project, name, status=status_for(exc), policy_form=refused)
    listed = "; ".join(describe_condition(c) for c in saved) or "no conditions"
    flash(page.request, f"Saved the policy of @{alias}: {listed}.")
    # The page lists aliases in use; ask it for this one too, which may be new.
    return _see_other(f"{model_path(project, name)}?alias={alias}#policy-of-{alias}")


def _check_request_of(page: Page, project: str, name: str, request_id: str) -> None:
    """``NotFound`` unless the request belongs to this model (the services look requests up
    by project only; a form on one model's page must not act on another's)."""
    requests = list_promotion_requests(page.platform, page.actor, project, name)
    if not any(r.id == request_id for r in requests):
        raise NotFound(f"model {name!r} has no promotion request {request_id[:40]!r}")
