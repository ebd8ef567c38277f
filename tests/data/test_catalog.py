"""The catalog: descriptions, owners, tags and column classes of datasets, their usage from
the lineage graph, and full-text search on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from mlsteward.data._catalog import (
    dataset_catalog_entry,
    search_datasets,
    set_column_classification,
    update_dataset,
)
from mlsteward.data._lineage import record_dataset_input
from mlsteward.data._tables import dataset_columns, datasets
from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_project, list_audit_events

from ._lineage_rows import add_dataset, new_run, register_from, set_detected_class
from .test_lineage import _user


def _names(hits: list[Any]) -> list[str]:
    return [hit.name for hit in hits]


def _catalog(platform: Platform) -> None:
    add_dataset(
        platform,
        "transactions",
        description="Card payments, one row per authorisation",
        tags={"domain": "payments", "tier": "gold"},
        columns=["card_number", "amount", "merchant_id"],
    )
    add_dataset(
        platform,
        "customers",
        description="Customer master data",
        tags={"domain": "crm"},
        columns=["email", "birth_date"],
    )
    add_dataset(platform, "clickstream", description="Web sessions and page views")


FIELD_QUERIES = [
    ("transactions", ["transactions"]),  # name
    ("authorisation", ["transactions"]),  # description
    ("gold", ["transactions"]),  # tag value
    ("domain", ["customers", "transactions"]),  # tag key
    ("merchant", ["transactions"]),  # column name part
    ("birth_date", ["customers"]),  # column name as typed
    ("BIRTH", ["customers"]),  # case-insensitive
    ("trans", ["transactions"]),  # word prefix
    ("card payments", ["transactions"]),  # every word
    ("card customer", []),
]


def test_search_finds_by_every_catalog_field(backend_platform: Platform) -> None:
    _catalog(backend_platform)
    for query, expected in FIELD_QUERIES:
        found = sorted(_names(search_datasets(backend_platform, SYSTEM, query)))
        assert found == expected, query


def test_search_finds_owners_after_an_update_and_ranks_by_relevance(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    _catalog(platform)
    _user(platform, "alice", {"default": "viewer"})
    assert search_datasets(platform, SYSTEM, "alice") == []
    update_dataset(platform, SYSTEM, "default", "clickstream", owners=["alice"])
    assert _names(search_datasets(platform, SYSTEM, "alice")) == ["clickstream"]
    # "payments" is in the transactions' description and a tag, customers' tag only mentions crm.
    update_dataset(platform, SYSTEM, "default", "customers", description="payments contacts")
    hits = search_datasets(platform, SYSTEM, "payments")
    assert _names(hits) == ["transactions", "customers"]
    assert hits[0].score >= hits[1].score
    assert hits[0].to_json()["tags"] == {"domain": "payments", "tier": "gold"}
    assert _names(search_datasets(platform, SYSTEM, "payments", limit=1)) == ["transactions"]


HOSTILE_QUERIES = [
    ('"', []),
    ("*", []),
    ('"card', ["transactions"]),
    ("card*", ["transactions"]),
    ("NEAR(card amount)", []),  # "near" is a word like any other: no dataset has it
    ("card NEAR amount", []),
    ("card AND crm", []),  # AND is a word, not an operator, and nothing contains "and"
    ("card OR email", []),  # not widened to either word
    ("-card", ["transactions"]),  # not a negation
    ("card NOT amount", []),
    ("'; DROP TABLE datasets; --", []),
    ("' OR '1'='1", []),
    ("transactions) OR (1=1", []),
    ("description:customer", []),  # not a column filter
    ("customer:*", ["customers"]),
    ("^customer", ["customers"]),
    ("\\", []),
    ("café", []),
    ("数据", []),
]


def test_hostile_queries_are_plain_words(backend_platform: Platform) -> None:
    _catalog(backend_platform)
    for query, expected in HOSTILE_QUERIES:
        found = sorted(_names(search_datasets(backend_platform, SYSTEM, query)))
        assert found == expected, query
    with backend_platform.db.read() as conn:  # the tables are all still there
        assert len(conn.execute(select(datasets.c.id)).all()) == 3


def test_search_shows_only_readable_projects(platform: Platform) -> None:
    create_project(platform, SYSTEM, "secret")
    add_dataset(platform, "payments-public", description="payments")
    add_dataset(platform, "payments-secret", project="secret", description="payments")
    reader = _user(platform, "rita", {"default": "viewer"})
    assert _names(search_datasets(platform, reader, "payments")) == ["payments-public"]
    assert sorted(_names(search_datasets(platform, SYSTEM, "payments"))) == [
        "payments-public",
        "payments-secret",
    ]
    assert _names(search_datasets(platform, SYSTEM, "payments", project="secret")) == [
        "payments-secret"
    ]
    with pytest.raises(PermissionDenied):
        search_datasets(platform, reader, "payments", project="secret")
    outsider = _user(platform, "otto", {})
    assert search_datasets(platform, outsider, "payments") == []


BAD_SEARCHES: list[tuple[dict[str, Any], str]] = [
    ({"query": "x" * 501}, "longer than 500"),
    ({"query": " ".join(["w"] * 17)}, "at most 16 words"),
    ({"query": "a\x00b"}, "NUL"),
    ({"query": 5}, "must be a string"),
    ({"query": "x", "limit": 0}, "limit"),
    ({"query": "x", "limit": 201}, "limit"),
]


def test_bad_search_input(platform: Platform) -> None:
    for kwargs, message in BAD_SEARCHES:
        with pytest.raises(InvalidArgument, match=message):
            search_datasets(platform, SYSTEM, **kwargs)


def test_update_dataset_rewrites_search_text_and_is_audited(platform: Platform) -> None:
    _catalog(platform)
    _user(platform, "alice", {})
    entry = update_dataset(
        platform,
        SYSTEM,
        "default",
        "customers",
        description="People we sell to",
        owners=["alice", "alice"],
        tags={"retention": "7y"},
    )
    assert entry.dataset.description == "People we sell to"
    assert entry.dataset.owners == ("alice",)
    assert entry.dataset.tags == {"retention": "7y"}
    assert [c.name for c in entry.columns] == ["email", "birth_date"]
    assert _names(search_datasets(platform, SYSTEM, "retention 7y sell")) == ["customers"]
    assert search_datasets(platform, SYSTEM, "crm") == []  # the old tag is gone
    assert _names(search_datasets(platform, SYSTEM, "birth")) == ["customers"]  # columns kept
    event = [e for e in list_audit_events(platform, SYSTEM) if e.action == "data.dataset.update"]
    assert event[0].details == {"fields": ["description", "owners", "tags"]}
    assert entry.to_json()["type"] == "mlsteward.catalog_entry"


BAD_UPDATES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"owners": ["nobody"]}, InvalidArgument, "unknown: nobody"),
    ({"owners": "alice"}, InvalidArgument, "not one string"),
    ({"owners": [f"u{i}" for i in range(51)]}, InvalidArgument, "at most 50 owners"),
    ({"tags": {"": "x"}}, InvalidArgument, "cannot be empty"),
    ({"tags": {"k": 1}}, InvalidArgument, "must be a string"),
    ({"tags": {"k": "v" * 5001}}, InvalidArgument, "longer than 5000"),
    ({"tags": {f"k{i}": "v" for i in range(101)}}, InvalidArgument, "at most 100 tags"),
    ({"tags": ["a"]}, InvalidArgument, "mapping"),
    ({"description": "x" * 10_001}, InvalidArgument, "longer than 10000"),
    ({"description": "nul\x00"}, InvalidArgument, "NUL"),
    ({"name": "missing", "description": "x"}, NotFound, "no dataset named 'missing'"),
]


def test_update_dataset_refuses_bad_input_and_writes_nothing(platform: Platform) -> None:
    _catalog(platform)
    with platform.db.read() as conn:
        before = conn.execute(select(datasets).order_by(datasets.c.name)).all()
    events = platform.audit.count(platform.db)
    for kwargs, error, message in BAD_UPDATES:
        arguments = dict(kwargs)
        name = arguments.pop("name", "customers")
        with pytest.raises(error, match=message):
            update_dataset(platform, SYSTEM, "default", name, **arguments)
    with platform.db.read() as conn:
        assert conn.execute(select(datasets).order_by(datasets.c.name)).all() == before
    assert platform.audit.count(platform.db) == events


def test_update_needs_the_editor_role(platform: Platform) -> None:
    _catalog(platform)
    viewer = _user(platform, "vic", {"default": "viewer"})
    with pytest.raises(PermissionDenied, match="editor"):
        update_dataset(platform, viewer, "default", "customers", description="mine")
    with pytest.raises(PermissionDenied, match="editor"):
        set_column_classification(platform, viewer, "default", "customers", "email", None)
    assert dataset_catalog_entry(platform, viewer, "default", "customers").dataset.description


def test_manual_classification_persists_and_detection_leaves_it(platform: Platform) -> None:
    _catalog(platform)
    column = set_column_classification(
        platform, SYSTEM, "default", "customers", "birth_date", "phone", description="DOB"
    )
    assert (column.pii_class, column.pii_source, column.description) == ("phone", "manual", "DOB")
    cleared = set_column_classification(platform, SYSTEM, "default", "customers", "email", None)
    assert (cleared.pii_class, cleared.pii_source) == (None, "manual")
    set_detected_class(platform, "customers", "email", "email")  # what detection does
    set_detected_class(platform, "customers", "birth_date", "email")
    entry = dataset_catalog_entry(platform, SYSTEM, "default", "customers")
    assert [(c.name, c.pii_class, c.pii_source) for c in entry.columns] == [
        ("email", None, "manual"),
        ("birth_date", "phone", "manual"),
    ]
    actions = [e.action for e in list_audit_events(platform, SYSTEM)]
    assert actions.count("data.column.classify") == 2


def test_detection_by_the_versions_service_keeps_manual_classes(platform: Platform) -> None:
    polars = pytest.importorskip("polars")
    from mlsteward.data import log_table_version

    frame = polars.DataFrame({"contact": ["ann@example.com", "bob@example.org"], "n": [1, 2]})
    log_table_version(platform, SYSTEM, "default", "people", frame)
    set_column_classification(platform, SYSTEM, "default", "people", "contact", None)
    log_table_version(platform, SYSTEM, "default", "people", frame.with_columns(n=polars.lit(3)))
    with platform.db.read() as conn:
        row = conn.execute(select(dataset_columns).where(dataset_columns.c.name == "contact")).one()
    assert (row.pii_class, row.pii_source) == (None, "manual")


BAD_CLASSIFICATIONS: list[tuple[str, str, dict[str, Any], type[Exception], str]] = [
    ("email", "ssn", {}, InvalidArgument, "unknown PII class 'ssn'"),
    ("email", "none", {}, InvalidArgument, "unknown PII class"),
    ("nope", "email", {}, NotFound, "no column 'nope'"),
    ("email", "email", {"description": "x" * 10_001}, InvalidArgument, "longer than"),
]


def test_bad_classifications_write_nothing(platform: Platform) -> None:
    _catalog(platform)
    with platform.db.read() as conn:
        before = conn.execute(select(dataset_columns).order_by(dataset_columns.c.name)).all()
    events = platform.audit.count(platform.db)
    for column, pii_class, kwargs, error, message in BAD_CLASSIFICATIONS:
        with pytest.raises(error, match=message):
            set_column_classification(
                platform, SYSTEM, "default", "customers", column, pii_class, **kwargs
            )
    with platform.db.read() as conn:
        assert (
            conn.execute(select(dataset_columns).order_by(dataset_columns.c.name)).all() == before
        )
    assert platform.audit.count(platform.db) == events


def test_catalog_entry_shows_usage_from_lineage(platform: Platform) -> None:
    create_project(platform, SYSTEM, "secret")
    v1, v2 = add_dataset(platform, "transactions", versions=2)
    run_a = new_run(platform)
    record_dataset_input(platform, SYSTEM, run_a, v1)
    register_from(platform, run_a, "fraud")
    run_b = new_run(platform)
    record_dataset_input(platform, SYSTEM, run_b, v2)
    secret_run = new_run(platform, project="secret")
    record_dataset_input(platform, SYSTEM, secret_run, v2)
    reader = _user(platform, "rita", {"default": "viewer"})
    entry = dataset_catalog_entry(platform, reader, "default", "transactions")
    assert [(u.version, u.run_id, u.models) for u in entry.usage] == [
        (1, run_a, ("fraud v1",)),
        (2, run_b, ()),
    ]
    assert entry.restricted_usage == 1
    assert entry.to_json()["usage"][0]["run"].startswith(f"run {run_a[:8]}")
    assert dataset_catalog_entry(platform, SYSTEM, "default", "transactions").restricted_usage == 0
    with pytest.raises(NotFound):
        dataset_catalog_entry(platform, SYSTEM, "default", "nope")


def test_postgresql_search_uses_the_gin_index(postgres_url: str, make_settings: Any) -> None:
    from sqlalchemy import event

    platform = Platform(make_settings(database_url=postgres_url))
    try:
        platform.upgrade_schema()
        for i in range(20):
            add_dataset(platform, f"ds{i}", description=f"thing {i}")
        statements: list[tuple[str, Any]] = []
        event.listen(
            platform.db.engine,
            "before_cursor_execute",
            lambda conn, cursor, sql, params, context, many: statements.append((sql, params)),
        )
        assert _names(search_datasets(platform, SYSTEM, "ds4 thing")) == ["ds4"]
        sql, params = next(s for s in statements if "to_tsquery" in s[0])
        with platform.db.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "ix_datasets_search_text_tsvector" in plan
    finally:
        platform.close()


def test_migration_indexes_datasets_that_existed_before_it(make_settings: Any, home: Any) -> None:
    from mlsteward.security import create_project
    from mlsteward.store import upgrade

    platform = Platform(make_settings(database_url=f"sqlite:///{home / 'old.db'}"))
    try:
        upgrade(platform.db, "0009")
        create_project(platform, SYSTEM, "default")
        add_dataset(platform, "legacy", description="made before full-text search")
        upgrade(platform.db)
        assert _names(search_datasets(platform, SYSTEM, "legacy")) == ["legacy"]
        assert _names(search_datasets(platform, SYSTEM, "full text")) == ["legacy"]
    finally:
        platform.close()
