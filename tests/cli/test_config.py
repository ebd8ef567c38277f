"""``mlsteward config show``: every setting, its value and where it came from."""

from __future__ import annotations

import json

import pytest

from mlsteward.settings import Settings

from .conftest import Cli


def _by_name(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["name"]): r for r in rows}


def test_show_json_lists_every_setting_with_its_source(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTEWARD_PORT", "9123")
    rows = _by_name(cli.json("config", "show"))
    assert set(rows) == set(Settings.model_fields)
    assert rows["port"] == {
        "name": "port",
        "env": "MLSTEWARD_PORT",
        "value": 9123,
        "source": "env MLSTEWARD_PORT",
        "description": Settings.model_fields["port"].description,
    }
    assert rows["home"]["value"] == str(cli.home)
    assert rows["home"]["source"] == "env MLSTEWARD_HOME"
    assert rows["workers"]["source"] == "default"
    assert rows["workers"]["value"] == 1
    assert rows["database_url"]["source"] == "derived from home"
    assert rows["database_url"]["value"] == f"sqlite:///{cli.home / 'mlsteward.db'}"


def test_show_does_not_create_anything(cli: Cli) -> None:
    cli.ok("config", "show")
    assert not cli.home.exists()


def test_credentials_are_masked(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTEWARD_DATABASE_URL", "postgresql://bob:hunter2@db.example/mls")
    monkeypatch.setenv("MLSTEWARD_TOKEN", "mls_abcdefabcdef_secret")
    monkeypatch.setenv(
        "MLSTEWARD_BLOB_STORAGE_OPTIONS",
        json.dumps(
            {
                "key": "AKIAEXAMPLE",
                "secret": "s3cr3t-value",
                "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"},
            }
        ),
    )
    result = cli.ok("config", "show", "--json")
    for secret in ("hunter2", "s3cr3t-value", "AKIAEXAMPLE", "mls_abcdefabcdef_secret"):
        assert secret not in result.stdout
    rows = _by_name(json.loads(result.stdout))
    assert rows["database_url"]["value"] == "postgresql://bob:***@db.example/mls"
    assert rows["blob_storage_options"]["value"] == {
        "key": "********",
        "secret": "********",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"},
    }
    human = cli.ok("config", "show")
    assert "hunter2" not in human.stdout
    assert "s3cr3t-value" not in human.stdout


def test_show_table_names_env_variables(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTEWARD_PORT", "9123")
    out = cli.ok("config", "show").stdout
    line = next(line for line in out.splitlines() if "MLSTEWARD_PORT" in line)
    assert "9123" in line
    assert "env MLSTEWARD_PORT" in line
