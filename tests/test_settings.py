"""Settings: typed, prefixed, with their sources shown; bad values get clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsteward.errors import ConfigurationError
from mlsteward.settings import describe_settings, load_settings


def test_defaults_derive_from_home(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'mlsteward.db'}"
    assert s.resolved_blob_url == str(tmp_path / "blobs")
    assert s.host == "127.0.0.1"
    assert s.master_key_file is None


def test_environment_overrides_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTEWARD_PORT", "9999")
    monkeypatch.setenv("MLSTEWARD_BLOB_STORAGE_OPTIONS", '{"endpoint_url": "http://127.0.0.1:1"}')
    s = load_settings(home=tmp_path)
    rows = {r.name: r for r in describe_settings(s)}
    assert rows["port"].value == 9999
    assert rows["port"].source == "env MLSTEWARD_PORT"
    assert rows["home"].source == "argument"
    assert rows["database_url"].source == "derived from home"
    assert rows["auth_mode"].source == "default"
    assert s.blob_storage_options == {"endpoint_url": "http://127.0.0.1:1"}


def test_secrets_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTEWARD_TOKEN", "mls_secret_value")
    rows = {r.name: r for r in describe_settings(load_settings(home=tmp_path))}
    assert rows["token"].value == "********"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MLSTEWARD_PORT", "99999", "MLSTEWARD_PORT"),
        ("MLSTEWARD_AUTH_MODE", "maybe", "MLSTEWARD_AUTH_MODE"),
        ("MLSTEWARD_WORKERS", "zero", "MLSTEWARD_WORKERS"),
        ("MLSTEWARD_LOG_LEVEL", "LOUD", "MLSTEWARD_LOG_LEVEL"),
        ("MLSTEWARD_TLS_CERTFILE", "/tmp/cert.pem", "tls_keyfile"),
    ],
)
def test_bad_values_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(home=tmp_path)


def test_unknown_argument_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(home=tmp_path, no_such_setting=1)


def test_credentials_are_masked_for_every_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTEWARD_DATABASE_URL", "postgresql://ml:hunter2@db.internal/ml")
    monkeypatch.setenv(
        "MLSTEWARD_BLOB_STORAGE_OPTIONS",
        '{"key": "AKIA1", "secret": "s3cr3t", "client_kwargs": {"region_name": "eu"}}',
    )
    rows = {r.name: r for r in describe_settings(load_settings(home=tmp_path))}
    assert "hunter2" not in str(rows["database_url"].value)
    assert "db.internal" in str(rows["database_url"].value)
    assert rows["blob_storage_options"].value == {
        "key": "********",
        "secret": "********",
        "client_kwargs": {"region_name": "eu"},
    }
