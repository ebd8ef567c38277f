"""The API's route table as (method, template, permission): what the route walks iterate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from mlsteward.server import API_PREFIX
from mlsteward.server._auth import Requires

WALK_PROJECT = "walk"
PATH_PARAM_VALUES = {
    "project": WALK_PROJECT,
    "username": "admin",
    "token_id": "000000000000",
    "address": "0" * 64,
}
DEFAULT_PARAM_VALUE = "x"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # template, e.g. /api/v1/projects/{project}
    url: str  # with parameters filled in
    requires: list[Requires]
    dependant: Dependant

    @property
    def level(self) -> str:
        return self.requires[0].level

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _requires_in(dependant: Dependant) -> list[Requires]:
    found: list[Requires] = []
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Requires):
            found.append(dependency.call)
        found.extend(_requires_in(dependency))
    return found


def fill(path: str, values: dict[str, str] | None = None) -> str:
    """``path`` with its parameters filled from ``values``, then the defaults above."""
    chosen = {**PATH_PARAM_VALUES, **(values or {})}
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: chosen.get(m.group(1), DEFAULT_PARAM_VALUE), path)


def api_endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, route) under the API prefix, except the OpenAPI document and docs.

    FastAPI keeps included routers nested in ``app.routes``; ``iter_route_contexts`` flattens
    them with their full paths and dependencies, as the OpenAPI generator does.
    """
    docs = {app.openapi_url, app.docs_url, app.redoc_url}
    for route in iter_route_contexts(app.routes):
        path = route.path
        if not path or not path.startswith(API_PREFIX + "/") or path in docs:
            continue
        dependant = getattr(route, "dependant", None)
        assert isinstance(dependant, Dependant), f"{path}: not an API route, cannot be checked"
        for method in sorted(route.methods or {"<none>"}):
            yield Endpoint(method, path, fill(path), _requires_in(dependant), dependant)
