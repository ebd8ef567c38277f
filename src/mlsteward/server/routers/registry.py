"""The model registry: registered models, versions, aliases and their history, promotion
requests (four-eyes approval) and alias policies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...errors import InvalidArgument, NotFound
from ...registry import (
    ModelFile,
    RequestStatus,
    alias_history_of,
    apply_promotion,
    approve_promotion,
    cancel_promotion,
    condition_types,
    create_registered_model,
    delete_alias,
    get_alias_policy,
    get_model_version,
    get_registered_model,
    list_model_versions,
    list_promotion_requests,
    list_registered_models,
    register_model_version,
    reject_promotion,
    request_promotion,
    resolve_model_uri,
    set_alias,
    set_alias_policy,
    update_registered_model,
)
from ...security import Actor
from ...tracking._artifacts import check_artifact_path
from .._auth import Requires
from ._dependencies import GUARDS, Authenticated, PlatformDep, ProjectViewer, RequestBody, listing
from ._streaming import verified_chunks

router = APIRouter(tags=["registry"], dependencies=GUARDS)

ProjectEditor = Annotated[Actor, Depends(Requires("project:editor"))]
ProjectMaintainer = Annotated[Actor, Depends(Requires("project:maintainer"))]


class ModelCreate(RequestBody):
    name: str
    description: str = ""
    tags: dict[str, str] = {}


class ModelUpdate(RequestBody):
    description: str | None = None
    tags: dict[str, str] | None = None


class FileEntry(RequestBody):
    path: str
    address: str
    size: int


class VersionCreate(RequestBody):
    source_uri: str
    flavor: str
    files: list[FileEntry]
    source_run_id: str | None = None
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = {}
    datasets: list[dict[str, Any]] = []
    scan: dict[str, Any] | None = None
    model_card: dict[str, Any] | None = None
    description: str = ""
    tags: dict[str, str] = {}


class AliasSet(RequestBody):
    version: int


class PromotionCreate(RequestBody):
    version: int
    alias: str
    comment: str = ""


class Decision(RequestBody):
    comment: str


class PolicySet(RequestBody):
    conditions: list[dict[str, Any]]


@router.get("/projects/{project}/models", summary="A project's registered models, by name")
def models_list(project: str, platform: PlatformDep, actor: ProjectViewer) -> JSONResponse:
    return listing("models", list_registered_models(platform, actor, project))


@router.post("/projects/{project}/models", status_code=201, summary="Register a model name")
def models_create(
    project: str, body: ModelCreate, platform: PlatformDep, actor: ProjectEditor
) -> dict[str, Any]:
    model = create_registered_model(
        platform, actor, project, body.name, description=body.description, tags=body.tags
    )
    return model.to_json()


@router.get("/projects/{project}/models/{name}", summary="A registered model")
def models_get(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> dict[str, Any]:
    return get_registered_model(platform, actor, project, name).to_json()


@router.patch("/projects/{project}/models/{name}", summary="Change a model's description or tags")
def models_update(
    project: str, name: str, body: ModelUpdate, platform: PlatformDep, actor: ProjectEditor
) -> dict[str, Any]:
    model = update_registered_model(
        platform, actor, project, name, description=body.description, tags=body.tags
    )
    return model.to_json()


@router.get(
    "/projects/{project}/models/{name}/versions", summary="A model's versions, newest first"
)
def versions_list(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return listing("versions", list_model_versions(platform, actor, project, name))


@router.post(
    "/projects/{project}/models/{name}/versions", status_code=201, summary="Add a model version"
)
def versions_create(
    project: str, name: str, body: VersionCreate, platform: PlatformDep, actor: ProjectEditor
) -> dict[str, Any]:
    version = register_model_version(
        platform,
        actor,
        project,
        name,
        source_uri=body.source_uri,
        flavor=body.flavor,
        files=[ModelFile(f.path, f.address, f.size) for f in body.files],
        source_run_id=body.source_run_id,
        signature=body.signature,
        metrics=body.metrics,
        datasets=body.datasets,
        scan=body.scan,
        model_card=body.model_card,
        description=body.description,
        tags=body.tags,
    )
    return version.to_json()


@router.get("/projects/{project}/models/{name}/versions/{version}", summary="A model version")
def versions_get(
    project: str, name: str, version: int, platform: PlatformDep, actor: ProjectViewer
) -> dict[str, Any]:
    return get_model_version(platform, actor, project, name, version).to_json()


@router.get(
    "/projects/{project}/models/{name}/versions/{version}/files/content",
    summary="Download one file of a model version (streamed)",
)
def version_files_content(
    project: str,
    name: str,
    version: int,
    platform: PlatformDep,
    actor: ProjectViewer,
    path: Annotated[str, Query(description="the file's path inside the version")],
) -> StreamingResponse:
    # The path travels in the query string, as artifact paths do (a ``{path:path}`` route
    # parameter would not survive the OpenAPI document).
    # Only a path the version lists is served: the blob address comes from the registry,
    # never from the request, so a crafted path can name nothing else.
    model_version = get_model_version(platform, actor, project, name, version)
    listed = next((f for f in model_version.files if f.path == path), None)
    if listed is None:
        check_artifact_path(path, "model file path")  # a hostile path: say so plainly
        raise NotFound(
            f"version {version} of model {name!r} has no file {path!r}",
            details={"model": name, "version": version, "path": path},
        )
    chunks = verified_chunks(platform.blobs.open(listed.address))
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Length": str(listed.size), "ETag": f'"{listed.address}"'},
    )


@router.get("/projects/{project}/model-uris", summary="The version a models:/ URI names now")
def model_uri_resolve(
    project: str, uri: str, platform: PlatformDep, actor: ProjectViewer
) -> dict[str, Any]:
    return resolve_model_uri(platform, actor, project, uri).to_json()


@router.put(
    "/projects/{project}/models/{name}/aliases/{alias}",
    summary="Point an alias at a version (if its policy allows it without approval)",
)
def aliases_set(
    project: str,
    name: str,
    alias: str,
    body: AliasSet,
    platform: PlatformDep,
    actor: ProjectMaintainer,
) -> dict[str, Any]:
    return set_alias(platform, actor, project, name, alias, body.version).to_json()


@router.delete(
    "/projects/{project}/models/{name}/aliases/{alias}", status_code=204, summary="Remove an alias"
)
def aliases_delete(
    project: str, name: str, alias: str, platform: PlatformDep, actor: ProjectMaintainer
) -> Response:
    delete_alias(platform, actor, project, name, alias)
    return Response(status_code=204)


@router.get(
    "/projects/{project}/models/{name}/alias-history",
    summary="Which version held each alias, from when to when, set by whom",
)
def aliases_history(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    alias: str | None = None,
) -> JSONResponse:
    return listing("periods", alias_history_of(platform, actor, project, name, alias))


@router.post(
    "/projects/{project}/models/{name}/promotion-requests",
    status_code=201,
    summary="Ask for a version to take an alias",
)
def promotions_create(
    project: str, name: str, body: PromotionCreate, platform: PlatformDep, actor: ProjectEditor
) -> dict[str, Any]:
    request = request_promotion(
        platform, actor, project, name, body.version, body.alias, body.comment
    )
    return request.to_json()


@router.get(
    "/projects/{project}/models/{name}/promotion-requests",
    summary="A model's promotion requests, newest first",
)
def promotions_list(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    status: str | None = None,
) -> JSONResponse:
    wanted = None
    if status is not None:
        try:
            wanted = RequestStatus(status.upper())
        except ValueError:
            known = ", ".join(s.value for s in RequestStatus)
            raise InvalidArgument(f"status must be one of {known}") from None
    return listing(
        "requests", list_promotion_requests(platform, actor, project, name, status=wanted)
    )


@router.post(
    "/projects/{project}/promotion-requests/{request_id}/approve",
    summary="Approve a request (a maintainer other than the requester); the alias moves when "
    "the policy holds",
)
def promotions_approve(
    project: str, request_id: str, body: Decision, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    request, unmet = approve_promotion(platform, actor, project, request_id, body.comment)
    return {**request.to_json(), "unmet": unmet}


@router.post(
    "/projects/{project}/promotion-requests/{request_id}/apply",
    summary="Move the alias of an approved request once its policy holds",
)
def promotions_apply(
    project: str, request_id: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return apply_promotion(platform, actor, project, request_id).to_json()


@router.post(
    "/projects/{project}/promotion-requests/{request_id}/reject", summary="Reject a request"
)
def promotions_reject(
    project: str, request_id: str, body: Decision, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return reject_promotion(platform, actor, project, request_id, body.comment).to_json()


@router.post(
    "/projects/{project}/promotion-requests/{request_id}/cancel",
    summary="Withdraw your own request",
)
def promotions_cancel(
    project: str, request_id: str, platform: PlatformDep, actor: ProjectEditor
) -> dict[str, Any]:
    return cancel_promotion(platform, actor, project, request_id).to_json()


@router.get("/projects/{project}/alias-policies/{alias}", summary="The conditions of an alias")
def policies_get(
    project: str,
    alias: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    model: str | None = None,
) -> dict[str, Any]:
    conditions = get_alias_policy(platform, actor, project, alias, model=model)
    return {"alias": alias, "model": model, "conditions": conditions}


@router.put(
    "/projects/{project}/alias-policies/{alias}",
    summary="Set the conditions of an alias for one model (maintainers) or the project (owners)",
)
def policies_set(
    project: str,
    alias: str,
    body: PolicySet,
    platform: PlatformDep,
    actor: ProjectMaintainer,
    model: str | None = None,
) -> dict[str, Any]:
    conditions = set_alias_policy(platform, actor, project, alias, body.conditions, model=model)
    return {"alias": alias, "model": model, "conditions": conditions}


@router.get("/registry/condition-types", summary="The condition types policies can use")
def conditions_list(actor: Authenticated) -> dict[str, Any]:
    return {"condition_types": condition_types()}


class CardSections(RequestBody):
    sections: dict[str, str]


@router.get(
    "/projects/{project}/models/{name}/versions/{version}/model-card",
    summary="A version's model card as JSON, Markdown or HTML (prefilled when none is stored)",
)
def model_card_get(
    project: str,
    name: str,
    version: int,
    platform: PlatformDep,
    actor: ProjectViewer,
    format: str = "json",
) -> Response:
    from ...registry import model_card

    if format not in ("json", "markdown", "html"):
        raise InvalidArgument("format must be json, markdown or html")
    text = model_card(platform, actor, project, name, version, format=format)  # type: ignore[arg-type]
    media = {"json": "application/json", "markdown": "text/markdown", "html": "text/html"}
    # The HTML escapes every text and carries no script; the policy makes sure of it.
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(text, media_type=f"{media[format]}; charset=utf-8", headers=headers)


@router.patch(
    "/projects/{project}/models/{name}/versions/{version}/model-card",
    summary="Write the human sections of a version's model card",
)
def model_card_update(
    project: str,
    name: str,
    version: int,
    body: CardSections,
    platform: PlatformDep,
    actor: ProjectEditor,
) -> dict[str, Any]:
    from ...registry import update_model_card

    return update_model_card(platform, actor, project, name, version, body.sections).to_dict()
