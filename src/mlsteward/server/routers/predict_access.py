"""May the calling token predict with a project's models? Asked by inference servers that
reach the platform only over HTTP, with the token their client presented."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ...security import Actor
from .._auth import Requires
from ._dependencies import GUARDS

router = APIRouter(tags=["projects"], dependencies=GUARDS)

Predictor = Annotated[Actor, Depends(Requires("project:predict"))]


@router.get(
    "/projects/{project}/predict-access",
    summary="Whether your token may call this project's inference servers",
)
async def predict_access(project: str, actor: Predictor) -> dict[str, str]:
    """200 with the token's user when it holds the ``predict`` scope and its user has a role in
    ``project`` (``require_predict_access``, applied by ``Requires``); 401 for a missing or
    invalid token, 403 (saying why) otherwise. Needs neither ``read`` nor ``write``."""
    return {"username": actor.name, "project": project}
