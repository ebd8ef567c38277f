"""The web UI shell: login and logout, sessions, CSRF, redirects, security headers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events, list_projects
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import API_PREFIX, create_app
from mlsteward.settings import Settings

from ._ui_support import PASSWORD, csrf_of, log_in


def actions(platform: Platform) -> list[str]:
    return [e.action for e in list_audit_events(platform, SYSTEM, limit=1000)]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required", login_max_failures=3)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    create_admin_user(platform, "admin", PASSWORD)
    with TestClient(create_app(platform)) as test_client:
        yield test_client


# -- login ------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login_and_back(client: TestClient) -> None:
    response = client.get("/admin/tokens?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Ftokens%3Fx%3D1"

    form = client.get(response.headers["location"])
    assert 'name="next" value="/admin/tokens?x=1"' in form.text
    landed = client.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "/admin/tokens?x=1",
        },
        follow_redirects=False,
    )
    assert landed.status_code == 303
    assert landed.headers["location"] == "/admin/tokens?x=1"


def test_login_sets_a_hardened_session_cookie_and_is_audited(
    client: TestClient, platform: Platform
) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("mls_session=")
    )
    attributes = {part.strip().lower() for part in session.split(";")}
    assert {"httponly", "path=/", "samesite=lax"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back

    home = client.get("/")
    assert home.status_code == 200
    assert "admin" in home.text
    assert "Log out" in home.text
    assert "auth.login" in actions(platform)


def test_session_cookies_are_secure_over_https(platform: Platform) -> None:
    create_admin_user(platform, "admin", PASSWORD)
    with TestClient(create_app(platform), base_url="https://testserver") as client:
        form = client.get("/login")
        presession = form.headers["set-cookie"]
        assert presession.startswith("__Host-mls_csrf=")
        assert "secure" in presession.lower()
        response = client.post(
            "/login",
            data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("mls_session=")
    )
    assert "secure" in session.lower()
    assert "httponly" in session.lower()


def test_wrong_password_is_refused_in_the_page(client: TestClient, platform: Platform) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": "admin",
            "password": "not-the-password",
            "csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "wrong username or password" in response.text
    assert 'value="admin"' in response.text  # the username is kept, the password is not
    assert "not-the-password" not in response.text
    assert "mls_session" not in response.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert "auth.login_failed" in actions(platform)


def test_repeated_failures_are_rate_limited(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    statuses = [
        client.post(
            "/login", data={"username": "admin", "password": "nope-nope-nope", "csrf_token": token}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    blocked = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert "too many failed logins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token-forged-token"])
def test_login_without_the_double_submit_token_is_refused(
    client: TestClient, platform: Platform, token: str | None
) -> None:
    client.get("/login")  # the browser has a cookie; the forged form does not echo it
    data = {"username": "admin", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "reload the page and try again" in response.text
    assert "mls_session" not in response.headers.get("set-cookie", "")
    assert "auth.login" not in actions(platform)


def test_login_form_token_without_its_cookie_is_refused(platform: Platform) -> None:
    create_admin_user(platform, "admin", PASSWORD)
    app = create_app(platform)
    with TestClient(app) as attacker, TestClient(app) as victim:
        token = csrf_of(attacker.get("/login").text)
        response = victim.post(
            "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
        )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
        "/logout",
        "/" + "a" * 3000,
    ],
)
def test_login_never_redirects_off_site(client: TestClient, target: str) -> None:
    form = client.get("/login", params={"next": target})
    assert form.status_code == 200
    assert 'name="next" value="/"' in form.text
    response = client.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_login_page_sends_a_logged_in_visitor_on(client: TestClient) -> None:
    log_in(client)
    response = client.get("/login", params={"next": "/audit"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"


# -- CSRF on actions --------------------------------------------------------------------------


def test_post_without_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, platform: Platform
) -> None:
    log_in(client)
    for data in ({"name": "sneaky"}, {"name": "sneaky", "csrf_token": "x" * 43}):
        response = client.post("/admin/projects", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
        assert "not sent from this site" in response.text
    assert "sneaky" not in {p.name for p in list_projects(platform, SYSTEM)}


def test_another_sessions_token_is_refused(client: TestClient, platform: Platform) -> None:
    other_token = log_in(client)
    with TestClient(client.app) as second:
        log_in(second)
        response = second.post(
            "/admin/projects", data={"name": "sneaky", "csrf_token": other_token}
        )
    assert response.status_code == 403
    assert "sneaky" not in {p.name for p in list_projects(platform, SYSTEM)}


def test_cross_site_post_is_refused_even_with_the_token(
    client: TestClient, platform: Platform
) -> None:
    token = log_in(client)
    response = client.post(
        "/admin/projects",
        data={"name": "sneaky", "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert "sneaky" not in {p.name for p in list_projects(platform, SYSTEM)}
    same_origin = client.post(
        "/admin/projects",
        data={"name": "fine", "csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert same_origin.status_code == 303


def test_unauthenticated_post_goes_to_login_without_acting(
    client: TestClient, platform: Platform
) -> None:
    response = client.post("/admin/projects", data={"name": "anon"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert "anon" not in {p.name for p in list_projects(platform, SYSTEM)}


# -- logout and stale sessions ----------------------------------------------------------------


def test_logout_ends_the_session(client: TestClient, platform: Platform) -> None:
    token = log_in(client)
    session = client.cookies["mls_session"]
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert 'mls_session=""' in response.headers.get("set-cookie", "")
    assert "auth.logout" in actions(platform)
    assert "You are logged out." in client.get("/login").text

    client.cookies.set("mls_session", session)  # a copy of the old cookie is worthless now
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_without_the_token_is_refused(client: TestClient) -> None:
    log_in(client)
    response = client.post("/logout", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200


def test_stale_session_cookie_is_cleared(client: TestClient) -> None:
    client.cookies.set("mls_session", "no-such-session")
    response = client.get("/audit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit"
    assert 'mls_session=""' in response.headers["set-cookie"]


# -- pages, headers, static files -------------------------------------------------------------

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.mark.parametrize("path", ["/login", "/", "/admin/projects/missing", "/static/ui.css"])
def test_security_headers_on_every_ui_response(client: TestClient, path: str) -> None:
    log_in(client)
    response = client.get(path, follow_redirects=False)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_security_headers_on_redirects_and_html_pages_are_not_cached(client: TestClient) -> None:
    redirect = client.get("/admin", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["x-frame-options"] == "DENY"
    log_in(client)
    assert client.get("/admin").headers["cache-control"] == "no-store"


def test_api_routes_keep_their_own_headers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    docs = client.get("/api/v1/docs")
    assert "content-security-policy" not in docs.headers  # Swagger UI loads its own assets


def test_missing_things_are_html_404_pages(client: TestClient) -> None:
    log_in(client)
    response = client.get("/admin/projects/no-such-project")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "no project named &#39;no-such-project&#39;" in response.text


def test_every_section_has_its_pages(client: TestClient) -> None:
    """No placeholder is left: the last one, Monitoring, has its pages now."""
    log_in(client)
    response = client.get("/monitoring")
    assert response.status_code == 200
    assert "arrives with the" not in response.text
    assert 'aria-current="page">Monitoring<' in response.text
    assert "Arrives with the" not in client.get("/").text


def test_navigation_frame_links_every_section(client: TestClient) -> None:
    log_in(client)
    html = client.get("/").text
    for path in ["/experiments", "/models", "/deployments", "/datasets", "/monitoring", "/audit"]:
        assert f'href="{path}"' in html
    assert 'href="/admin"' in html


def test_static_files_are_served(client: TestClient) -> None:
    css = client.get("/static/ui.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/static/ui.js").status_code == 200
    assert client.get("/static/%2e%2e/_ui.py").status_code == 404


# -- local loopback use without login ---------------------------------------------------------


def test_local_use_works_without_login_but_still_needs_csrf(
    make_settings: Callable[..., Settings],
) -> None:
    local = Platform.open(make_settings(auth_mode="auto", host="127.0.0.1"))
    try:
        with TestClient(create_app(local), base_url="http://localhost") as client:
            home = client.get("/")
            assert home.status_code == 200
            assert "local-admin" in home.text
            assert "Log out" not in home.text
            forged = client.post("/admin/projects", data={"name": "forged"})
            assert forged.status_code == 403
            created = client.post(
                "/admin/projects",
                data={
                    "name": "local-project",
                    "csrf_token": csrf_of(client.get("/admin/projects").text),
                },
                follow_redirects=False,
            )
            assert created.status_code == 303
            login_page = client.get("/login")
            assert "no login is needed here" in login_page.text
        names = {p.name for p in list_projects(local, SYSTEM)}
        assert "local-project" in names
        assert "forged" not in names
        event = list_audit_events(local, SYSTEM, action="project.create", limit=1)[0]
        assert event.actor_name == "local-admin"
    finally:
        local.close()


def test_oversized_streamed_form_is_refused_with_413(
    make_settings: Callable[..., Settings],
) -> None:
    small = Platform.open(make_settings(auth_mode="required", max_request_bytes=2048))
    try:
        with TestClient(create_app(small)) as client:
            client.get("/login")
            body = iter([b"username=admin&password=", b"x" * 4096])  # chunked: no length
            response = client.post(
                "/login",
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/html")
        assert "larger than 2048 bytes" in response.text
    finally:
        small.close()


def test_local_mode_refuses_foreign_host_headers(
    make_settings: Callable[..., Settings],
) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not act as admin."""
    local = Platform.open(make_settings(auth_mode="auto", host="127.0.0.1"))
    try:
        with TestClient(create_app(local), base_url="http://evil.example:8470") as client:
            page = client.get("/admin/users")
            api = client.get(f"{API_PREFIX}/users")
        with TestClient(create_app(local), base_url="http://[::1]:8470") as client:
            assert client.get(f"{API_PREFIX}/me").json()["name"] == "local-admin"
    finally:
        local.close()
    assert page.status_code == 403
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "permission_denied"
    assert "localhost" in api.json()["error"]["message"]
