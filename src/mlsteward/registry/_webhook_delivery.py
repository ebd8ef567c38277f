"""Outbound registry webhooks: the target guard, HMAC signatures and delivery with retries.

The registry calls :func:`check_target` when a subscription is saved and again before each
delivery, then :func:`deliver` with the checked target. The guard refuses targets that resolve to
loopback, private, link-local and other non-public addresses (server-side request forgery), unless
an administrator allowed that host explicitly; delivery connects to the addresses the guard
checked, never to a fresh DNS answer, so a host cannot pass the check and then re-point itself at
an internal address (DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .. import __version__
from ..errors import InvalidArgument, PermissionDenied

__all__ = [
    "DeliveryResult",
    "WebhookTarget",
    "check_target",
    "deliver",
    "sign_payload",
    "verify_signature",
]

log = logging.getLogger("mlsteward.registry.webhooks")

MAX_URL_LENGTH = 2048
MAX_BODY_BYTES = 256 * 1024
RESPONSE_READ_CAP = 1024  # bytes of a response body read at most; 200 chars of it kept
SIGNATURE_HEADER = "X-Mlsteward-Signature"
USER_AGENT = f"mlsteward-webhooks/{__version__}"

Resolver = Callable[[str, int], list[str]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Checked in order; the first match names the class. Written out rather than trusting
# ``is_private``/``is_global``, whose tables changed between Python patch releases.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.169.254/32"), "link-local (cloud metadata service)"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "reserved"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("64:ff9b:1::/48"), "private"),
    (_V6("100::/64"), "reserved"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("fc00::/7"), "private"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "private"),
    (_V6("ff00::/8"), "multicast"),
)
_IPV4_MAPPED = _V6("::ffff:0:0/96")
_IPV4_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_HEADER_TOKEN = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL that passed :func:`check_target`, with the addresses it was checked at.

    ``host`` is lowercase without brackets or a trailing dot; ``path`` includes the query;
    ``addresses`` are the IP addresses :func:`deliver` connects to, in order.
    """

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one :func:`deliver` call.

    ``status`` is the last HTTP status seen (None when the last attempt got no response);
    ``error`` says why the last attempt failed (None when delivered); ``elapsed`` is seconds
    spent in total, backoff waits included.
    """

    delivered: bool
    attempts: int
    status: int | None
    error: str | None
    elapsed: float


def _invalid(url: str, problem: str) -> InvalidArgument:
    shown = url if len(url) <= 200 else url[:200] + "..."
    return InvalidArgument(
        f"webhook URL {shown!r} is not usable: {problem}", details={"url": shown}
    )


def _normalise_host(host: str) -> str:
    """Lowercase, no brackets, no trailing dot, IP literals in canonical form."""
    host = host.strip().lower().removesuffix(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _split_netloc(url: str, netloc: str) -> tuple[str, str | None]:
    """(host, port text) of a netloc; bracketed IPv6 literals lose their brackets."""
    if netloc.startswith("["):
        end = netloc.find("]")  # urlsplit has refused an unclosed bracket
        host, rest = netloc[1:end], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _invalid(url, "unexpected text after the IPv6 address")
        if "%" in host:
            raise _invalid(url, "IPv6 zone identifiers are not allowed")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _invalid(url, f"{host!r} is not a valid IPv6 address") from None
        return host, rest[1:] if rest else None
    host, colon, port = netloc.rpartition(":")
    if not colon:
        return netloc, None
    if ":" in host:
        raise _invalid(
            url, "an IPv6 address must be written in brackets, like http://[2001:db8::1]/"
        )
    return host, port


def _parse(url: str) -> tuple[str, str, int, str, bool]:
    """(scheme, host, port, path with query, host is an IP literal); raises InvalidArgument."""
    if not url:
        raise _invalid(url, "it is empty")
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(url, f"it is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii():
        raise _invalid(url, "it must be ASCII; write international host names in xn-- form")
    if any(c <= " " or c == "\x7f" for c in url):
        raise _invalid(url, "it contains whitespace or control characters")
    if "\\" in url:
        raise _invalid(url, "it contains a backslash")
    try:
        parts = urlsplit(url)
    except ValueError:  # urlsplit checks only bracketed hosts
        raise _invalid(url, "the host in brackets is not a valid IPv6 address") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid(url, "the scheme must be http or https")
    if not url[len(scheme) :].startswith("://"):
        raise _invalid(url, "it must start with http:// or https://")
    if "@" in parts.netloc:
        raise _invalid(url, "user names and passwords in the URL are not allowed")
    host, port_text = _split_netloc(url, parts.netloc)
    host = host.lower().removesuffix(".")
    if not host:
        raise _invalid(url, "it has no host")
    port = 443 if scheme == "https" else 80
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise _invalid(url, "the port must be a number from 1 to 65535")
        port = int(port_text)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if ":" in host:
        return scheme, str(ipaddress.IPv6Address(host)), port, path, True
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # Ends in a number, so browsers and C resolvers read it as IPv4 ("2130706433",
        # "0x7f.1", "0177.0.0.1" are all 127.0.0.1); only the canonical form is unambiguous.
        try:
            literal = ipaddress.IPv4Address(host)
        except ValueError:
            literal = None
        if literal is None or str(literal) != host:
            raise _invalid(
                url,
                f"host {host!r} looks like an IPv4 address in a non-standard (decimal, octal, "
                "hexadecimal or shortened) form; write it as four decimal numbers, like 192.0.2.1",
            )
        return scheme, host, port, path, True
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _invalid(url, f"host {host!r} is not a valid host name")
    return scheme, host, port, path, False


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, str]]:
    """IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip in _IPV4_MAPPED or ip in _IPV4_COMPATIBLE or ip in _NAT64:
        wrapper = (
            "IPv4-mapped" if ip in _IPV4_MAPPED else "NAT64" if ip in _NAT64 else "IPv4-compatible"
        )
        return [(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), f"{wrapper} IPv6 wrapping")]
    if ip.sixtofour is not None:
        return [(ip.sixtofour, "6to4 IPv6 embedding")]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [(server, "Teredo IPv6 embedding"), (client, "Teredo IPv6 embedding")]
    return []


def _address_class(address: str) -> str | None:
    """The class that makes an IP address unfit for webhooks, or None for a public address.

    Raises ValueError for text that is not an IP address.
    """
    ip = ipaddress.ip_address(address.partition("%")[0])
    refused: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = _REFUSED_V4
    if isinstance(ip, ipaddress.IPv6Address):
        refused = _REFUSED_V6
        if ip not in _REFUSED_V6[0][0] and ip not in _REFUSED_V6[1][0]:  # "::" and "::1"
            for inner, wrapper in _embedded_v4(ip):
                inner_class = _address_class(str(inner))
                if inner_class is not None:
                    return f"{wrapper} {inner_class}"
    for network, name in refused:
        if ip in network:
            return name
    if not ip.is_global:  # backstop for ranges the tables above do not name
        return "reserved"
    return None


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_target(
    url: str,
    *,
    allowed_hosts: Collection[str] = (),
    resolver: Resolver | None = None,
) -> WebhookTarget:
    """Parse a webhook URL, resolve its host and refuse non-public addresses.

    Only ``http``/``https`` URLs without user info, with a host and a port from 1 to 65535, at
    most 2048 ASCII characters without whitespace are accepted; an IPv4 literal must be a
    canonical dotted quad. ``resolver(host, port)`` returns every A/AAAA address (default:
    :func:`socket.getaddrinfo`). Raises :class:`InvalidArgument` for a malformed URL or a host
    that does not resolve, and :class:`PermissionDenied` when ANY address is loopback, private,
    link-local, unspecified, multicast, reserved, shared (CGNAT), documentation, or an IPv6
    address wrapping one of those. A host listed in ``allowed_hosts`` (host names or IP
    literals, set by an administrator) skips that class check.
    """
    scheme, host, port, path, literal = _parse(url)
    if literal:
        addresses = [host]
    else:
        try:
            addresses = (resolver or _resolve)(host, port)
        except (OSError, UnicodeError) as exc:
            raise InvalidArgument(
                f"webhook host {host!r} could not be resolved ({exc}); check the URL's spelling",
                details={"host": host},
            ) from None
        if not addresses:
            raise InvalidArgument(
                f"webhook host {host!r} has no addresses; check the URL's spelling",
                details={"host": host},
            )
    checked: list[str] = []
    for address in addresses:
        try:
            canonical = str(ipaddress.ip_address(address.partition("%")[0]))
        except ValueError:
            raise InvalidArgument(
                f"webhook host {host!r} resolved to {address!r}, which is not an IP address",
                details={"host": host, "address": address},
            ) from None
        if canonical not in checked:
            checked.append(canonical)
    allowed = {_normalise_host(h) for h in allowed_hosts}
    if host not in allowed:
        for address in checked:
            reason = _address_class(address)
            if reason is not None:
                where = "" if literal else f" (address {address})"
                raise PermissionDenied(
                    f"webhook target {host!r}{where} is refused: {reason} addresses are not "
                    f"reachable by webhooks. If this target is intended, an administrator can "
                    f"allow the host {host!r} explicitly in the webhook allowed hosts.",
                    details={"host": host, "address": address, "reason": reason},
                )
    return WebhookTarget(url, scheme, host, port, path, tuple(checked))


def sign_payload(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.

    The MAC covers ``f"{timestamp}."`` followed by the body bytes, so a receiver can reject
    replays of old deliveries.
    """
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, now: float, tolerance_seconds: int = 300
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within the tolerance of ``now``.

    False for malformed headers, timestamps more than ``tolerance_seconds`` from ``now`` (either
    way) and wrong MACs; the MAC comparison is constant-time. Extra ``v1=`` entries are allowed,
    so a sender can sign with an old and a new secret during rotation.
    """
    timestamp: int | None = None
    macs: list[str] = []
    for item in header.split(","):
        key, eq, value = item.strip().partition("=")
        if not eq:
            return False
        if key == "t" and value.isdigit() and len(value) <= 12 and timestamp is None:
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or not macs or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign_payload(secret, timestamp, body).partition(",v1=")[2]
    return any(hmac.compare_digest(expected.encode(), mac.encode()) for mac in macs)


def _snippet(data: bytes) -> str:
    text = data.decode("utf-8", "replace")[:200]
    return "".join(c if c.isprintable() else " " for c in text).strip()


def deliver(
    target: WebhookTarget,
    *,
    event: str,
    body: bytes,
    secret: bytes | None,
    delivery_id: str,
    attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """POST a signed event to a checked target, retrying transient failures.

    Connects to ``target.addresses`` (rotating through them on retries) with the original host
    in ``Host`` and as TLS SNI and certificate name; never follows redirects. Delivered on a 2xx.
    Connection errors, timeouts, 408, 429 and 5xx are retried up to ``attempts`` in all, waiting
    a full-jitter exponential backoff (``base_delay * 2**n`` capped at ``max_delay`` seconds) or
    the response's ``Retry-After`` seconds (capped at ``max_delay``); other statuses end the
    delivery. Each attempt is signed afresh with ``clock()`` (not signed when ``secret`` is
    None). Raises :class:`InvalidArgument` for a body over 256 KiB, a target without
    addresses, or bad ``event``/``delivery_id``/limits.
    """
    if not target.addresses:
        raise InvalidArgument("the webhook target has no checked addresses; use check_target()")
    if len(body) > MAX_BODY_BYTES:
        raise InvalidArgument(
            f"webhook body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}",
            details={"size": len(body), "limit": MAX_BODY_BYTES},
        )
    for name, value in (("event", event), ("delivery_id", delivery_id)):
        if not _HEADER_TOKEN.match(value):
            raise InvalidArgument(
                f"webhook {name} {value[:100]!r} must be 1-200 letters, digits or ._:/-",
                details={name: value[:100]},
            )
    if attempts < 1 or base_delay < 0 or max_delay < 0 or timeout <= 0:
        raise InvalidArgument("attempts must be >= 1, delays >= 0 and timeout > 0")

    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    attempt = 0
    # trust_env=False: no proxies or netrc from the environment, which would bypass the guard.
    with httpx.Client(
        transport=transport or httpx.HTTPTransport(trust_env=False),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
    ) as client:
        while True:
            attempt += 1
            address = target.addresses[(attempt - 1) % len(target.addresses)]
            url = httpx.URL(
                scheme=target.scheme, host=address, port=target.port, raw_path=target.path.encode()
            )
            headers = {
                "Host": host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Mlsteward-Event": event,
                "X-Mlsteward-Delivery": delivery_id,
            }
            if secret is not None:  # unsigned for receivers without a secret (Slack)
                headers[SIGNATURE_HEADER] = sign_payload(secret, int(clock()), body)
            request = client.build_request(
                "POST", url, headers=headers, content=body, extensions=extensions
            )
            retry_after: float | None = None
            try:
                response = client.send(request, stream=True)
                try:
                    status = response.status_code
                    head = b""
                    if not 200 <= status < 300:
                        for chunk in response.iter_bytes():
                            head += chunk
                            if len(head) >= RESPONSE_READ_CAP:
                                break
                finally:
                    response.close()
            except httpx.TransportError as exc:
                status = None
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                retryable = True
            else:
                if 200 <= status < 300:
                    return DeliveryResult(True, attempt, status, None, time.monotonic() - started)
                error = f"HTTP {status}"
                if 300 <= status < 400:
                    error += " (redirects are not followed)"
                text = _snippet(head[:RESPONSE_READ_CAP])
                if text:
                    error += f": {text}"
                retryable = status in (408, 429) or status >= 500
                seconds = response.headers.get("retry-after", "").strip()
                retry_after = float(seconds) if retryable and seconds.isdigit() else None
            summary = error if status is None else f"HTTP {status}"  # no response body
            log.warning(
                "webhook %s to %s: attempt %d/%d failed: %s",
                delivery_id,
                target.host,
                attempt,
                attempts,
                summary,
            )
            if not retryable or attempt >= attempts:
                return DeliveryResult(False, attempt, status, error, time.monotonic() - started)
            if retry_after is not None:
                delay = min(retry_after, max_delay)
            else:
                ceiling = min(max_delay, base_delay * 2 ** (attempt - 1))
                delay = random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)
            sleep(delay)
