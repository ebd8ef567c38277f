"""The API's requests are counted in ``/metrics`` and carry an ``X-Request-ID``."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from mlsteward.server import API_PREFIX

from ._support import People, bearer

SAMPLE = re.compile(r"^mlsteward_http_requests_total\{(?P<labels>.*)\} (?P<value>\S+)$")


def request_count(api: TestClient, method: str, route_suffix: str, status: int) -> float:
    """The counter for one route template (ending in ``route_suffix``), method and status."""
    total = 0.0
    for line in api.get("/metrics").text.splitlines():
        match = SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        if (
            labels["method"] == method
            and labels["route"].endswith(route_suffix)
            and labels["status"] == str(status)
        ):
            total += float(match.group("value"))
    return total


def test_metrics_count_requests_by_route_and_status(api: TestClient, people: People) -> None:
    headers = bearer(people.admin_token)
    for _ in range(3):
        assert api.get(f"{API_PREFIX}/projects/default", headers=headers).status_code == 200
    api.get(f"{API_PREFIX}/projects/default")  # anonymous: 401
    assert request_count(api, "GET", "/projects/{project}", 200) == 3
    assert request_count(api, "GET", f"{API_PREFIX}/projects/{{project}}", 200) == 3
    assert request_count(api, "GET", "/projects/{project}", 401) == 1
    api.get(f"{API_PREFIX}/projects/default", headers=headers)
    assert request_count(api, "GET", "/projects/{project}", 200) == 4


def test_metrics_use_route_templates_not_paths(api: TestClient, people: People) -> None:
    """Per-path labels would let callers grow the metric without bound."""
    for name in ("a1", "a2", "a3"):
        api.get(f"{API_PREFIX}/projects/{name}", headers=bearer(people.admin_token))
    assert "a1" not in api.get("/metrics").text
    assert request_count(api, "GET", "/projects/{project}", 404) == 3


def test_request_ids_are_echoed_or_made(api: TestClient, people: People) -> None:
    url = f"{API_PREFIX}/me"
    headers = bearer(people.admin_token)
    echoed = api.get(url, headers={**headers, "X-Request-ID": "trace-42.a_b"})
    assert echoed.headers["x-request-id"] == "trace-42.a_b"
    made = {api.get(url, headers=headers).headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in made)
    hostile = api.get(url, headers={**headers, "X-Request-ID": "x" * 65})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])
    spaced = api.get(url, headers={**headers, "X-Request-ID": "a b\tc"})
    assert spaced.headers["x-request-id"] != "a b\tc"


def test_errors_carry_a_request_id_too(api: TestClient) -> None:
    response = api.get(f"{API_PREFIX}/me", headers={"X-Request-ID": "failing-call"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "failing-call"
