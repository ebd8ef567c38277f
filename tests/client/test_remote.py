"""The HTTP backend's own behaviour: configuration, connection failures, odd responses."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mlsteward.client import Client
from mlsteward.errors import ConfigurationError, PayloadTooLarge, StewardError, Unavailable
from mlsteward.platform import Platform
from mlsteward.server import create_app
from mlsteward.settings import load_settings

from ..server._live_server import serve
from .conftest import World


def test_settings_choose_the_remote_backend(remote_world: World, tmp_path: Path) -> None:
    """``MLSTEWARD_SERVER_URL`` and ``MLSTEWARD_TOKEN`` are all a remote client needs."""
    token = remote_world.people.token_for("zoe")
    settings = load_settings(
        home=tmp_path / "unused", server_url=remote_world.url, token=SecretStr(token)
    )
    with Client(settings) as client:
        assert client.whoami().name == "zoe"
        assert repr(client) == f"<Client remote {remote_world.url}>"
    assert not (tmp_path / "unused").exists()  # nothing local was opened


def test_environment_variables_choose_the_remote_backend(
    remote_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert remote_world.url is not None
    monkeypatch.setenv("MLSTEWARD_SERVER_URL", remote_world.url)
    monkeypatch.setenv("MLSTEWARD_TOKEN", remote_world.people.token_for("zed"))
    with Client() as client:
        assert client.whoami().name == "zed"


def test_a_server_that_is_not_there_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(server_url=f"http://127.0.0.1:{port}")
    with client, pytest.raises(Unavailable) as caught:
        client.list_projects()
    assert f"http://127.0.0.1:{port}" in caught.value.message
    assert "check MLSTEWARD_SERVER_URL" in caught.value.message


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com:8470", "http://", "http://[::1"])
def test_unusable_server_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError, match="server URL"):
        Client(server_url=url)


@pytest.mark.parametrize("token", ["mls_a b", "mls_\u00e9", "mls_x\r\nX-Evil: 1"])
def test_tokens_that_cannot_be_sent_are_configuration_errors(token: str) -> None:
    with pytest.raises(ConfigurationError, match="MLSTEWARD_TOKEN"):
        Client(server_url="http://127.0.0.1:1", token=token)


def _odd_server() -> Starlette:
    def bad_gateway(request: Request) -> Response:
        return PlainTextResponse("upstream is down", status_code=502)

    def not_json(request: Request) -> Response:
        return PlainTextResponse("hello")

    def wrong_shape(request: Request) -> Response:
        return Response('{"projects": [{"name": 1}]}', media_type="application/json")

    def teapot(request: Request) -> Response:
        return Response('{"detail": "no"}', status_code=418, media_type="application/json")

    return Starlette(
        routes=[
            Route("/api/v1/me", bad_gateway),
            Route("/healthz", not_json),
            Route("/api/v1/projects", wrong_shape),
            Route("/api/v1/users", teapot),
        ]
    )


@pytest.fixture(scope="module")
def odd_client() -> Iterator[Client]:
    with serve(_odd_server()) as url, Client(server_url=url) as client:
        yield client


def test_errors_without_the_json_shape_map_by_status(odd_client: Client) -> None:
    with pytest.raises(Unavailable, match="502 Bad Gateway to GET /api/v1/me"):
        odd_client.whoami()
    with pytest.raises(StewardError, match="418") as caught:
        odd_client.list_users()
    assert type(caught.value) is StewardError


def test_responses_the_client_cannot_read_are_errors(odd_client: Client) -> None:
    with pytest.raises(StewardError, match="not JSON"):
        odd_client.health()
    with pytest.raises(StewardError, match="does not understand"):
        odd_client.list_projects()


class _Unsized(io.RawIOBase):
    """A stream of ``size`` zero bytes with no file behind it (uploaded chunked)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"\0" * count
        self.left -= count
        return count


def test_an_oversized_upload_is_payload_too_large(tmp_path: Path) -> None:
    """Refused by its declared length or while streaming: never a connection error."""
    platform = Platform.open(load_settings(home=tmp_path / "home", max_upload_bytes=4096))
    big = tmp_path / "big.bin"
    big.write_bytes(b"\1" * (5 * 1024 * 1024))
    try:
        with serve(create_app(platform)) as url, Client(server_url=url) as client:
            with pytest.raises(PayloadTooLarge):
                client.put_blob(big)
            with pytest.raises(PayloadTooLarge):
                client.put_blob(io.BufferedReader(_Unsized(5 * 1024 * 1024)))
            assert client.put_blob(io.BytesIO(b"small")).size == 5
    finally:
        platform.close()
