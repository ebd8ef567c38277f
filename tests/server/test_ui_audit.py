"""The Audit page of the web UI: filters, paging, chain verification, permissions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member, create_project, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings
from mlsteward.store._tables import audit_events

from ._ui_support import PASSWORD, USER_PASSWORD, log_in

ROW_RE = re.compile(r'<td class="num">(\d+)</td>')


def seqs(html: str) -> list[int]:
    return [int(s) for s in ROW_RE.findall(html)]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required")


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    create_admin_user(platform, "admin", PASSWORD)
    create_user(platform, SYSTEM, "bob", USER_PASSWORD)
    for name in ("alpha", "beta"):
        create_project(platform, SYSTEM, name)
    add_member(platform, SYSTEM, "alpha", "bob", "maintainer")
    with TestClient(create_app(platform)) as test_client:
        yield test_client


@pytest.fixture
def admin_client(client: TestClient) -> TestClient:
    log_in(client)
    return client


def test_events_are_listed_newest_first(admin_client: TestClient) -> None:
    page = admin_client.get("/audit")
    assert page.status_code == 200
    shown = seqs(page.text)
    assert shown == sorted(shown, reverse=True)
    assert len(shown) >= 7
    for action in ("auth.login", "project.create", "project.member_add", "user.create"):
        assert f"<code>{action}</code>" in page.text
    assert 'aria-current="page">Audit' in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "project.create"}, {"project.create"}),
        ({"action": "project.*"}, {"project.create", "project.member_add"}),
        ({"actor": "admin"}, {"auth.login"}),
        ({"actor": "system"}, {"user.create", "project.create", "project.member_add"}),
        ({"target": "bob"}, {"user.create", "project.member_add"}),
        ({"project": "alpha"}, {"project.create", "project.member_add"}),
        ({"project": "beta", "action": "project.member_add"}, set()),
    ],
)
def test_filters(admin_client: TestClient, query: dict[str, str], expected: set[str]) -> None:
    page = admin_client.get("/audit", params=query)
    assert page.status_code == 200
    assert set(re.findall(r"<td><code>([a-z_.]+)</code></td>", page.text)) == expected
    for value in query.values():
        assert f'value="{value}"' in page.text  # the filter form keeps what was asked
    if not expected:
        assert "No events match." in page.text


def test_paging_with_before_seq(admin_client: TestClient, platform: Platform) -> None:
    for index in range(7):
        create_project(platform, SYSTEM, f"paged-{index}")
    first = admin_client.get("/audit", params={"action": "project.create", "limit": "4"})
    first_seqs = seqs(first.text)
    assert len(first_seqs) == 4
    older = re.search(r'<a href="([^"]+)">Older', first.text)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert f"before={first_seqs[-1]}" in link
    assert "action=project.create" in link
    second = admin_client.get(link)
    second_seqs = seqs(second.text)
    assert len(second_seqs) == 4
    assert max(second_seqs) < min(first_seqs)
    assert "Newest" in second.text
    last = re.search(r'<a href="([^"]+)">Older', second.text)
    assert last is not None
    third = admin_client.get(last.group(1).replace("&amp;", "&"))
    assert len(seqs(third.text)) == 2  # default, alpha, beta + 7 paged = 10 = 4 + 4 + 2
    assert "Older" not in third.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"before": "abc"}, "before must be a whole number"),
        ({"before": "-3"}, "before must be a whole number"),
        ({"limit": "100000"}, "limit must be a whole number"),
        ({"action": "x" * 101}, "the action filter is longer than 100 characters"),
        ({"project": "no-such"}, "no project named"),
    ],
)
def test_bad_filters_are_explained(
    admin_client: TestClient, query: dict[str, str], message: str
) -> None:
    page = admin_client.get("/audit", params=query)
    assert page.status_code in {400, 404}
    assert message in page.text


def test_hostile_filter_values_are_escaped(admin_client: TestClient) -> None:
    page = admin_client.get("/audit", params={"action": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&#34;&gt;&lt;script&gt;" in page.text


def test_chain_verification_reports_ok_then_the_first_bad_event(
    admin_client: TestClient, platform: Platform
) -> None:
    page = admin_client.get("/audit")
    assert "Chain not verified in this view" in page.text
    ok = admin_client.get("/audit", params={"verify": "1"})
    assert re.search(r"Chain intact: \d+ events verified", ok.text)

    with platform.db.write() as conn:
        conn.execute(
            update(audit_events)
            .where(audit_events.c.action == "project.member_add")
            .values(target_id="mallory")
        )
    bad = admin_client.get("/audit", params={"verify": "1", "action": "project.member_add"})
    tampered = seqs(bad.text)[0]
    assert f"Chain broken at event #{tampered}: event content does not match its stored hash" in (
        bad.text
    )


def test_project_maintainer_sees_only_their_projects_events(client: TestClient) -> None:
    log_in(client, "bob", USER_PASSWORD)
    everything = client.get("/audit")
    assert everything.status_code == 403
    assert "only a platform administrator may do this" in everything.text
    assert "filter by that project" in everything.text
    assert seqs(everything.text) == []

    alpha = client.get("/audit", params={"project": "alpha", "verify": "1"})
    assert alpha.status_code == 200
    assert set(re.findall(r"<td><code>([a-z_.]+)</code></td>", alpha.text)) == {
        "project.create",
        "project.member_add",
    }
    assert "Cannot verify the chain: only a platform administrator may do this" in alpha.text

    beta = client.get("/audit", params={"project": "beta"})
    assert beta.status_code == 403
    assert "this needs the maintainer role in the project" in beta.text


def test_anonymous_visitor_is_sent_to_login(client: TestClient) -> None:
    response = client.get("/audit", params={"action": "token.create"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit%3Faction%3Dtoken.create"
