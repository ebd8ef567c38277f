"""Webhook and model-card routes: maintainers subscribe, administrators allow hosts, the
server's dispatcher delivers a signed event to a real local receiver; model cards render as
JSON, Markdown and HTML."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.registry import ModelFile, register_model_version
from mlsteward.registry._webhook_delivery import verify_signature
from mlsteward.security import SYSTEM, add_member
from mlsteward.server import API_PREFIX

from ._support import SharedApi, assert_error_shape, bearer


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    return shared_api.app()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    server.shutdown()
    server.server_close()
    thread.join()


def register(shared_api: SharedApi, name: str) -> None:
    info = shared_api.platform.blobs.put_bytes(b"weights")
    register_model_version(
        shared_api.platform,
        SYSTEM,
        "default",
        name,
        source_uri="runs:/abc/model",
        flavor="sklearn",
        files=[ModelFile("model.skops", info.address, info.size)],
        metrics={"auc": 0.91},
    )


def test_webhooks_are_guarded_and_delivered_by_the_dispatcher(
    app: FastAPI, shared_api: SharedApi, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = receiver
    admin = TestClient(app, headers=bearer(shared_api.people.admin_token))
    maintainer_token = shared_api.people.token_for("mona")
    add_member(shared_api.platform, SYSTEM, "default", "mona", "maintainer")
    mona = TestClient(app, headers=bearer(maintainer_token))
    hooks = f"{API_PREFIX}/projects/default/webhooks"
    refused = mona.post(hooks, json={"url": url})
    assert_error_shape(refused, 403, "permission_denied")
    assert "allow" in refused.json()["error"]["message"]
    assert_error_shape(
        mona.post(f"{API_PREFIX}/webhook-allowed-hosts", json={"host": "127.0.0.1"}), 403
    )
    allowed = admin.post(f"{API_PREFIX}/webhook-allowed-hosts", json={"host": "127.0.0.1"})
    assert allowed.status_code == 204
    assert admin.get(f"{API_PREFIX}/webhook-allowed-hosts").json() == {"hosts": ["127.0.0.1"]}
    created = mona.post(hooks, json={"url": url, "events": ["model_version.created"]})
    assert created.status_code == 201
    secret = created.json()["secret"]
    [listed] = mona.get(hooks).json()["webhooks"]
    assert "secret" not in listed
    with TestClient(app) as running:  # the lifespan runs the dispatcher
        del running
        register(shared_api, "hooked")
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            time.sleep(0.1)
    assert seen, "the dispatcher delivered nothing"
    [request] = seen
    assert request["headers"]["X-Mlsteward-Event"] == "model_version.created"
    assert verify_signature(
        secret.encode(),
        request["headers"]["X-Mlsteward-Signature"],
        request["body"],
        now=int(time.time()),
    )
    deliveries = mona.get(f"{hooks}/{listed['id']}/deliveries").json()["deliveries"]
    assert [d["status"] for d in deliveries] == ["DELIVERED"]
    assert mona.delete(f"{hooks}/{listed['id']}").status_code == 204
    assert_error_shape(mona.delete(f"{hooks}/{listed['id']}"), 404)


def test_model_cards_render_in_three_formats(app: FastAPI, shared_api: SharedApi) -> None:
    register(shared_api, "carded")
    admin = TestClient(app, headers=bearer(shared_api.people.admin_token))
    card = f"{API_PREFIX}/projects/default/models/carded/versions/1/model-card"
    written = admin.patch(card, json={"sections": {"intended_use": "<b>fraud</b> scoring"}})
    assert written.status_code == 200
    assert written.json()["intended_use"] == "<b>fraud</b> scoring"
    as_json = admin.get(card)
    assert as_json.json()["type"] == "mlsteward.model_card"
    markdown = admin.get(card, params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "fraud" in markdown.text
    page = admin.get(card, params={"format": "html"})
    assert "&lt;b&gt;fraud&lt;/b&gt;" in page.text
    assert "<b>fraud</b>" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert_error_shape(admin.get(card, params={"format": "pdf"}), 400)
    assert_error_shape(admin.patch(card, json={"sections": {"owner": "me"}}), 400)
