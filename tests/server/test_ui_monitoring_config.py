"""Alert rules on a monitor's page, in process: a maintainer adds a rule from the form (the
metric names of the latest window offered), turns it off and on, deletes it; every refusal
of the service is shown next to the form with what was typed kept, nothing written; viewers
read the rules and are refused the forms. The data is ``test_ui_monitoring``'s."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from mlsteward.monitoring import list_alert_rules, list_alerts
from mlsteward.platform import Platform
from mlsteward.registry._webhooks import allow_webhook_host
from mlsteward.security import SYSTEM, list_audit_events

from . import test_ui_monitoring as monitoring
from ._state import platform_state

PAGE = monitoring.PAGE
RULES = f"{PAGE}/rules"
SECRET = "a-webhook-secret-long-enough"
csrf_of = monitoring.csrf_of
log_in = monitoring.log_in
table = monitoring.table
text_of = monitoring.text_of
_cheap_hashing = monitoring._cheap_hashing
seeded = monitoring.seeded
app = monitoring.app


def rule_form(**given: str) -> dict[str, str]:
    data = {
        "rule_name": "recall low", "metric": "quality.recall", "kind": "consecutive",
        "op": "<", "value": "0.8", "windows": "3", "severity": "warning",
        "renotify_seconds": "600", "auto_resolve": "true", "notify_log": "true",
        "webhook_url": "", "webhook_secret": "", "slack_url": "", "email_to": "",
    }  # fmt: skip
    return data | given


def rule_error(page: str) -> str:
    match = re.search(r'<p class="flash flash-error" role="alert" id="rule-error">(.*?)</p>', page)
    assert match is not None, "no message next to the rule form"
    return html.unescape(match.group(1))


def test_a_maintainer_adds_a_rule_from_the_form(app: TestClient, seeded: Platform) -> None:
    allow_webhook_host(seeded, SYSTEM, "127.0.0.1")
    client = log_in(app, "alice")
    page = client.get(PAGE).text
    assert 'id="create-rule"' in page
    known = re.search(r'<datalist id="known-metrics">(.*?)</datalist>', page, re.S)
    assert known is not None
    offered = re.findall(r'<option value="([^"]+)">', known.group(1))
    assert "drift.share_drifted" in offered
    assert offered == sorted(offered)
    response = client.post(
        RULES,
        data=rule_form(
            csrf_token=csrf_of(page),
            webhook_url="http://127.0.0.1:9/hooks/alerts",
            webhook_secret=SECRET,
        ),
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, PAGE)
    created = {r.name: r for r in list_alert_rules(seeded, SYSTEM, "default")}["recall low"]
    assert created.condition.describe() == "quality.recall < 0.8 for 3 windows"
    assert (created.severity, created.renotify_seconds, created.auto_resolve) == (
        "warning",
        600,
        True,
    )
    assert [n["kind"] for n in created.notifiers] == ["log", "webhook"]
    assert created.created_by == "alice"
    shown = client.get(PAGE).text
    assert "Alert rule recall low added: quality.recall &lt; 0.8 for 3 windows." in shown
    row = re.search(r'<tr data-rule="recall low".*?</tr>', shown, re.S)
    assert row is not None
    assert text_of(row.group(0)).startswith(
        "recall low quality.recall < 0.8 for 3 windows warning 600 s yes log, webhook"
    )
    assert SECRET not in shown


@pytest.mark.parametrize(
    ("given", "status", "message"),
    [
        ({"value": "lots"}, 400, "the value must be a number, not 'lots'"),
        ({"value": "nan"}, 400, "the value must be a finite number"),
        ({"rule_name": ""}, 400, "name: must be 1 to 200 characters"),
        ({"metric": ""}, 400, "metric: must be 1 to 200 characters"),
        ({"kind": "<i>x</i>"}, 400, "kind: must be one of threshold, consecutive, baseline"),
        ({"kind": "threshold"}, 400, "windows: applies to consecutive and baseline rules only"),
        ({"windows": "many"}, 400, "windows must be a whole number, not 'many'"),
        ({"severity": "loud"}, 400, "severity: must be one of info, warning, critical"),
        ({"renotify_seconds": "-5"}, 400, "renotify_seconds: must be a whole number from 0"),
        ({"webhook_url": "http://127.0.0.1:9/h", "webhook_secret": "short"}, 400,
         "webhook notifier (notifiers[1].secret): must be 16 to 512 ASCII characters"),
        ({"webhook_url": "http://10.1.2.3/h", "webhook_secret": SECRET}, 403,
         "webhook target '10.1.2.3' is refused: private addresses"),
        ({"email_to": "oncall@example.com"}, 400,
         "e-mail notifier (notifiers[1].kind): e-mail needs an SMTP server"),
        ({"rule_name": "drift high", "kind": "threshold", "windows": "1"}, 409,
         "has a rule named 'drift high' already"),
    ],
    ids=[
        "value-text", "value-nan", "no-name", "no-metric", "hostile-kind", "threshold-windows",
        "windows-text", "severity", "renotify-negative", "short-secret", "private-webhook",
        "no-smtp", "taken-name",
    ],
)  # fmt: skip
def test_a_refused_rule_is_explained_next_to_the_form_and_nothing_written(
    app: TestClient, seeded: Platform, given: dict[str, str], status: int, message: str
) -> None:
    client = log_in(app, "alice")
    token = csrf_of(client.get(PAGE).text)
    before = platform_state(seeded)
    response = client.post(RULES, data=rule_form(csrf_token=token, **given))
    assert response.status_code == status
    assert message in rule_error(response.text)
    assert "<i>x</i>" not in response.text
    form = re.search(r'<form [^>]*id="create-rule">.*?</form>', response.text, re.S)
    assert form is not None  # the form again, with what was typed
    typed = given.get("metric", "quality.recall")
    assert f'name="metric" required maxlength="200" list="known-metrics" value="{typed}"' in (
        form.group(0)
    )
    assert SECRET not in response.text  # a secret is never written back into the page
    assert platform_state(seeded) == before


def test_viewers_are_refused_the_rule_forms_and_nothing_is_written(
    app: TestClient, seeded: Platform
) -> None:
    alice = log_in(app, "alice")
    alice.get(PAGE)
    vic = log_in(app, "vic")
    page = vic.get(PAGE).text
    assert 'id="create-rule"' not in page
    assert "drift high" in text_of(table(page, "alert-rules"))  # read-only
    token = csrf_of(vic.get(monitoring.ALERTS).text)
    before = platform_state(seeded)
    for path, data in [
        (RULES, rule_form()),
        (f"{RULES}/enabled", {"rule": "drift high", "enabled": "false"}),
        (f"{RULES}/delete", {"rule": "drift high"}),
    ]:
        refused = vic.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 403, path
        assert "maintainer" in rule_error(refused.text)
        for forged in ("", "forged"):
            assert alice.post(path, data={"csrf_token": forged, **data}).status_code == 403
    assert platform_state(seeded) == before


def test_disable_enable_and_delete_a_rule(app: TestClient, seeded: Platform) -> None:
    client = log_in(app, "alice")
    token = csrf_of(client.get(PAGE).text)
    off = client.post(f"{RULES}/enabled", data={"csrf_token": token, "rule": "drift high",
                                                 "enabled": "false"})  # fmt: skip
    assert off.status_code == 200
    assert "Alert rule drift high is disabled." in off.text
    assert '<tr data-rule="drift high" data-enabled="false">' in off.text
    assert [r.enabled for r in list_alert_rules(seeded, SYSTEM, "default")] == [False]
    assert list_audit_events(seeded, SYSTEM, action="monitoring.alert_rule.update")

    before = platform_state(seeded)
    for data, status, message in [
        ({"rule": "drift high", "enabled": "maybe"}, 400, "enabled must be true or false"),
        ({"rule": "no such rule", "enabled": "true"}, 404, "no alert rule named 'no such rule'"),
    ]:
        refused = client.post(f"{RULES}/enabled", data={"csrf_token": token, **data})
        assert refused.status_code == status
        assert message in rule_error(refused.text)
    missing = client.post(f"{RULES}/delete", data={"csrf_token": token, "rule": "nope"})
    assert missing.status_code == 404
    assert "has no alert rule named 'nope'" in rule_error(missing.text)
    assert platform_state(seeded) == before

    on = client.post(f"{RULES}/enabled", data={"csrf_token": token, "rule": "drift high",
                                                "enabled": "true"})  # fmt: skip
    assert '<tr data-rule="drift high" data-enabled="true">' in on.text
    assert len(list_alerts(seeded, SYSTEM, "default")) == 1
    deleted = client.post(f"{RULES}/delete", data={"csrf_token": token, "rule": "drift high"})
    assert deleted.status_code == 200
    assert "Alert rule drift high and its alerts are deleted." in deleted.text
    assert list_alert_rules(seeded, SYSTEM, "default") == []
    assert list_alerts(seeded, SYSTEM, "default") == []
    assert "No alert rules. Add one below" in deleted.text
