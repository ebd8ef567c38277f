"""Client tests: the same suite in-process and against a real server on 127.0.0.1.

``world`` is parametrised: ``local`` runs ``Client`` on the platform in-process, ``remote``
talks HTTP to uvicorn serving that platform (one server per test module). Both worlds start
with the same users, so the same calls must give the same results and the same errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from mlsteward.client import Client
from mlsteward.platform import Platform
from mlsteward.server import create_app
from mlsteward.settings import Settings, load_settings

from ..server._live_server import serve
from ..server._support import People, cheap_password_hashing

Kind = Literal["local", "remote"]


@dataclass
class World:
    """A platform, its people, and (remote) the URL of a server in front of it."""

    kind: Kind
    settings: Settings
    platform: Platform
    people: People
    url: str | None = None
    _open: list[Client] = field(default_factory=list)

    @property
    def blob_root(self) -> Path:
        return Path(self.settings.resolved_blob_url)

    def client(self, token: str | None) -> Client:
        """A client acting with ``token`` (closed when the test ends)."""
        if self.url is None:
            client = Client(self.settings, token=token)
        else:
            client = Client(self.settings, server_url=self.url, token=token)
        self._open.append(client)
        return client

    def admin(self) -> Client:
        return self.client(self.people.admin_token)

    def user(self, username: str) -> Client:
        """A client for an ordinary user (created on first use), read and write scopes."""
        return self.client(self.people.token_for(username))

    def close_clients(self) -> None:
        while self._open:
            self._open.pop().close()


def _open_world(kind: Kind, home: Path) -> tuple[Settings, Platform, People]:
    settings = load_settings(home=home, auth_mode="required")
    platform = Platform.open(settings)
    return settings, platform, People.create(platform)


@pytest.fixture(scope="module")
def cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture(scope="module")
def local_world(tmp_path_factory: pytest.TempPathFactory, cheap_hashing: None) -> Iterator[World]:
    settings, platform, people = _open_world("local", tmp_path_factory.mktemp("local"))
    world = World("local", settings, platform, people)
    yield world
    world.close_clients()
    platform.close()


@pytest.fixture(scope="module")
def remote_world(tmp_path_factory: pytest.TempPathFactory, cheap_hashing: None) -> Iterator[World]:
    settings, platform, people = _open_world("remote", tmp_path_factory.mktemp("remote"))
    with serve(create_app(platform)) as url:
        world = World("remote", settings, platform, people, url)
        yield world
        world.close_clients()
    platform.close()


@pytest.fixture(params=["local", "remote"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    chosen: World = request.getfixturevalue(f"{request.param}_world")
    yield chosen
    chosen.close_clients()
