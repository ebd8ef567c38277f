"""What the API routers share: the platform, permission-checked actors, strict bodies.

Not a router itself: ``create_app`` skips modules whose names start with ``_``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, field_validator

from ...errors import InvalidArgument
from ...platform import Platform
from ...security import Actor
from .._auth import Requires


async def get_platform(request: Request) -> Platform:
    """The platform the app was built with (async: no I/O, so no worker thread)."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def reject_nul_characters(request: Request) -> None:
    """Refuse a NUL character in any path or query parameter, before anything looks it up.

    No name contains one, and PostgreSQL cannot even compare text with one (it would be a
    500). Router-level, so it runs before the permission check reads ``{project}``.
    """
    values = [*request.path_params.values(), *request.query_params.values()]
    if any("\x00" in str(value) for value in values):
        raise InvalidArgument("a path or query parameter contains a NUL character")


GUARDS = [Depends(reject_nul_characters)]
"""Dependencies of every API router: ``APIRouter(..., dependencies=GUARDS)``."""

Authenticated = Annotated[Actor, Depends(Requires("authenticated"))]
Admin = Annotated[Actor, Depends(Requires("admin"))]
ProjectViewer = Annotated[Actor, Depends(Requires("project:viewer"))]
ProjectOwner = Annotated[Actor, Depends(Requires("project:owner"))]


class RequestBody(BaseModel):
    """Base of every JSON request body: unknown fields and loose types are a 400."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("must not contain a NUL character")
        return value


class FastJSONResponse(JSONResponse):
    """JSON written by orjson (a page of 100 runs: 0.43 ms with ``json.dumps``, 0.03 ms).

    Unlike ``json.dumps(allow_nan=False)``, orjson writes a non-finite float as ``null``
    instead of failing: every ``to_json`` sends them as the strings ``"NaN"``/``"Infinity"``.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def listing(key: str, items: list[Any], **extra: Any) -> JSONResponse:
    """The shape of every list response: ``{key: [item.to_json(), ...], **extra}``.

    A ready response: FastAPI's own serialisation would walk the (already JSON-shaped)
    items again, which took a tenth of a 100-run search (py-spy).
    """
    return FastJSONResponse({key: [item.to_json() for item in items], **extra})
