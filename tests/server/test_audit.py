"""``/audit``: filtered events, chain verification, checkpoints and the streamed export."""

from __future__ import annotations

import itertools
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member, create_project
from mlsteward.server import API_PREFIX
from mlsteward.store._tables import audit_events

from ._support import People, assert_error_shape, bearer

AUDIT = f"{API_PREFIX}/audit"


@pytest.fixture
def admin(api: TestClient, people: People) -> TestClient:
    api.headers.update(bearer(people.admin_token))
    return api


def test_filters_and_paging(admin: TestClient) -> None:
    for name in ("p1", "p2", "p3"):
        admin.post(f"{API_PREFIX}/projects", json={"name": name})
    events = admin.get(f"{AUDIT}/events", params={"action": "project.create", "actor": "admin"})
    names = [e["target_id"] for e in events.json()["events"]]
    assert names == ["p3", "p2", "p1"]  # newest first
    by_target = admin.get(f"{AUDIT}/events", params={"target": "p2"}).json()["events"]
    assert [e["action"] for e in by_target] == ["project.create"]
    prefixed = admin.get(f"{AUDIT}/events", params={"action": "project.*"}).json()["events"]
    assert len(prefixed) == 4  # the default project's creation too
    assert all(e["action"].startswith("project.") for e in prefixed)
    assert admin.get(f"{AUDIT}/events", params={"action": "project"}).json()["events"] == []

    page = admin.get(f"{AUDIT}/events", params={"action": "project.create", "limit": 2}).json()
    assert [e["target_id"] for e in page["events"]] == ["p3", "p2"]
    rest = admin.get(
        f"{AUDIT}/events",
        params={"action": "project.create", "limit": 2, "before_seq": page["next_before_seq"]},
    ).json()
    assert [e["target_id"] for e in rest["events"]] == ["p1", "default"]
    assert rest["next_before_seq"] is not None


def test_project_maintainers_see_their_projects_events(
    admin: TestClient, api_platform: Platform, people: People
) -> None:
    create_project(api_platform, SYSTEM, "audited")
    maintainer = bearer(people.token_for("maya"))
    viewer = bearer(people.token_for("vic"))
    add_member(api_platform, SYSTEM, "audited", "maya", "maintainer")
    add_member(api_platform, SYSTEM, "audited", "vic", "viewer")
    url = f"{AUDIT}/events"
    own = admin.get(url, params={"project": "audited"}, headers=maintainer).json()["events"]
    assert {e["action"] for e in own} == {"project.create", "project.member_add"}
    assert_error_shape(admin.get(url, params={"project": "audited"}, headers=viewer), 403)
    assert_error_shape(admin.get(url, headers=maintainer), 403, "permission_denied")
    assert_error_shape(admin.get(url, params={"project": "nope"}, headers=maintainer), 404)


def test_verify_reports_tampering(admin: TestClient, api_platform: Platform) -> None:
    report = admin.get(f"{AUDIT}/verify").json()
    assert report["ok"] is True
    assert report["events"] == api_platform.audit.count(api_platform.db)
    with api_platform.db.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(action="forged"))
    broken = admin.get(f"{AUDIT}/verify").json()
    assert (broken["ok"], broken["first_bad_seq"]) == (False, 2)
    assert broken["problem"]


def test_checkpoints_sign_the_head_once(admin: TestClient) -> None:
    first = admin.post(f"{AUDIT}/checkpoints")
    assert first.status_code == 201
    assert len(first.json()["checkpoint"]["signature"]) == 128
    again = admin.post(f"{AUDIT}/checkpoints")
    assert (again.status_code, again.json()) == (200, {"checkpoint": None})
    assert admin.get(f"{AUDIT}/verify").json()["checkpoints"] == 1


def test_export_streams_every_event_in_chain_order(
    admin: TestClient, api_platform: Platform
) -> None:
    for index in range(300):  # more than one streamed batch
        create_project(api_platform, SYSTEM, f"bulk-{index}")
    response = admin.get(f"{AUDIT}/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.text.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len(events) == api_platform.audit.count(api_platform.db)
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(events))


def test_export_and_verify_are_for_administrators(api: TestClient, people: People) -> None:
    outsider = bearer(people.outsider_token)
    assert_error_shape(api.get(f"{AUDIT}/export", headers=outsider), 403, "permission_denied")
    assert_error_shape(api.get(f"{AUDIT}/verify", headers=outsider), 403, "permission_denied")
