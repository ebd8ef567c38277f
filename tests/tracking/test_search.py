"""Run search against real data on SQLite and PostgreSQL: operators, NULL and NaN semantics,
ordering, paging, tokens, permissions, and a property test against a Python evaluator."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update

from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, Actor, authenticate_password, create_project, create_user
from mlsteward.store._tables import projects
from mlsteward.tracking._search import RunPage, search_runs
from mlsteward.tracking._search_parser import parse_filter, parse_order_by
from mlsteward.tracking._search_sql import build_search_query
from mlsteward.tracking._tables import experiments, latest_metrics, run_params, run_tags, runs

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass
class RunSpec:
    name: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str = "FINISHED"
    end_time: dt.datetime | None = None
    deleted: bool = False


def project_id(conn: Connection, name: str = "default") -> str:
    return str(conn.execute(select(projects.c.id).where(projects.c.name == name)).scalar_one())


def add_experiment(platform: Platform, name: str = "exp", project: str = "default") -> str:
    experiment_id = uuid.uuid4().hex
    with platform.db.write() as conn:
        conn.execute(
            insert(experiments).values(
                id=experiment_id,
                project_id=project_id(conn, project),
                name=name,
                description="",
                created_at=T0,
                created_by=SYSTEM.id,
            )
        )
    return experiment_id


def add_runs(platform: Platform, experiment_id: str, specs: list[RunSpec]) -> list[str]:
    """Insert runs directly; run i starts at T0 + i minutes (so the default order is reversed)."""
    ids = []
    with platform.db.write() as conn:
        project = conn.execute(
            select(experiments.c.project_id).where(experiments.c.id == experiment_id)
        ).scalar_one()
        for i, spec in enumerate(specs):
            run_id = uuid.uuid4().hex
            ids.append(run_id)
            start = T0 + dt.timedelta(minutes=i)
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    experiment_id=experiment_id,
                    project_id=project,
                    name=spec.name,
                    status=spec.status,
                    start_time=start,
                    end_time=spec.end_time,
                    heartbeat_at=start,
                    notes="",
                    created_by=SYSTEM.id,
                    environment={},
                    deleted_at=T0 if spec.deleted else None,
                )
            )
            for key, value in spec.metrics.items():
                nan = math.isnan(value)
                conn.execute(
                    insert(latest_metrics).values(
                        run_id=run_id,
                        key=key,
                        value=0.0 if nan else value,
                        is_nan=nan,
                        step=0,
                        ts=0,
                    )
                )
            for table, values in ((run_params, spec.params), (run_tags, spec.tags)):
                for key, value in values.items():
                    conn.execute(insert(table).values(run_id=run_id, key=key, value=value))
    return ids


def names(platform: Platform, filter: str = "", order_by: tuple[str, ...] = ()) -> list[str]:
    page = search_runs(platform, SYSTEM, "default", filter=filter, order_by=order_by)
    return [run.name for run in page.runs]


END = T0 + dt.timedelta(hours=5)
DATA = [
    RunSpec("a", {"auc": 0.9, "loss": 1.0}, {"model": "xgb", "lr": "0.1"}, {"team": "fraud-eu"}),
    RunSpec("b", {"auc": 0.7}, {"model": "lgbm"}, {"team": "Fraud-us"}, "FAILED", END),
    RunSpec("c", {"auc": math.nan, "loss": 3.0}, {"model": "rf", "lr": "0.01"}, {"team": "risk"}),
    RunSpec("d", {"loss": 2.0}, {"lr": "1e-3"}, {"team": "fraud_x", "note": "100%"}, "RUNNING"),
    RunSpec("e", {"auc": 0.95}, {"model": "xgb"}, {}, "FINISHED", END, deleted=True),
]


@pytest.fixture
def data(backend_platform: Platform) -> Platform:
    add_runs(backend_platform, add_experiment(backend_platform), DATA)
    return backend_platform


OPERATOR_CASES = [
    ("", ["a", "b", "c", "d"]),
    ("metrics.auc > 0.8", ["a"]),
    ("metrics.auc >= 0.7", ["a", "b"]),
    ("metrics.auc < 0.9", ["b"]),
    ("metrics.auc <= 0.9", ["a", "b"]),
    ("metrics.auc = 0.7", ["b"]),
    ("metrics.auc != 0.7", ["a"]),  # NaN and missing never match
    ("metrics.auc <> 0.7", ["a"]),
    ("metrics.auc in (0.7, 0.9, 5)", ["a", "b"]),
    ("metrics.auc not in (0.7)", ["a"]),
    ("metrics.auc is null", ["d"]),  # never logged (NaN is logged)
    ("metrics.auc is not null", ["a", "b", "c"]),
    ("not metrics.auc > 0.8", ["b", "c", "d"]),
    ("params.model = 'xgb'", ["a"]),
    ("params.model != 'xgb'", ["b", "c"]),
    ("params.model in ('lgbm', 'rf')", ["b", "c"]),
    ("params.model not in ('lgbm', 'rf')", ["a"]),
    ("params.model is null", ["d"]),
    ("params.lr > '0.05'", ["a", "d"]),  # text comparison: '1e-3' > '0.1' > '0.05' > '0.01'
    ("params.lr < '0.1'", ["c"]),
    ("params.lr <= '0.1'", ["a", "c"]),
    ("params.lr >= '0.1'", ["a", "d"]),
    ("tags.team like 'fraud%'", ["a", "d"]),  # like is case-sensitive
    ("tags.team ilike 'fraud%'", ["a", "b", "d"]),
    ("tags.team like 'fraud_%'", ["a", "d"]),
    ("tags.team like 'fraud\\\\_%'", ["d"]),  # an escaped underscore is literal
    ("tags.team like '%-__'", ["a", "b"]),
    ("tags.team not like 'fraud%'", ["b", "c"]),
    ("tags.team not ilike 'FRAUD%'", ["c"]),
    ("tags.note like '100\\%'", ["d"]),
    ("tags.note like '1_0%'", ["d"]),
    ("tags.team like 'risk'", ["c"]),
    ("tags.team like 'ris'", []),
    ("attributes.status = 'FINISHED'", ["a", "c"]),
    ("attributes.status in ('RUNNING', 'FAILED')", ["b", "d"]),
    ("attributes.status != 'FINISHED'", ["b", "d"]),
    ("attributes.name like '_'", ["a", "b", "c", "d"]),
    ("run.run_name = 'c'", ["c"]),
    ("attributes.name > 'b'", ["c", "d"]),
    ("attributes.end_time is null", ["a", "c", "d"]),
    ("attributes.end_time is not null", ["b"]),
    ("attributes.end_time > '2024-01-01T01:00:00'", ["b"]),
    ("not attributes.end_time > '2024-01-01T01:00:00'", ["a", "c", "d"]),
    ("attributes.start_time >= '2024-01-01T00:02:00Z'", ["c", "d"]),
    (
        f"attributes.start_time < {int((T0 + dt.timedelta(minutes=2)).timestamp() * 1000)}",
        ["a", "b"],
    ),
    ("attributes.parent_run_id is null", ["a", "b", "c", "d"]),
    ("attributes.created_by = 'system'", ["a", "b", "c", "d"]),
    ("metrics.auc > 0.8 or params.model = 'rf' and tags.team = 'risk'", ["a", "c"]),
    ("(metrics.auc > 0.8 or params.model = 'rf') and tags.team = 'risk'", ["c"]),
    ("metrics.loss > 1 and not (params.lr = '0.01')", ["d"]),
    ("metrics.`loss` > 2.5 or params.\"lr\" = '1e-3'", ["c", "d"]),
]


@pytest.mark.parametrize(("query", "expected"), OPERATOR_CASES)
def test_each_operator_on_each_backend(data: Platform, query: str, expected: list[str]) -> None:
    assert names(data, query, ("attributes.name",)) == expected


def test_run_ids_and_experiment_ids_filter(backend_platform: Platform) -> None:
    first = add_experiment(backend_platform, "first")
    second = add_experiment(backend_platform, "second")
    a, b = add_runs(backend_platform, first, [RunSpec("a"), RunSpec("b")])
    (c,) = add_runs(backend_platform, second, [RunSpec("c")])
    assert names(backend_platform, f"attributes.run_id = '{b}'") == ["b"]
    by_name = ("attributes.name",)
    assert names(backend_platform, f"attributes.id in ('{a}', '{c}')", by_name) == ["a", "c"]
    assert names(backend_platform, f"attributes.experiment_id = '{second}'") == ["c"]
    page = search_runs(backend_platform, SYSTEM, "default", experiment_ids=[first])
    assert [r.id for r in page.runs] == [b, a]
    assert search_runs(backend_platform, SYSTEM, "default", experiment_ids=[]).runs == []


def test_default_order_is_newest_first_and_deleted_runs_are_opt_in(data: Platform) -> None:
    assert names(data) == ["d", "c", "b", "a"]
    page = search_runs(data, SYSTEM, "default", include_deleted=True)
    assert [r.name for r in page.runs] == ["e", "d", "c", "b", "a"]
    assert page.runs[0].deleted_at is not None


def test_runs_of_deleted_experiments_are_opt_in(backend_platform: Platform) -> None:
    kept = add_experiment(backend_platform, "kept")
    gone = add_experiment(backend_platform, "gone")
    add_runs(backend_platform, kept, [RunSpec("k")])
    add_runs(backend_platform, gone, [RunSpec("g")])
    with backend_platform.db.write() as conn:
        conn.execute(update(experiments).where(experiments.c.id == gone).values(deleted_at=T0))
    assert names(backend_platform, "", ("attributes.name",)) == ["k"]
    page = search_runs(
        backend_platform, SYSTEM, "default", order_by=["attributes.name"], include_deleted=True
    )
    assert [r.name for r in page.runs] == ["g", "k"]


def test_results_are_full_runs(data: Platform) -> None:
    page = search_runs(data, SYSTEM, "default", filter="params.model = 'rf'")
    (run,) = page.runs
    assert run.params == {"model": "rf", "lr": "0.01"}
    assert run.tags == {"team": "risk"}
    assert math.isnan(run.metrics["auc"])
    assert run.metrics["loss"] == 3.0
    assert page.next_page_token is None
    assert page.to_json()["runs"][0]["metrics"] == {"auc": "NaN", "loss": 3.0}
    assert page.to_json()["next_page_token"] is None


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (("metrics.auc",), ["b", "a", "c", "d"]),  # NaN after numbers, missing last
        (("metrics.auc desc",), ["a", "b", "c", "d"]),  # ... in both directions
        (("params.model",), ["b", "c", "a", "d"]),
        (("params.model DESC",), ["a", "c", "b", "d"]),
        (("tags.note desc", "attributes.name desc"), ["d", "c", "b", "a"]),
        (("attributes.end_time", "attributes.name"), ["b", "a", "c", "d"]),  # NULLs last
        (("attributes.end_time desc", "attributes.name desc"), ["b", "d", "c", "a"]),
        (("attributes.status", "metrics.loss desc"), ["b", "c", "a", "d"]),
        (("attributes.start_time asc",), ["a", "b", "c", "d"]),
        (("metrics.auc desc", "metrics.auc"), ["a", "b", "c", "d"]),  # repeated key
        (("tags.team",), ["b", "a", "d", "c"]),  # code point order: upper case first
    ],
)
def test_ordering_puts_missing_keys_last(
    data: Platform, order: tuple[str, ...], expected: list[str]
) -> None:
    assert names(data, "", order) == expected


def test_ties_break_on_run_id(backend_platform: Platform) -> None:
    ids = add_runs(
        backend_platform, add_experiment(backend_platform), [RunSpec(f"r{i}") for i in range(9)]
    )
    page = search_runs(backend_platform, SYSTEM, "default", order_by=["attributes.status"])
    assert [r.id for r in page.runs] == sorted(ids)


def test_paging_returns_each_run_exactly_once_in_order(backend_platform: Platform) -> None:
    specs = [RunSpec(f"r{i:03}", {"m": float(i % 10)}) for i in range(250)]
    add_runs(backend_platform, add_experiment(backend_platform), specs)
    order = ("metrics.m desc",)
    everything = search_runs(backend_platform, SYSTEM, "default", order_by=order, max_results=300)
    assert everything.next_page_token is None
    assert len(everything.runs) == 250
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = search_runs(
            backend_platform, SYSTEM, "default", order_by=order, max_results=7, page_token=token
        )
        pages += 1
        assert len(page.runs) == (7 if page.next_page_token else 250 % 7)
        seen.extend(r.id for r in page.runs)
        token = page.next_page_token
        if token is None:
            break
    assert pages == 36
    assert seen == [r.id for r in everything.runs]
    assert len(set(seen)) == 250


def test_page_boundary_without_a_trailing_empty_page(data: Platform) -> None:
    page = search_runs(data, SYSTEM, "default", max_results=2)
    assert page.next_page_token is not None
    last = search_runs(data, SYSTEM, "default", max_results=2, page_token=page.next_page_token)
    assert [r.name for r in last.runs] == ["b", "a"]
    assert last.next_page_token is None


def test_a_token_from_another_query_is_refused(data: Platform) -> None:
    token = search_runs(data, SYSTEM, "default", max_results=1).next_page_token
    assert token is not None
    for changed in (
        {"filter": "metrics.auc > 0"},
        {"order_by": ["metrics.auc"]},
        {"include_deleted": True},
        {"experiment_ids": ["x"]},
    ):
        with pytest.raises(InvalidArgument, match="different search") as info:
            search_runs(data, SYSTEM, "default", page_token=token, **changed)
        assert info.value.details == {"field": "page_token"}
    # Page size may change between pages.
    page = search_runs(data, SYSTEM, "default", max_results=3, page_token=token)
    assert [r.name for r in page.runs] == ["c", "b", "a"]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        "x" * 500_000,
        "%%%%",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b'{"v": 9, "after": [], "query": "x"}').decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 2, "query": "x"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 2, "after": [], "query": "x"}).encode())
        .decode()
        .rstrip("="),
    ],
)
def test_malformed_tokens_are_refused(platform: Platform, token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token") as info:
        search_runs(platform, SYSTEM, "default", page_token=token)
    assert info.value.details == {"field": "page_token"}


def _retoken(token: str, after: object) -> str:
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data["after"] = after
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "after",
    [
        [],
        ["x"],
        [0, 1.0, "id", "extra"],
        ["0", 1.0, "id"],  # rank must be an integer
        [True, 1.0, "id"],
        [0, "high", "id"],  # metric value must be a number
        [0, 1.0, None],  # the run id is never null
        [0, 1.0, 7],
        [10**30, 1.0, "id"],  # ranks are 0, 1 or 2
        [0, 10**400, "id"],
        [0, 1, "id"],  # metric values are floats
        [0, math.nan, "id"],
        [0, 1.0, "id\x00"],
    ],
)
def test_tampered_token_positions_are_refused(data: Platform, after: object) -> None:
    order = ["metrics.auc desc"]
    token = search_runs(data, SYSTEM, "default", order_by=order, max_results=1).next_page_token
    assert token is not None
    with pytest.raises(InvalidArgument, match="not a token returned by this search"):
        search_runs(data, SYSTEM, "default", order_by=order, page_token=_retoken(token, after))


def test_tampered_time_positions_are_refused(data: Platform) -> None:
    token = search_runs(data, SYSTEM, "default", max_results=1).next_page_token
    assert token is not None
    for after in (["not a time", "id"], ["2024-01-01T00:00:00", "id"], [5, "id"]):
        with pytest.raises(InvalidArgument, match="not a token returned by this search"):
            search_runs(data, SYSTEM, "default", page_token=_retoken(token, after))


def test_paging_is_stable_while_runs_are_added_and_removed(backend_platform: Platform) -> None:
    """Keyset pages: a new newest run or a deleted earlier run neither repeats nor skips."""
    experiment = add_experiment(backend_platform)
    ids = add_runs(backend_platform, experiment, [RunSpec(f"r{i}") for i in range(6)])
    first = search_runs(backend_platform, SYSTEM, "default", max_results=3)
    assert [r.name for r in first.runs] == ["r5", "r4", "r3"]
    with backend_platform.db.write() as conn:
        conn.execute(update(runs).where(runs.c.id == ids[5]).values(deleted_at=T0))
        conn.execute(
            update(runs)
            .where(runs.c.id == ids[0])
            .values(start_time=T0 + dt.timedelta(hours=1))  # now the newest
        )
    second = search_runs(
        backend_platform, SYSTEM, "default", max_results=3, page_token=first.next_page_token
    )
    assert [r.name for r in second.runs] == ["r2", "r1"]
    assert second.next_page_token is None


@pytest.mark.parametrize("max_results", [0, -1, 10_001])
def test_max_results_bounds(platform: Platform, max_results: int) -> None:
    with pytest.raises(InvalidArgument, match="max_results") as info:
        search_runs(platform, SYSTEM, "default", max_results=max_results)
    assert info.value.details == {"field": "max_results"}


def test_bad_filter_and_order_by_are_positioned(platform: Platform) -> None:
    with pytest.raises(InvalidArgument) as info:
        search_runs(platform, SYSTEM, "default", filter="metrics.auc > 'x'")
    assert info.value.details["position"] == 14
    with pytest.raises(InvalidArgument) as info:
        search_runs(platform, SYSTEM, "default", order_by=["metrics.a", "metrics.b sideways"])
    assert info.value.message.startswith("order_by[1] at position 10: expected asc, desc")
    assert info.value.details["index"] == 1
    assert info.value.details["position"] == 10
    with pytest.raises(InvalidArgument, match="at most 20"):
        search_runs(platform, SYSTEM, "default", order_by=["metrics.a"] * 21)
    with pytest.raises(InvalidArgument, match="order_by is a list"):
        search_runs(platform, SYSTEM, "default", order_by="metrics.a")


def test_runs_of_other_projects_are_invisible(platform: Platform) -> None:
    create_project(platform, SYSTEM, "other")
    add_runs(platform, add_experiment(platform, "x", project="other"), [RunSpec("hidden")])
    add_runs(platform, add_experiment(platform, "y"), [RunSpec("shown")])
    assert names(platform) == ["shown"]
    page = search_runs(platform, SYSTEM, "other")
    assert [r.name for r in page.runs] == ["hidden"]
    with pytest.raises(NotFound):
        search_runs(platform, SYSTEM, "nope")


def test_non_members_are_refused(platform: Platform, admin: Actor) -> None:
    add_runs(platform, add_experiment(platform), [RunSpec("secret")])
    create_user(platform, admin, "mallory", "mallory-password-123")
    mallory = authenticate_password(platform, "mallory", "mallory-password-123")
    with pytest.raises(PermissionDenied):
        search_runs(platform, mallory, "default")
    assert [r.name for r in search_runs(platform, admin, "default").runs] == ["secret"]


def test_run_page_is_frozen(platform: Platform) -> None:
    page = RunPage([], None)
    with pytest.raises(AttributeError):
        page.next_page_token = "x"  # type: ignore[misc]


def test_search_writes_nothing(data: Platform) -> None:
    def snapshot() -> list[int]:
        with data.db.read() as conn:
            return [
                len(conn.execute(select(table)).all())
                for table in (runs, run_params, run_tags, latest_metrics)
            ]

    before = snapshot()
    search_runs(data, SYSTEM, "default", filter="metrics.auc > 0")
    with pytest.raises(InvalidArgument):
        search_runs(data, SYSTEM, "default", filter="metrics.auc >")
    assert snapshot() == before


def clear_runs(platform: Platform) -> None:
    with platform.db.write() as conn:
        for table in (latest_metrics, run_params, run_tags, runs):
            conn.execute(delete(table))


def _plan(platform: Platform, filter: str, order: str) -> str:
    with platform.db.read() as conn:
        query = build_search_query(
            "sqlite",
            project_id(conn),
            experiment_ids=None,
            expr=parse_filter(filter),
            order=[parse_order_by(order)],
            include_deleted=False,
            limit=101,
        )
        compiled = query.statement.compile(conn, compile_kwargs={"literal_binds": True})
        return " | ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def test_sqlite_plans_walk_an_index_in_the_order_or_search_the_key_indexes(
    platform: Platform,
) -> None:
    """Ordered by a compared metric or by start time, the query walks that order's index
    and probes each run's conditions by primary key (stopping after a page); in any other
    order, conditions are searches of the key indexes. Never a per-run scan of a key table,
    never a sort of every match when an index gives the order."""
    specs = [
        RunSpec(f"r{i}", {"auc": i / 200}, {"model": "xgb" if i % 3 else "rf"}) for i in range(200)
    ]
    add_runs(platform, add_experiment(platform), specs)

    by_metric = _plan(platform, "metrics.auc > 0.9 and params.model = 'xgb'", "metrics.auc desc")
    assert "SEARCH order_0 USING INDEX ix_latest_metrics_key_value (key=? AND value>?)" in by_metric
    assert "run_params USING INDEX sqlite_autoindex_run_params_1 (run_id=? AND key=?)" in by_metric
    assert "TEMP B-TREE FOR ORDER BY" not in by_metric  # only "FOR RIGHT PART OF ORDER BY"

    by_time = _plan(platform, "params.model = 'xgb'", "attributes.start_time desc")
    assert "SEARCH runs USING INDEX ix_runs_project_id_start_time (project_id=?)" in by_time
    assert "run_params USING INDEX sqlite_autoindex_run_params_1 (run_id=? AND key=?)" in by_time
    assert "TEMP B-TREE FOR ORDER BY" not in by_time

    by_param = _plan(platform, "metrics.auc > 0.9 and params.model = 'xgb'", "params.lr")
    assert "latest_metrics USING INDEX ix_latest_metrics_key_value (key=? AND value>?)" in by_param
    assert "run_params USING INDEX ix_run_params_key_value" in by_param

    for plan in (by_metric, by_time, by_param):
        assert "SCAN latest_metrics" not in plan
        assert "SCAN run_params" not in plan
        assert "SCAN runs" not in plan


def test_null_tests_beside_the_driving_comparison(data: Platform) -> None:
    """Ordered by a metric the filter compares, ``is null`` on it never holds (every row of
    the index walk has it) and ``is not null`` always does."""
    order = ("metrics.auc desc",)
    assert names(data, "metrics.auc > 0.5 and metrics.auc is null", order) == []
    assert names(data, "metrics.auc > 0.5 and metrics.auc is not null", order) == ["a", "b"]
    assert names(data, "metrics.auc > 0.5", order) == ["a", "b"]
