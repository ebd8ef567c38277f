"""Helpers shared by the in-process web UI tests: CSRF tokens and form login."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "ui-admin-password-123"
USER_PASSWORD = "ui-user-password-456"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on the page."""
    match = CSRF_RE.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def log_in(client: TestClient, username: str = "admin", password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/admin/projects").text)
