"""HTTPS: a real uvicorn server with a self-signed certificate that the client verifies."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlsteward.client import Client
from mlsteward.errors import Unavailable
from mlsteward.platform import Platform
from mlsteward.server import create_app
from mlsteward.settings import load_settings
from mlsteward.store import head_revision

from ..server._live_server import serve


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day; returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlsteward test server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(folder)
    platform = Platform.open(load_settings(home=folder / "home"))
    try:
        with serve(create_app(platform), certfile=cert, keyfile=key) as url:
            yield url, cert
    finally:
        platform.close()


def test_the_client_verifies_the_servers_certificate(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    assert url.startswith("https://127.0.0.1:")
    with Client(server_url=url, verify=cert) as client:
        assert client.health() == {"status": "ok", "schema": head_revision()}
        assert client.whoami().name == "local-admin"  # loopback server, no login needed


def test_an_untrusted_certificate_is_refused(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    with Client(server_url=url) as client, pytest.raises(Unavailable, match="not trusted"):
        client.health()


def test_plain_http_to_a_tls_port_is_unavailable(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    plain = url.replace("https://", "http://")
    with Client(server_url=plain) as client, pytest.raises(Unavailable, match="cannot reach"):
        client.health()
