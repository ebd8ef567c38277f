"""Registering a model a run logged (``runs:/<run>/<path>``) as a registry version, and
recording trust decisions for models whose loading runs code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ...models._trust import record_trust_decision
from ...registry._from_run import register_model_from_run
from ._dependencies import GUARDS, Authenticated, PlatformDep, RequestBody

router = APIRouter(tags=["registry"], dependencies=GUARDS)


class RegisterFromRun(RequestBody):
    uri: str
    name: str
    description: str = ""
    tags: dict[str, str] = {}
    datasets: list[dict[str, Any]] = []


@router.post(
    "/model-registrations",
    status_code=201,
    summary="Register the model at a runs:/ URI as the next version of a registered model "
    "(editors of the run's project; the server scans the files)",
)
def model_registrations_create(
    body: RegisterFromRun, platform: PlatformDep, actor: Authenticated
) -> dict[str, Any]:
    version = register_model_from_run(
        platform,
        actor,
        body.uri,
        body.name,
        description=body.description,
        tags=body.tags,
        datasets=body.datasets,
    )
    return version.to_json()


class TrustDecisionBody(RequestBody):
    target: str
    reason: str
    scan: dict[str, Any] = {}
    project: str | None = None


@router.post(
    "/model-trust-decisions",
    status_code=204,
    summary="Record in the audit trail that you load a model whose loading runs code",
)
def model_trust_decisions_create(
    body: TrustDecisionBody, platform: PlatformDep, actor: Authenticated
) -> Response:
    record_trust_decision(
        platform,
        actor,
        target=body.target,
        reason=body.reason,
        scan=body.scan,
        project=body.project,
    )
    return Response(status_code=204)
