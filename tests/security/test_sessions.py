"""Password login: rate-limited, audited, sessions that expire and end."""

from __future__ import annotations

import pytest

from mlsteward.errors import RateLimited, Unauthenticated
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    Actor,
    authenticate_session,
    list_audit_events,
    login,
    logout,
)
from tests.conftest import ADMIN_PASSWORD


def test_login_creates_a_session_and_logout_ends_it(platform: Platform, admin: Actor) -> None:
    session = login(platform, "admin", ADMIN_PASSWORD, "127.0.0.1")
    actor, csrf = authenticate_session(platform, session.token)
    assert actor.name == "admin"
    assert actor.kind == "session"
    assert csrf == session.csrf_token
    logout(platform, actor, session.token)
    with pytest.raises(Unauthenticated):
        authenticate_session(platform, session.token)
    actions = [e.action for e in list_audit_events(platform, SYSTEM, action="auth.*")]
    assert actions == ["auth.logout", "auth.login"]


def test_wrong_password_and_unknown_user_look_the_same(platform: Platform, admin: Actor) -> None:
    with pytest.raises(Unauthenticated) as wrong:
        login(platform, "admin", "not-the-password", "10.0.0.1")
    with pytest.raises(Unauthenticated) as unknown:
        login(platform, "nobody", "not-the-password", "10.0.0.1")
    assert wrong.value.message == unknown.value.message
    failed = list_audit_events(platform, SYSTEM, action="auth.login_failed")
    assert {e.target_id for e in failed} == {"admin", "nobody"}


def test_repeated_failures_are_rate_limited_even_with_the_right_password(
    platform: Platform, admin: Actor
) -> None:
    for _ in range(platform.settings.login_max_failures):
        with pytest.raises(Unauthenticated):
            login(platform, "admin", "guess-guess-guess", "10.0.0.2")
    with pytest.raises(RateLimited) as limited:
        login(platform, "admin", ADMIN_PASSWORD, "10.0.0.2")
    assert limited.value.details["retry_after"] > 0


@pytest.mark.parametrize("token", ["", "x" * 500, "forged-session-token"])
def test_bad_session_tokens(platform: Platform, token: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate_session(platform, token)
