"""The demo stages run on a real platform in a temporary home, in-process and through a real
server on 127.0.0.1, with a project and a team: an editor who trains and a maintainer who
approves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlsteward.client import Client
from mlsteward.platform import Platform
from mlsteward.server import create_app
from mlsteward.settings import Settings, load_settings

from ..server._live_server import serve
from ..server._support import People, cheap_password_hashing

PROJECT = "fraud"


@dataclass
class Platforms:
    """One platform, its people and the URL of a server in front of it."""

    settings: Settings
    platform: Platform
    people: People
    url: str
    _open: list[Client] = field(default_factory=list)

    def client(self, username: str, *, remote: bool) -> Client:
        """A client acting as ``username`` (read and write scopes), closed with the module."""
        token = self.people.token_for(username)
        if remote:
            client = Client(self.settings, server_url=self.url, token=token)
        else:
            client = Client(self.settings, token=token)
        self._open.append(client)
        return client


@pytest.fixture(scope="module")
def platforms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platforms]:
    with cheap_password_hashing():
        home: Path = tmp_path_factory.mktemp("demo")
        settings = load_settings(home=home, auth_mode="required")
        platform = Platform.open(settings)
        people = People.create(platform)
        with serve(create_app(platform)) as url:
            world = Platforms(settings, platform, people, url)
            owner = world.client("owner", remote=False)
            owner.create_project(PROJECT)
            for username, role in (("ed", "editor"), ("bob", "maintainer")):
                people.token_for(username)
                owner.add_member(PROJECT, username, role)
            yield world
            while world._open:
                world._open.pop().close()
        platform.close()
