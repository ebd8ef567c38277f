"""Liveness, readiness and the platform server's own Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ...errors import Unavailable
from ...platform import Platform

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health: the server runs and its database answers")
def healthz(request: Request) -> dict[str, Any]:
    from sqlalchemy import text

    platform: Platform = request.app.state.platform
    try:
        with platform.db.read() as conn:
            conn.execute(text("SELECT 1"))
    except Unavailable:
        raise
    return {"status": "ok", "schema": platform.db.schema_revision()}


@router.get("/metrics", summary="Prometheus metrics of the platform server")
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
