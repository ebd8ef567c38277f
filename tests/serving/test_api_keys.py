"""API keys of a standalone inference server."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mlsteward.errors import ConfigurationError
from mlsteward.serving._api_keys import ApiKeyMiddleware, read_api_keys

KEY = "k" * 32


def _app(digests: frozenset[bytes]) -> ApiKeyMiddleware:
    async def hello(request: object) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/v1/models/m/predict", hello), Route("/v2/health/ready", hello)])
    return ApiKeyMiddleware(app, digests)


def test_only_requests_with_a_listed_key_pass(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# serving keys\n\n{KEY}\n{'z' * 40}\n")
    client = TestClient(_app(read_api_keys(keys)))
    assert client.get("/v1/models/m/predict", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert client.get("/v1/models/m/predict", headers={"X-API-Key": "z" * 40}).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": KEY + "x"}):
        refused = client.get("/v1/models/m/predict", headers=headers)
        assert refused.status_code == 401
        assert "API key" in refused.json()["error"]
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/v2/health/ready").status_code == 200  # probes need no key


@pytest.mark.parametrize(
    ("content", "message"),
    [("short-key\n", "shorter than"), ("# nothing\n\n", "holds no key"), (None, "cannot read")],
)
def test_bad_key_files_are_configuration_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    keys = tmp_path / "keys.txt"
    if content is not None:
        keys.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        read_api_keys(keys)
