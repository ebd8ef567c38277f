"""``mlsteward catalog``: search, show, set and classify, as the local operator."""

from __future__ import annotations

import pytest

from mlsteward.data import record_dataset_input
from mlsteward.security import SYSTEM, create_user

from ..data._lineage_rows import PASSWORD, add_dataset, new_run, register_from
from ..server._support import cheap_password_hashing
from .conftest import Cli


@pytest.fixture
def catalog(cli: Cli) -> Cli:
    platform = cli.platform()
    try:
        (version_id,) = add_dataset(
            platform,
            "customers",
            description="Customer master data",
            tags={"domain": "crm"},
            columns=["email", "birth_date"],
        )
        add_dataset(platform, "clickstream", description="Web sessions")
        run_id = new_run(platform)
        record_dataset_input(platform, SYSTEM, run_id, version_id)
        register_from(platform, run_id, "churn")
        with cheap_password_hashing():
            create_user(platform, SYSTEM, "alice", PASSWORD)
    finally:
        platform.close()
    return cli


def test_search(catalog: Cli) -> None:
    hits = catalog.json("catalog", "search", "customer")
    assert [h["name"] for h in hits] == ["customers"]
    assert hits[0]["project"] == "default"
    out = catalog.ok("catalog", "search", "birth").stdout
    assert "customers" in out
    assert "domain=crm" in out
    result = catalog.ok("catalog", "search", '" OR *')
    assert "no dataset matches" in result.stderr
    assert (
        catalog.json("catalog", "search", "web", "--project", "default", "--limit", "1")[0]["name"]
        == "clickstream"
    )


def test_show_set_and_classify(catalog: Cli) -> None:
    out = catalog.ok("catalog", "show", "customers").stdout
    assert "Customer master data" in out
    assert "birth_date" in out
    assert "churn v1" in out
    catalog.ok(
        "catalog",
        "set",
        "customers",
        "--description",
        "People we sell to",
        "--owner",
        "alice",
        "--tag",
        "tier=gold",
        "--tag",
        "retention=7y",
        "--remove-tag",
        "domain",
    )
    entry = catalog.json("catalog", "show", "customers")
    assert entry["dataset"]["description"] == "People we sell to"
    assert entry["dataset"]["owners"] == ["alice"]
    assert entry["dataset"]["tags"] == {"retention": "7y", "tier": "gold"}
    assert [u["models"] for u in entry["usage"]] == [["churn v1"]]
    assert [h["name"] for h in catalog.json("catalog", "search", "alice gold")] == ["customers"]
    column = catalog.json("catalog", "classify", "customers", "birth_date", "phone")
    assert (column["pii_class"], column["pii_source"]) == ("phone", "manual")
    result = catalog.ok("catalog", "classify", "customers", "email", "none", "--description", "x")
    assert "not personal data" in result.stderr
    columns = {c["name"]: c for c in catalog.json("catalog", "show", "customers")["columns"]}
    assert (columns["email"]["pii_class"], columns["email"]["description"]) == (None, "x")


def test_bad_input_fails_cleanly(catalog: Cli) -> None:
    before = catalog.audit_count()
    assert "nothing to change" in catalog.fails("catalog", "set", "customers").stderr
    assert "KEY=VALUE" in catalog.fails("catalog", "set", "customers", "--tag", "x").stderr
    assert "unknown: bob" in catalog.fails("catalog", "set", "customers", "--owner", "bob").stderr
    assert (
        "unknown PII class"
        in catalog.fails("catalog", "classify", "customers", "email", "ssn").stderr
    )
    assert "no column" in catalog.fails("catalog", "classify", "customers", "x", "email").stderr
    assert "no dataset named" in catalog.fails("catalog", "show", "nope").stderr
    assert "longer than 500" in catalog.fails("catalog", "search", "x" * 501).stderr
    assert catalog.audit_count() == before
