"""Registry webhooks on the wire: the target guard, signatures, and delivery to a real receiver.

The receiver is a real HTTP(S) server on 127.0.0.1. The guard refuses loopback by design, so the
delivery tests allow "127.0.0.1" (or a test host name) through ``allowed_hosts``, the same way an
administrator would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import mlsteward
from mlsteward.errors import InvalidArgument, PermissionDenied
from mlsteward.registry._webhook_delivery import (
    MAX_BODY_BYTES,
    WebhookTarget,
    check_target,
    deliver,
    sign_payload,
    verify_signature,
)

SECRET = b"whsec-test-secret"
BODY = b'{"event":"model_version.created","model":"fraud","version":3}'
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def resolver_for(answers: dict[str, list[str]]) -> Any:
    """A resolver that answers from a table and records its calls; no real DNS."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# --- the receiver -------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: bool = False  # wait (up to 5 s) before answering, to make the client time out


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A webhook receiver on 127.0.0.1 that records requests and answers from a script."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                reply = receiver.script.pop(0) if receiver.script else Reply()
                if reply.hang:
                    receiver.release.wait(5)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def local_target(receiver: Receiver, path: str = "/hooks") -> WebhookTarget:
    return check_target(f"http://127.0.0.1:{receiver.port}{path}", allowed_hosts={"127.0.0.1"})


class Sleeps(list[float]):
    """A fake ``sleep`` that records the delays it was asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- the guard ----------------------------------------------------------------------------

REFUSED_LITERALS = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local (cloud metadata service)"),
    ("169.254.10.1", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("198.18.0.1", "reserved"),
    ("192.0.2.1", "documentation"),
    ("203.0.113.7", "documentation"),
    ("[::1]", "loopback"),
    ("[::]", "unspecified"),
    ("[fe80::1]", "link-local"),
    ("[fc00::1]", "private"),
    ("[fd12:3456::1]", "private"),
    ("[ff02::1]", "multicast"),
    ("[2001:db8::1]", "documentation"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped IPv6 wrapping loopback"),
    ("[::ffff:169.254.169.254]", "IPv4-mapped IPv6 wrapping link-local (cloud metadata service)"),
    ("[::127.0.0.1]", "IPv4-compatible IPv6 wrapping loopback"),
    ("[64:ff9b::a00:1]", "NAT64 IPv6 wrapping private"),
    ("[2002:a00:1::1]", "6to4 IPv6 embedding private"),
    ("[2002:7f00:1::]", "6to4 IPv6 embedding loopback"),
    # Teredo: server 65.54.227.120, client 10.0.0.1 stored bit-inverted (f5ff:fffe).
    ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "Teredo IPv6 embedding private"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED_LITERALS)
def test_the_guard_refuses_non_public_ip_literals(host: str, reason: str) -> None:
    resolve = resolver_for({})
    with pytest.raises(PermissionDenied) as caught:
        check_target(f"https://{host}:8443/hook", resolver=resolve)
    address = host.strip("[]")
    assert caught.value.details == {
        "host": str(ipaddress.ip_address(address)),
        "address": str(ipaddress.ip_address(address)),
        "reason": reason,
    }
    assert f"{reason} addresses are not reachable by webhooks" in caught.value.message
    assert "an administrator can allow the host" in caught.value.message
    assert resolve.calls == []  # literals are not looked up


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f.1", "0177.0.0.1", "0x7f000001", "127.1", "127.0.0.01", "017700000001"],
)
def test_the_guard_refuses_obfuscated_ipv4_hosts(host: str) -> None:
    resolve = resolver_for({})
    with pytest.raises(InvalidArgument, match=r"non-standard .* form; write it as four decimal"):
        check_target(f"http://{host}/", resolver=resolve)
    assert resolve.calls == []


def test_a_host_name_resolving_to_loopback_is_refused() -> None:
    resolve = resolver_for({"evil.example": ["127.0.0.1"]})
    with pytest.raises(PermissionDenied) as caught:
        check_target("https://evil.example/hook", resolver=resolve)
    assert caught.value.details == {
        "host": "evil.example",
        "address": "127.0.0.1",
        "reason": "loopback",
    }
    assert "'evil.example' (address 127.0.0.1) is refused" in caught.value.message
    assert resolve.calls == [("evil.example", 443)]


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    resolve = resolver_for({"mixed.example": [PUBLIC_V4, PUBLIC_V6, "fd00::5"]})
    with pytest.raises(PermissionDenied) as caught:
        check_target("https://mixed.example/", resolver=resolve)
    assert caught.value.details["address"] == "fd00::5"


def test_the_real_localhost_is_refused_unless_allowed() -> None:
    with pytest.raises(PermissionDenied) as caught:
        check_target("http://localhost:8080/")
    assert caught.value.details["reason"] == "loopback"
    target = check_target("http://localhost:8080/", allowed_hosts=["LocalHost"])
    assert target.addresses
    assert {ipaddress.ip_address(a).is_loopback for a in target.addresses} == {True}


def test_a_public_address_passes_and_the_target_is_normalised() -> None:
    resolve = resolver_for({"hooks.example.com": [PUBLIC_V4, PUBLIC_V6, PUBLIC_V4]})
    target = check_target("HTTPS://Hooks.Example.COM.:8443/in/bound?team=ml#frag", resolver=resolve)
    assert target == WebhookTarget(
        url="HTTPS://Hooks.Example.COM.:8443/in/bound?team=ml#frag",
        scheme="https",
        host="hooks.example.com",
        port=8443,
        path="/in/bound?team=ml",
        addresses=(PUBLIC_V4, PUBLIC_V6),
    )
    assert resolve.calls == [("hooks.example.com", 8443)]
    assert check_target("http://hooks.example.com", resolver=resolve).path == "/"
    assert check_target(f"http://{PUBLIC_V4}/x").addresses == (PUBLIC_V4,)
    # IPv4-mapped and 6to4 forms of a public address are public too.
    assert check_target("http://[::ffff:93.184.216.34]/").addresses == ("::ffff:5db8:d822",)
    assert check_target("http://[2002:5db8:d822::1]/").host == "2002:5db8:d822::1"


def test_allowed_hosts_bypass_the_check_for_that_host_only() -> None:
    resolve = resolver_for({"ci.internal": ["10.0.0.7"], "db.internal": ["10.0.0.8"]})
    target = check_target(
        "http://ci.internal/hook", allowed_hosts={"ci.internal"}, resolver=resolve
    )
    assert target.addresses == ("10.0.0.7",)
    with pytest.raises(PermissionDenied):
        check_target("http://db.internal/", allowed_hosts={"ci.internal"}, resolver=resolve)
    # Allowing an address does not allow every name that resolves to it.
    with pytest.raises(PermissionDenied):
        check_target("http://ci.internal/", allowed_hosts={"10.0.0.7"}, resolver=resolve)
    # IPv6 literals match however the admin wrote them.
    assert check_target("http://[::1]:9/", allowed_hosts={"[0:0::1]"}).addresses == ("::1",)


def test_unresolvable_hosts_are_invalid_arguments() -> None:
    resolve = resolver_for({"empty.example": []})
    with pytest.raises(InvalidArgument, match=re.escape("'nowhere.example' could not be resolved")):
        check_target("https://nowhere.example/", resolver=resolve)
    with pytest.raises(InvalidArgument, match=re.escape("'empty.example' has no addresses")):
        check_target("https://empty.example/", resolver=resolve)
    with pytest.raises(InvalidArgument, match="which is not an IP address"):
        check_target("https://odd.example/", resolver=lambda host, port: ["not-an-ip"])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "it is empty"),
        ("ftp://files.example/x", "scheme must be http or https"),
        ("javascript:alert(1)", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("http:/hooks.example/x", "must start with http:// or https://"),
        ("http:///path", "it has no host"),
        ("http://:80/", "it has no host"),
        ("http://user:pw@hooks.example/", "user names and passwords"),
        ("http://hooks.example@127.0.0.1/", "user names and passwords"),
        ("http://hooks.example:0/", "port must be a number from 1 to 65535"),
        ("http://hooks.example:65536/", "port must be a number from 1 to 65535"),
        ("http://hooks.example:+80/", "port must be a number from 1 to 65535"),
        ("http://hooks.example:http/", "port must be a number from 1 to 65535"),
        ("http://hooks .example/", "whitespace or control characters"),
        ("http://hooks.example/\r\nX-Injected: 1", "whitespace or control characters"),
        ("http://hooks.example/\x00", "whitespace or control characters"),
        ("http://hooks.example\\@evil.example/", "backslash"),
        ("http://hööks.example/", "xn-- form"),
        ("http://hooks.example/" + "a" * 2100, "longer than 2048 characters"),
        ("http://[::1/", "not a valid IPv6 address"),
        ("http://[::1]x/", "unexpected text after the IPv6 address"),
        ("http://[not:ipv6]/", "is not a valid IPv6 address"),
        ("http://[fe80::1%25eth0]/", "zone identifiers are not allowed"),
        ("http://::1/", "must be written in brackets"),
        ("http://-bad-.example/", "is not a valid host name"),
        ("http://a..b/", "is not a valid host name"),
        ("http://%31%32%37.0.0.1/", "non-standard"),
        ("http://%65vil.example/", "is not a valid host name"),
        ("http://" + "a" * 64 + ".example/", "is not a valid host name"),
    ],
)
def test_malformed_urls_are_refused_before_any_lookup(url: str, problem: str) -> None:
    resolve = resolver_for({})
    with pytest.raises(InvalidArgument) as caught:
        check_target(url, resolver=resolve)
    assert problem in caught.value.message
    assert caught.value.message.startswith("webhook URL ")
    assert len(caught.value.message) < 400  # a hostile 2 KB URL is not echoed in full
    assert resolve.calls == []


# --- signatures ---------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    header = sign_payload(SECRET, 1_700_000_000, BODY)
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify_signature(SECRET, header, BODY, now=1_700_000_000)
    assert verify_signature(SECRET, header, BODY, now=1_700_000_300)
    assert verify_signature(SECRET, header, BODY, now=1_699_999_700)


def test_verification_rejects_wrong_secrets_bodies_times_and_shapes() -> None:
    t = 1_700_000_000
    header = sign_payload(SECRET, t, BODY)
    mac = header.partition("v1=")[2]
    assert not verify_signature(b"other", header, BODY, now=t)
    assert not verify_signature(SECRET, header, BODY + b" ", now=t)
    assert not verify_signature(SECRET, header, BODY, now=t + 301)  # replayed too late
    assert not verify_signature(SECRET, header, BODY, now=t - 301)  # from the future
    assert not verify_signature(SECRET, header, BODY, now=t + 61, tolerance_seconds=60)
    for bad in [
        "",
        "garbage",
        f"v1={mac}",
        f"t={t}",
        f"t=abc,v1={mac}",
        f"t=-{t},v1={mac}",
        f"t={t},v1={mac},junk",
        f"t={t},v1={mac[:-1]}",
        f"t={t},v1={mac}\u00e9",
    ]:
        assert not verify_signature(SECRET, bad, BODY, now=t), bad
    # A receiver rotating secrets accepts any matching v1 entry.
    rotated = f"t={t},v1={'0' * 64},v1={mac}"
    assert verify_signature(SECRET, rotated, BODY, now=t)


# --- delivery -----------------------------------------------------------------------------


def test_a_delivery_is_signed_and_carries_the_documented_headers(receiver: Receiver) -> None:
    target = local_target(receiver, "/hooks?team=ml")
    sleeps = Sleeps()
    result = deliver(
        target,
        event="model_version.created",
        body=BODY,
        secret=SECRET,
        delivery_id="dlv_0001",
        sleep=sleeps,
    )
    assert result.delivered
    assert (result.attempts, result.status, result.error) == (1, 200, None)
    assert result.elapsed >= 0
    assert sleeps == []
    [request] = receiver.requests
    assert request.path == "/hooks?team=ml"
    assert request.body == BODY
    headers = request.headers
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    assert headers["content-type"] == "application/json"
    assert headers["x-mlsteward-event"] == "model_version.created"
    assert headers["x-mlsteward-delivery"] == "dlv_0001"
    assert headers["user-agent"] == f"mlsteward-webhooks/{mlsteward.__version__}"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["x-mlsteward-signature"])
    now = float(headers["x-mlsteward-signature"][2:12])
    assert verify_signature(SECRET, headers["x-mlsteward-signature"], BODY, now=now)
    assert not verify_signature(b"wrong", headers["x-mlsteward-signature"], BODY, now=now)


def test_transient_failures_are_retried_with_backoff_and_fresh_signatures(
    receiver: Receiver,
) -> None:
    receiver.script = [Reply(500), Reply(503), Reply(502), Reply(200)]
    ticks = iter([1000.0, 1010.0, 1020.0, 1030.0])
    sleeps = Sleeps()
    result = deliver(
        local_target(receiver),
        event="alias.moved",
        body=BODY,
        secret=SECRET,
        delivery_id="dlv_retry",
        base_delay=2.0,
        max_delay=5.0,
        sleep=sleeps,
        clock=lambda: next(ticks),
    )
    assert (result.delivered, result.attempts, result.status) == (True, 4, 200)
    assert len(receiver.requests) == 4
    assert {r.headers["x-mlsteward-delivery"] for r in receiver.requests} == {"dlv_retry"}
    signatures = [r.headers["x-mlsteward-signature"] for r in receiver.requests]
    for signature, now in zip(signatures, [1000, 1010, 1020, 1030], strict=True):
        assert signature.startswith(f"t={now},")
        assert verify_signature(SECRET, signature, BODY, now=now)
    # Full jitter under an exponential ceiling: 2, 4, then capped at 5.
    assert len(sleeps) == 3
    for delay, ceiling in zip(sleeps, [2.0, 4.0, 5.0], strict=True):
        assert 0 <= delay <= ceiling


def test_retry_after_is_honoured_and_capped(receiver: Receiver) -> None:
    receiver.script = [
        Reply(429, {"Retry-After": "7"}),
        Reply(503, {"Retry-After": "3600"}),
        Reply(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),  # not seconds: backoff
        Reply(204, body=b""),
    ]
    sleeps = Sleeps()
    result = deliver(
        local_target(receiver),
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        base_delay=1.0,
        max_delay=30.0,
        sleep=sleeps,
    )
    assert (result.delivered, result.attempts, result.status) == (True, 4, 204)
    assert sleeps[:2] == [7.0, 30.0]
    assert 0 <= sleeps[2] <= 4.0


def test_a_client_error_is_not_retried_and_the_response_is_cut_short(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script = [Reply(400, body=b"bad signature\n" + b"x" * 1_000_000)]
    sleeps = Sleeps()
    with caplog.at_level(logging.DEBUG, logger="mlsteward"):
        result = deliver(
            local_target(receiver),
            event="e",
            body=BODY,
            secret=SECRET,
            delivery_id="d",
            sleep=sleeps,
        )
    assert (result.delivered, result.attempts, result.status) == (False, 1, 400)
    assert result.error is not None
    assert result.error.startswith("HTTP 400: bad signature")
    assert len(result.error) < 250
    assert len(receiver.requests) == 1
    assert sleeps == []
    assert "xxxxxxxxxx" not in caplog.text


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.script = [Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"})]
    result = deliver(
        local_target(receiver),
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        sleep=Sleeps(),
    )
    assert (result.delivered, result.attempts, result.status) == (False, 1, 302)
    assert result.error is not None
    assert "redirects are not followed" in result.error
    assert len(receiver.requests) == 1


def test_delivery_gives_up_after_the_attempts_with_the_last_error(receiver: Receiver) -> None:
    receiver.script = [
        Reply(500, body=b"boom 1"),
        Reply(503, body=b"boom 2"),
        Reply(500, body=b"boom 3"),
        Reply(200),
    ]
    sleeps = Sleeps()
    result = deliver(
        local_target(receiver),
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        attempts=3,
        sleep=sleeps,
    )
    assert (result.delivered, result.attempts, result.status) == (False, 3, 500)
    assert result.error == "HTTP 500: boom 3"
    assert len(receiver.requests) == 3
    assert len(sleeps) == 2


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = check_target(f"http://127.0.0.1:{port}/", allowed_hosts={"127.0.0.1"})
    sleeps = Sleeps()
    result = deliver(
        target, event="e", body=BODY, secret=SECRET, delivery_id="d", attempts=2, sleep=sleeps
    )
    assert (result.delivered, result.attempts, result.status) == (False, 2, None)
    assert result.error is not None
    assert result.error.startswith("ConnectError")
    assert len(sleeps) == 1


def test_timeouts_are_retried(receiver: Receiver) -> None:
    receiver.script = [Reply(hang=True), Reply(200)]
    sleeps = Sleeps()
    result = deliver(
        local_target(receiver),
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        timeout=0.3,
        sleep=sleeps,
    )
    assert (result.delivered, result.attempts, result.status) == (True, 2, 200)
    assert len(sleeps) == 1


def test_retries_rotate_through_the_checked_addresses(receiver: Receiver) -> None:
    # 127.0.0.2 is loopback too, but nothing listens there on this port.
    resolve = resolver_for({"pair.test": ["127.0.0.2", "127.0.0.1"]})
    target = check_target(
        f"http://pair.test:{receiver.port}/", allowed_hosts={"pair.test"}, resolver=resolve
    )
    result = deliver(target, event="e", body=BODY, secret=SECRET, delivery_id="d", sleep=Sleeps())
    assert (result.delivered, result.attempts) == (True, 2)
    assert receiver.requests[0].headers["host"] == f"pair.test:{receiver.port}"


def test_a_body_of_exactly_the_limit_is_delivered(receiver: Receiver) -> None:
    body = b"[" + b"1," * ((MAX_BODY_BYTES - 3) // 2) + b"1]"
    body += b" " * (MAX_BODY_BYTES - len(body))
    result = deliver(
        local_target(receiver), event="e", body=body, secret=SECRET, delivery_id="d", sleep=Sleeps()
    )
    assert result.delivered
    assert receiver.requests[0].body == body


def test_bad_delivery_arguments_send_nothing() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    transport = httpx.MockTransport(record)
    target = WebhookTarget(
        "https://hooks.example/", "https", "hooks.example", 443, "/", (PUBLIC_V4,)
    )
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "target": WebhookTarget(
                    "https://hooks.example/", "https", "hooks.example", 443, "/", ()
                )
            },
            "no checked addresses",
        ),
        ({"body": b"x" * (MAX_BODY_BYTES + 1)}, "the limit is 262144"),
        ({"event": "bad\r\nX-Injected: 1"}, "webhook event"),
        ({"event": ""}, "webhook event"),
        ({"delivery_id": "d" * 201}, "webhook delivery_id"),
        ({"attempts": 0}, "attempts must be >= 1"),
        ({"timeout": 0.0}, "timeout > 0"),
        ({"base_delay": -1.0}, "delays >= 0"),
    ]
    for overrides, problem in cases:
        arguments: dict[str, Any] = {
            "target": target,
            "event": "e",
            "body": BODY,
            "secret": SECRET,
            "delivery_id": "d",
            "transport": transport,
            "sleep": Sleeps(),
        } | overrides
        with pytest.raises(InvalidArgument, match=re.escape(problem)):
            deliver(**arguments)
    assert sent == []


# --- DNS rebinding and TLS ----------------------------------------------------------------


def test_delivery_connects_to_the_checked_address_not_a_fresh_lookup() -> None:
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])  # the second answer would be the rebinding
    calls: list[str] = []

    def rebinding_resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    target = check_target("https://hooks.example:8443/in?x=1", resolver=rebinding_resolver)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    result = deliver(
        target,
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        transport=httpx.MockTransport(record),
        sleep=Sleeps(),
    )
    assert result.delivered
    assert calls == ["hooks.example"]
    [request] = seen
    assert str(request.url) == f"https://{target.addresses[0]}:8443/in?x=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"


def test_a_real_connection_uses_the_checked_address(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[object] = []
    real_getaddrinfo = socket.getaddrinfo

    def watching_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    resolve = resolver_for({"hooks.example": ["127.0.0.1"]})
    target = check_target(
        f"http://hooks.example:{receiver.port}/", allowed_hosts={"hooks.example"}, resolver=resolve
    )
    monkeypatch.setattr(socket, "getaddrinfo", watching_getaddrinfo)
    result = deliver(target, event="e", body=BODY, secret=SECRET, delivery_id="d", sleep=Sleeps())
    assert result.delivered  # hooks.example does not exist in real DNS
    assert "hooks.example" not in looked_up
    assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"


def certificate_for(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for one DNS name, valid for a day; returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path, list[str | None]]]:
    cert, key = certificate_for("hooks.example", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = Receiver(tls=context)
    yield server, cert, server_names
    server.close()


def test_https_sends_the_host_name_as_sni_and_verifies_the_certificate_for_it(
    tls_receiver: tuple[Receiver, Path, list[str | None]],
) -> None:
    receiver, cert, server_names = tls_receiver
    resolve = resolver_for({"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    trust = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    target = check_target(
        f"https://hooks.example:{receiver.port}/tls",
        allowed_hosts={"hooks.example"},
        resolver=resolve,
    )
    result = deliver(
        target,
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        transport=trust,
        sleep=Sleeps(),
    )
    assert result.delivered
    assert server_names == ["hooks.example"]
    assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"

    # The same server under another name fails verification: the name is checked, not the IP.
    wrong = check_target(
        f"https://other.example:{receiver.port}/tls",
        allowed_hosts={"other.example"},
        resolver=resolve,
    )
    trust = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    result = deliver(
        wrong,
        event="e",
        body=BODY,
        secret=SECRET,
        delivery_id="d",
        attempts=1,
        transport=trust,
        sleep=Sleeps(),
    )
    assert not result.delivered
    assert result.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert len(receiver.requests) == 1
