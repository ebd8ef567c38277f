"""Admin pages of the web UI: users, projects and members, API tokens."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from mlsteward.errors import Unauthenticated
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    authenticate_token,
    create_user,
    list_audit_events,
    list_members,
    list_projects,
    list_tokens,
    list_users,
)
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings

from ._ui_support import PASSWORD, USER_PASSWORD, csrf_of, log_in

SECRET_RE = re.compile(r"mls_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


def alert_of(html: str) -> str:
    match = re.search(r'role="alert">([^<]*)<', html)
    assert match is not None, "the page shows no error"
    return match.group(1)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required")


@pytest.fixture
def app_client(platform: Platform) -> Iterator[TestClient]:
    create_admin_user(platform, "admin", PASSWORD)
    with TestClient(create_app(platform)) as client:
        yield client


@pytest.fixture
def admin_client(app_client: TestClient) -> TestClient:
    app_client.headers["x-test-csrf"] = log_in(app_client)
    return app_client


def post(client: TestClient, path: str, **data: str | list[str]) -> httpx.Response:
    return client.post(
        path, data={"csrf_token": client.headers["x-test-csrf"], **data}, follow_redirects=False
    )


@pytest.fixture
def user_client(platform: Platform, app_client: TestClient) -> Iterator[TestClient]:
    """A second browser, logged in as the ordinary user ``bob``."""
    create_user(platform, SYSTEM, "bob", USER_PASSWORD)
    with TestClient(app_client.app) as client:
        client.headers["x-test-csrf"] = log_in(client, "bob", USER_PASSWORD)
        yield client


# -- users ------------------------------------------------------------------------------------


def test_admin_creates_a_user_who_can_then_log_in(
    admin_client: TestClient, platform: Platform
) -> None:
    response = post(
        admin_client,
        "/admin/users",
        username="carol",
        display_name="Carol C",
        password=USER_PASSWORD,
    )
    assert response.status_code == 303
    page = admin_client.get("/admin/users")
    assert "Created user carol." in page.text
    assert "Carol C" in page.text
    assert "Created user carol." not in admin_client.get("/admin/users").text  # shown once
    with TestClient(admin_client.app) as carol:
        log_in(carol, "carol", USER_PASSWORD)
    created = list_audit_events(platform, SYSTEM, action="user.create", limit=5)
    assert [e.target_id for e in created] == ["carol", "admin"]


@pytest.mark.parametrize(
    ("username", "password", "status", "message"),
    [
        ("admin", USER_PASSWORD, 409, "a user named &#39;admin&#39; already exists"),
        ("Bad Name", USER_PASSWORD, 400, "invalid user name"),
        ("dave", "short", 400, "password must be at least 12 characters"),
        ("<script>x</script>", USER_PASSWORD, 400, "invalid user name"),
    ],
)
def test_refused_user_creation_shows_the_reason(
    admin_client: TestClient,
    platform: Platform,
    username: str,
    password: str,
    status: int,
    message: str,
) -> None:
    before = list_users(platform, SYSTEM)
    response = post(admin_client, "/admin/users", username=username, password=password)
    assert response.status_code == status
    html = response.text
    assert message in alert_of(html)
    assert "<script>x</script>" not in html
    assert password not in html  # a password is never echoed back
    assert list_users(platform, SYSTEM) == before


def test_disable_and_enable_a_user(admin_client: TestClient, platform: Platform) -> None:
    create_user(platform, SYSTEM, "erin", USER_PASSWORD)
    assert post(admin_client, "/admin/users/erin/disable").status_code == 303
    assert "disabled" in admin_client.get("/admin/users").text
    with TestClient(admin_client.app) as erin:
        token = csrf_of(erin.get("/login").text)
        refused = erin.post(
            "/login", data={"username": "erin", "password": USER_PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 401
        assert post(admin_client, "/admin/users/erin/enable").status_code == 303
        log_in(erin, "erin", USER_PASSWORD)
    assert {"user.disable", "user.enable"} <= {
        e.action for e in list_audit_events(platform, SYSTEM, target_id="erin")
    }


def test_disabling_a_user_ends_their_browser_session(
    admin_client: TestClient, user_client: TestClient
) -> None:
    assert user_client.get("/", follow_redirects=False).status_code == 200
    post(admin_client, "/admin/users/bob/disable")
    assert user_client.get("/", follow_redirects=False).status_code == 303


def test_admin_cannot_disable_themselves(admin_client: TestClient) -> None:
    response = post(admin_client, "/admin/users/admin/disable")
    assert response.status_code == 409
    assert "you cannot disable your own account" in response.text


def test_disabling_an_unknown_user_is_a_404(admin_client: TestClient) -> None:
    response = post(admin_client, "/admin/users/nobody/disable")
    assert response.status_code == 404
    assert "no user named &#39;nobody&#39;" in response.text


def test_ordinary_user_sees_the_permission_error(
    user_client: TestClient, platform: Platform
) -> None:
    page = user_client.get("/admin/users")
    assert page.status_code == 403
    assert "only a platform administrator may do this" in page.text
    assert 'href="/admin/users"' not in user_client.get("/admin").text
    forged = post(user_client, "/admin/users", username="mallory", password=USER_PASSWORD)
    assert forged.status_code == 403
    assert "mallory" not in {u.username for u in list_users(platform, SYSTEM)}


# -- projects and members ---------------------------------------------------------------------


def test_create_a_project_and_manage_its_members(
    admin_client: TestClient, platform: Platform
) -> None:
    create_user(platform, SYSTEM, "frank", USER_PASSWORD)
    created = post(admin_client, "/admin/projects", name="churn", description="Churn model")
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/projects/churn"
    page = admin_client.get("/admin/projects/churn")
    assert "Created project churn." in page.text
    assert "Churn model" in page.text

    assert (
        post(
            admin_client, "/admin/projects/churn/members", username="frank", role="editor"
        ).status_code
        == 303
    )
    members = {m.username: m.role.label for m in list_members(platform, SYSTEM, "churn")}
    assert members == {"admin": "owner", "frank": "editor"}

    assert (
        post(
            admin_client, "/admin/projects/churn/members/frank/role", role="maintainer"
        ).status_code
        == 303
    )
    assert "frank is now maintainer of churn." in admin_client.get("/admin/projects/churn").text

    assert post(admin_client, "/admin/projects/churn/members/frank/remove").status_code == 303
    assert [m.username for m in list_members(platform, SYSTEM, "churn")] == ["admin"]
    actions = [e.action for e in list_audit_events(platform, SYSTEM, project="churn")]
    assert actions == [
        "project.member_remove",
        "project.member_role",
        "project.member_add",
        "project.create",
    ]


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("default", 409, "a project named &#39;default&#39; already exists"),
        ("Not Valid", 400, "invalid project name"),
        ("", 400, "invalid project name"),
    ],
)
def test_refused_project_creation_shows_the_reason(
    admin_client: TestClient, platform: Platform, name: str, status: int, message: str
) -> None:
    before = list_projects(platform, SYSTEM)
    response = post(admin_client, "/admin/projects", name=name, description="kept")
    assert response.status_code == status
    assert message in alert_of(response.text)
    assert 'value="kept"' in response.text
    assert list_projects(platform, SYSTEM) == before


@pytest.mark.parametrize(
    ("path", "data", "status", "message"),
    [
        ("members", {"username": "admin", "role": "viewer"}, 409, "is already a owner"),
        ("members", {"username": "ghost", "role": "viewer"}, 404, "no user named"),
        ("members", {"username": "admin", "role": "emperor"}, 400, "unknown role"),
        ("members/admin/role", {"role": "viewer"}, 409, "must keep at least one owner"),
        ("members/admin/remove", {}, 409, "must keep at least one owner"),
        ("members/ghost/remove", {}, 404, "no user named"),
    ],
)
def test_refused_member_changes_show_the_reason(
    admin_client: TestClient,
    platform: Platform,
    path: str,
    data: dict[str, str],
    status: int,
    message: str,
) -> None:
    post(admin_client, "/admin/projects", name="solo")
    response = post(admin_client, f"/admin/projects/solo/{path}", **data)
    assert response.status_code == status
    assert message in alert_of(response.text)
    assert [(m.username, m.role.label) for m in list_members(platform, SYSTEM, "solo")] == [
        ("admin", "owner")
    ]


def test_members_of_a_project_cannot_manage_it_without_owning_it(
    admin_client: TestClient, user_client: TestClient, platform: Platform
) -> None:
    post(admin_client, "/admin/projects", name="shared")
    post(admin_client, "/admin/projects/shared/members", username="bob", role="editor")
    page = user_client.get("/admin/projects/shared")
    assert page.status_code == 200
    assert "Only the project's owners" in page.text
    assert "/members/admin/remove" not in page.text
    refused = post(user_client, "/admin/projects/shared/members/admin/remove")
    assert refused.status_code == 403
    assert "this needs the owner role in the project" in refused.text
    assert len(list_members(platform, SYSTEM, "shared")) == 2
    hidden = user_client.get("/admin/projects/default")
    assert hidden.status_code == 403


def test_user_creates_a_project_and_owns_it(user_client: TestClient, platform: Platform) -> None:
    assert post(user_client, "/admin/projects", name="bobs").status_code == 303
    projects = user_client.get("/admin/projects").text
    assert "bobs" in projects
    assert "default" not in projects
    assert "Add a member" in user_client.get("/admin/projects/bobs").text


# -- tokens -----------------------------------------------------------------------------------


def test_token_secret_is_shown_exactly_once(admin_client: TestClient, platform: Platform) -> None:
    response = post(
        admin_client, "/admin/tokens", name="laptop", scopes=["read", "write"], expires="30"
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/tokens/created"
    assert SECRET_RE.search(response.headers["set-cookie"]) is None

    shown = admin_client.get("/admin/tokens/created")
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    secrets_shown = SECRET_RE.findall(shown.text)
    assert len(set(secrets_shown)) == 1
    secret = secrets_shown[0]
    assert "shown only this once" in shown.text
    assert authenticate_token(platform, secret).name == "admin"

    again = admin_client.get("/admin/tokens/created")
    assert SECRET_RE.search(again.text) is None
    assert "Nothing to show" in again.text
    listing = admin_client.get("/admin/tokens")
    assert "laptop" in listing.text
    assert secret not in listing.text
    [info] = list_tokens(platform, SYSTEM, username="admin")
    assert info.scopes == ("read", "write")
    assert info.expires_at is not None


def test_sealed_secret_cannot_be_opened_by_another_session(
    admin_client: TestClient,
) -> None:
    response = post(admin_client, "/admin/tokens", name="stolen", scopes=["read"])
    sealed = response.cookies["mls_new_token"]
    with TestClient(admin_client.app) as other:
        log_in(other)
        other.cookies.set("mls_new_token", sealed, path="/admin/tokens/created")
        page = other.get("/admin/tokens/created")
    assert SECRET_RE.search(page.text) is None
    assert "Nothing to show" in page.text


def test_revoke_a_token(admin_client: TestClient, platform: Platform) -> None:
    post(admin_client, "/admin/tokens", name="old", scopes=["read"])
    secret = SECRET_RE.findall(admin_client.get("/admin/tokens/created").text)[0]
    [info] = list_tokens(platform, SYSTEM, username="admin")
    assert post(admin_client, f"/admin/tokens/{info.id}/revoke").status_code == 303
    assert "revoked" in admin_client.get("/admin/tokens").text
    with pytest.raises(Unauthenticated):
        authenticate_token(platform, secret)
    assert post(admin_client, "/admin/tokens/nosuchtoken1/revoke").status_code == 404


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"name": "none"}, 400, "a token needs at least one scope"),
        ({"name": "", "scopes": ["read"]}, 400, "a token needs a name"),
        ({"name": "x", "scopes": ["root"]}, 400, "unknown token scope"),
        ({"name": "x", "scopes": ["read"], "expires": "soon"}, 400, "how many days"),
        ({"name": "x", "scopes": ["read"], "expires": "99999"}, 400, "expires_in_days"),
        ({"name": "x", "scopes": ["read"], "username": "ghost"}, 404, "no user named"),
    ],
)
def test_refused_token_creation_shows_the_reason(
    admin_client: TestClient,
    platform: Platform,
    data: dict[str, str | list[str]],
    status: int,
    message: str,
) -> None:
    response = post(admin_client, "/admin/tokens", **data)
    assert response.status_code == status
    assert message in alert_of(response.text)
    assert list_tokens(platform, SYSTEM) == []


def test_ordinary_user_manages_only_their_own_tokens(
    admin_client: TestClient, user_client: TestClient, platform: Platform
) -> None:
    post(admin_client, "/admin/tokens", name="admins-token", scopes=["read"])
    refused = post(user_client, "/admin/tokens", name="escalate", scopes=["admin"])
    assert refused.status_code == 403
    assert "admin scope is only for administrator accounts" in refused.text
    for_other = post(user_client, "/admin/tokens", name="x", scopes=["read"], username="admin")
    assert for_other.status_code == 403

    assert post(user_client, "/admin/tokens", name="bobs-cli", scopes=["read"]).status_code == 303
    listing = user_client.get("/admin/tokens").text
    assert "bobs-cli" in listing
    assert "admins-token" not in listing
    admins = next(t for t in list_tokens(platform, SYSTEM) if t.name == "admins-token")
    assert post(user_client, f"/admin/tokens/{admins.id}/revoke").status_code == 404
    assert admins.id in {t.id for t in list_tokens(platform, SYSTEM) if t.active}


def test_local_admin_creates_tokens_for_a_named_user(
    make_settings: Callable[..., Settings],
) -> None:
    local = Platform.open(make_settings(auth_mode="auto", host="127.0.0.1"))
    try:
        create_user(local, SYSTEM, "gina", USER_PASSWORD)
        with TestClient(create_app(local), base_url="http://localhost") as client:
            token = csrf_of(client.get("/admin/tokens").text)
            missing = client.post(
                "/admin/tokens", data={"csrf_token": token, "name": "t", "scopes": "read"}
            )
            assert missing.status_code == 400
            assert "say which user the token is for" in missing.text
            made = client.post(
                "/admin/tokens",
                data={"csrf_token": token, "name": "t", "scopes": "read", "username": "gina"},
            )
            assert made.status_code == 200
            assert made.url.path == "/admin/tokens/created"
            secret = SECRET_RE.findall(made.text)[0]
        assert authenticate_token(local, secret).name == "gina"
    finally:
        local.close()
