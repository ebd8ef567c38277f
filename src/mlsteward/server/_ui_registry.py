"""The registry pages of the web UI: models, a model, a model version, and promotion forms.

Every page and action goes through the registry services with the logged-in actor. A refused
action (four-eyes, an unmet policy, a conflicting request, bad input) re-renders the model page
with the service's message and HTTP status; a policy refusal lists every unmet condition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, NotFound, PermissionDenied, PolicyNotMet, StewardError
from ..registry import (
    ModelVersion,
    PromotionRequest,
    RequestStatus,
    alias_history_of,
    apply_promotion,
    approve_promotion,
    cancel_promotion,
    condition_types,
    get_alias_policy,
    get_model_version,
    get_registered_model,
    list_model_versions,
    list_promotion_requests,
    list_registered_models,
    reject_promotion,
    request_promotion,
)
from ..security import Role, list_projects, my_role
from ..tracking import get_run
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]

WELL_KNOWN_ALIASES = ("production", "staging")
"""Aliases whose policy the model page shows even before any version held them."""
_OPEN = frozenset({RequestStatus.PENDING, RequestStatus.APPROVED})
_CARD_META_KEYS = frozenset({"type", "schema_version"})
_CARD_ORDER = (  # the order of a model card (Mitchell et al. 2019); other sections follow
    "model_details",
    "intended_use",
    "factors",
    "metrics",
    "metrics_notes",
    "evaluation_data",
    "training_data",
    "training_configuration",
    "ethical_considerations",
    "caveats",
)


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def models_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/models"


def model_path(project: str, name: str) -> str:
    return f"{models_path(project)}/{quote(name, safe='')}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


# -- views of free-form records ---------------------------------------------------------------


def describe_condition(condition: Mapping[str, Any]) -> str:
    """A policy condition in words, e.g. ``metric 'auc' >= 0.9``."""
    kind = str(condition.get("type", ""))
    params = {k: v for k, v in condition.items() if k != "type"}
    if kind == "approval":
        return "approved by a maintainer other than the requester"
    if kind in {"metric_at_least", "metric_at_most"} and {"metric", "threshold"} <= set(params):
        relation = ">=" if kind == "metric_at_least" else "<="
        return f"metric {params['metric']!r} {relation} {_text(params['threshold'])}"
    if kind == "clean_scan":
        return "the model files passed the scan"
    if kind == "signed_package":
        return "a package signed by a trusted key"
    known = condition_types()
    described = known.get(kind, "condition type not installed on this server")
    return f"{kind}: {described}" + (f" {_text(params)}" if params else "")


@dataclass(frozen=True)
class SchemaView:
    """One side of a signature (inputs or outputs) as table rows."""

    title: str
    kind: str
    columns: list[dict[str, str]]


def signature_view(signature: Mapping[str, Any] | None) -> list[SchemaView] | None:
    """The signature's column tables, or None when it is not in the known shape."""
    if not signature:
        return []
    views = []
    for side in ("inputs", "outputs"):
        schema = signature.get(side)
        if schema is None:
            continue
        if not isinstance(schema, Mapping) or not isinstance(schema.get("columns"), list):
            return None
        rows = []
        for column in schema["columns"]:
            if not isinstance(column, Mapping):
                return None
            shape = column.get("shape")
            rows.append(
                {
                    "name": "—" if column.get("name") is None else _text(column.get("name")),
                    "dtype": _text(column.get("dtype", "")),
                    "shape": "—" if shape is None else _text(shape),
                    "nullable": "yes" if column.get("nullable") else "no",
                }
            )
        views.append(SchemaView(side.capitalize(), _text(schema.get("kind", "")), rows))
    return views


@dataclass(frozen=True)
class CardSection:
    """One section of a model card: ``kind`` is ``text``, ``list``, ``mapping`` or ``json``."""

    title: str
    kind: str
    text: str = ""
    entries: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()


def card_sections(card: Mapping[str, Any]) -> list[CardSection]:
    """The card's non-empty sections in a model card's order, whatever their shape (a
    section is shown as text, a list, a table of entries or JSON; never as markup)."""
    rank = {key: index for index, key in enumerate(_CARD_ORDER)}
    sections = []
    for key, value in sorted(card.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])):
        if key in _CARD_META_KEYS or value in ("", None, [], {}):
            continue  # the type tag, and sections nobody has written yet
        title = str(key).replace("_", " ").strip().capitalize() or "Untitled"
        if isinstance(value, str):
            sections.append(CardSection(title, "text", text=value))
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            sections.append(CardSection(title, "list", entries=tuple(_text(v) for v in value)))
        elif isinstance(value, Mapping):
            pairs = tuple((str(k), _text(v)) for k, v in value.items())
            sections.append(CardSection(title, "mapping", pairs=pairs))
        else:
            sections.append(CardSection(title, "json", text=_text(value)))
    return sections


def dataset_refs(version: ModelVersion) -> list[list[tuple[str, str]]]:
    """Each dataset reference of the version as (key, value) pairs."""
    return [[(str(k), _text(v)) for k, v in ref.items()] for ref in version.datasets]


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
) -> Response:
    platform, actor = page.platform, page.actor
    model = get_registered_model(platform, actor, project, name)
    versions = list_model_versions(platform, actor, project, name)
    history = alias_history_of(platform, actor, project, name)
    requests = list_promotion_requests(platform, actor, project, name)
    role = my_role(platform, actor, project)
    aliases = dict.fromkeys(
        [*model.aliases, *WELL_KNOWN_ALIASES, *(p.alias for p in history)]
        + [r.alias for r in requests]
    )
    policies = []
    for alias in sorted(aliases):
        conditions = get_alias_policy(platform, actor, project, alias, model=name)
        policies.append((alias, [describe_condition(c) for c in conditions]))
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
        known_aliases=list(aliases),
        can_request=role is not None and role >= Role.EDITOR,
        can_decide=role is not None and role >= Role.MAINTAINER,
        me=actor.name,
        base=model_path(project, name),
        models_base=models_path(project),
    )


@router.get("/projects/{project}/models/{name}")
def model_page(page: Viewer, project: str, name: str) -> Response:
    return _model_page(page, project, name)


@router.get("/projects/{project}/models/{name}/versions/{version}")
def version_page(page: Viewer, project: str, name: str, version: int) -> Response:
    found = get_model_version(page.platform, page.actor, project, name, version)
    run_name = None
    if found.source_run_id:
        try:
            run_name = get_run(page.platform, page.actor, found.source_run_id).name
        except (NotFound, PermissionDenied, InvalidArgument):
            run_name = None  # the run is gone or elsewhere: the id is still the lineage
    scan = dict(found.scan)
    globals_found = scan.pop("globals", None)
    scan_status = _text(scan.pop("status", "not_scanned"))
    return render(
        page,
        "registry_version.html",
        active="models",
        project=project,
        model_version=found,  # not "version": the frame shows mlsteward's own
        run_name=run_name,
        signature=signature_view(found.signature),
        signature_json=_text(found.signature),
        metrics=sorted(found.metrics.items()),
        scan_status=scan_status,
        scan_globals=[_text(g) for g in globals_found] if isinstance(globals_found, list) else [],
        scan_other=sorted((k, _text(v)) for k, v in scan.items()),
        package=found.package,
        card=card_sections(found.model_card),
        datasets=dataset_refs(found),
        base=model_path(project, name),
        models_base=models_path(project),
    )


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


def _check_request_of(page: Page, project: str, name: str, request_id: str) -> None:
    """``NotFound`` unless the request belongs to this model (the services look requests up
    by project only; a form on one model's page must not act on another's)."""
    requests = list_promotion_requests(page.platform, page.actor, project, name)
    if not any(r.id == request_id for r in requests):
        raise NotFound(f"model {name!r} has no promotion request {request_id[:40]!r}")
