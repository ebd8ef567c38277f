"""Fixtures for API tests: an app that requires authentication, real users and tokens.

``shared_api`` is one platform per test module (settings overridable by a module-level
``API_SETTINGS`` dict) for tests that write nothing or only what they name; ``api_platform``,
``people`` and ``api`` are fresh per test. Named so that test modules may keep their own
``client``/``settings`` fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.server import create_app
from mlsteward.settings import Settings, load_settings

from ._support import People, SharedApi, cheap_password_hashing


@pytest.fixture(scope="module")
def cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture(scope="module")
def shared_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cheap_hashing: None
) -> Iterator[SharedApi]:
    overrides: dict[str, Any] = getattr(request.module, "API_SETTINGS", {})
    home = tmp_path_factory.mktemp("api-home")
    platform = Platform.open(load_settings(home=home, auth_mode="required", **overrides))
    yield SharedApi(platform, People.create(platform))
    platform.close()


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required")


@pytest.fixture
def api_platform(api_settings: Settings) -> Iterator[Platform]:
    platform = Platform.open(api_settings)
    yield platform
    platform.close()


@pytest.fixture
def people(api_platform: Platform, cheap_hashing: None) -> People:
    return People.create(api_platform)


@pytest.fixture
def api(api_platform: Platform) -> TestClient:
    return TestClient(create_app(api_platform))
