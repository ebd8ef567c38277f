"""Property test: for random small datasets, filters and orders, the SQL search on each backend
returns exactly what a straightforward Python evaluation of the same query returns."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.tracking._model import Run
from mlsteward.tracking._search import search_runs

from .test_search import RunSpec, add_experiment, add_runs, clear_runs

METRIC_KEYS = ["a", "b"]
TEXT_KEYS = {"params": ["p", "q"], "tags": ["t"]}
NUMBERS = [-1.0, 0.0, 0.5, 1.0, 2.0]
STRINGS = ["", "a", "ab", "aB", "b", "B", "a_b", "a%", "x'y"]
STATUSES = ["RUNNING", "FINISHED", "FAILED"]


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda x, v: x == v,
    "!=": lambda x, v: x != v,
    "<": lambda x, v: x < v,
    "<=": lambda x, v: x <= v,
    ">": lambda x, v: x > v,
    ">=": lambda x, v: x >= v,
    "in": lambda x, v: x in v,
    "not in": lambda x, v: x not in v,
    "like": lambda x, v: like_regex(v, False).fullmatch(x) is not None,
    "not like": lambda x, v: like_regex(v, False).fullmatch(x) is None,
    "ilike": lambda x, v: like_regex(v, True).fullmatch(x) is not None,
    "not ilike": lambda x, v: like_regex(v, True).fullmatch(x) is None,
}


def values_of(run: Run, kind: str) -> Mapping[str, Any]:
    found: dict[str, Mapping[str, Any]] = {
        "metrics": run.metrics,
        "params": run.params,
        "tags": run.tags,
    }
    return found[kind]


@dataclass(frozen=True)
class Leaf:
    """One comparison: its query text and a Python predicate over a run."""

    text: str
    kind: str
    key: str
    op: str
    value: Any

    def holds(self, run: Run) -> bool:
        if self.kind == "attributes":
            found: Mapping[str, Any] = {"name": run.name, "status": run.status.value}
        else:
            found = values_of(run, self.kind)
        if self.op in ("is null", "is not null"):
            return (self.key in found) == (self.op == "is not null")
        if self.key not in found:
            return False
        value = found[self.key]
        if isinstance(value, float) and math.isnan(value):
            return False
        return COMPARE[self.op](value, self.value)


Tree = Leaf | tuple[str, Any]


def holds(tree: Tree, run: Run) -> bool:
    if isinstance(tree, Leaf):
        return tree.holds(run)
    op, items = tree
    if op == "not":
        return not holds(items, run)
    results = [holds(item, run) for item in items]
    return all(results) if op == "and" else any(results)


def render(tree: Tree) -> str:
    if isinstance(tree, Leaf):
        return tree.text
    op, items = tree
    if op == "not":
        return f"not ({render(items)})"
    return "(" + f" {op} ".join(render(item) for item in items) + ")"


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    kind = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    if kind == "metrics":
        key = draw(st.sampled_from(METRIC_KEYS))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null"]))
        values: list[Any] = NUMBERS
    elif kind == "attributes":
        key = draw(st.sampled_from(["name", "status"]))
        op = draw(st.sampled_from(["=", "!=", "<", ">=", "in", "not in", "like", "ilike"]))
        values = STRINGS + STATUSES
    else:
        key = draw(st.sampled_from(TEXT_KEYS[kind]))
        ops = ["=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "not like", "ilike"]
        op = draw(st.sampled_from([*ops, "not ilike", "is null", "is not null"]))
        values = STRINGS
    fmt = (lambda v: repr(v)) if kind == "metrics" else quote
    if op in ("is null", "is not null"):
        return Leaf(f"{kind}.{key} {op}", kind, key, op, None)
    if op in ("in", "not in"):
        chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
        text = f"{kind}.{key} {op} (" + ", ".join(fmt(v) for v in chosen) + ")"
        return Leaf(text, kind, key, op, tuple(chosen))
    if "like" in op:
        value = draw(st.text(alphabet="aAbB%_\\", max_size=4))
    else:
        value = draw(st.sampled_from(values))
    return Leaf(f"{kind}.{key} {op} {fmt(value)}", kind, key, op, value)


trees = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.tuples(st.just("not"), inner),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=5,
)

maybe = st.one_of(st.none(), st.sampled_from([*NUMBERS, math.nan]))
run_specs = st.builds(
    lambda i, m, p, t, status: RunSpec(
        f"r{i}",
        {k: v for k, v in zip(METRIC_KEYS, m, strict=True) if v is not None},
        {k: v for k, v in zip(TEXT_KEYS["params"], p, strict=True) if v is not None},
        {"t": t} if t is not None else {},
        status,
    ),
    st.sampled_from(STRINGS),
    st.tuples(maybe, maybe),
    st.tuples(*[st.one_of(st.none(), st.sampled_from(STRINGS))] * 2),
    st.one_of(st.none(), st.sampled_from(STRINGS)),
    st.sampled_from(STATUSES),
)
ORDER_FIELDS = ["metrics.a", "metrics.b", "params.p", "tags.t"]
orders = st.lists(
    st.tuples(
        st.sampled_from([*ORDER_FIELDS, "attributes.name", "attributes.status"]), st.booleans()
    ),
    min_size=1,
    max_size=2,
)


def sort_key(run: Run, entry: str) -> tuple[int, Any]:
    """(rank, value): rank 0 logged, 1 NaN, 2 missing; value 0 / "" when not comparable."""
    kind, key = entry.split(".")
    if kind == "attributes":
        values = {"name": run.name, "status": run.status.value, "start_time": run.start_time}
        return (0, values[key])
    found = values_of(run, kind)
    blank = 0.0 if kind == "metrics" else ""
    if key not in found:
        return (2, blank)
    value = found[key]
    if isinstance(value, float) and math.isnan(value):
        return (1, blank)
    return (0, value)


def python_order(found: list[Run], order: list[tuple[str, bool]]) -> list[Run]:
    """Stable sorts from the last key to the first, run id as the final tiebreaker."""
    result = sorted(found, key=lambda r: r.id)
    for entry, descending in reversed(order):
        result.sort(key=lambda r: sort_key(r, entry)[1], reverse=descending)
        result.sort(key=lambda r: sort_key(r, entry)[0])
    return result


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(run_specs, max_size=8),
    tree=trees,
    order=orders,
    page_size=st.integers(min_value=1, max_value=3),
)
def test_sql_search_equals_python_evaluation(
    backend_platform: Platform,
    specs: list[RunSpec],
    tree: Tree,
    order: list[tuple[str, bool]],
    page_size: int,
) -> None:
    check_search(backend_platform, specs, tree, order, page_size)


def check_search(
    platform: Platform,
    specs: list[RunSpec],
    tree: Tree,
    order: list[tuple[str, bool]],
    page_size: int,
) -> None:
    """The search returns what Python computes, in one page and page by page."""
    backend_platform = platform
    clear_runs(backend_platform)
    add_runs(backend_platform, add_experiment(backend_platform, uuid.uuid4().hex), specs)
    everything = search_runs(backend_platform, SYSTEM, "default", max_results=100).runs
    assert len(everything) == len(specs)
    expected = [r.id for r in python_order(everything, order) if holds(tree, r)]
    filter = render(tree)
    order_by = [f"{entry} {'desc' if descending else 'asc'}" for entry, descending in order]
    page = search_runs(
        backend_platform, SYSTEM, "default", filter=filter, order_by=order_by, max_results=100
    )
    assert [r.id for r in page.runs] == expected
    # Keyset paging through the same query yields the same runs in the same order.
    paged: list[str] = []
    token: str | None = None
    while True:
        page = search_runs(
            backend_platform,
            SYSTEM,
            "default",
            filter=filter,
            order_by=order_by,
            max_results=page_size,
            page_token=token,
        )
        paged.extend(r.id for r in page.runs)
        token = page.next_page_token
        if token is None:
            break
    assert paged == expected


NULL_OPS = ("is null", "is not null")


@st.composite
def metric_comparisons(draw: st.DrawFn, key: str) -> Leaf:
    """A comparison on metric ``key`` that only a logged, non-NaN value can satisfy."""
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "in", "not in"]))
    if op in ("in", "not in"):
        chosen = tuple(draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3)))
        text = f"metrics.{key} {op} (" + ", ".join(repr(v) for v in chosen) + ")"
        return Leaf(text, "metrics", key, op, chosen)
    value = draw(st.sampled_from(NUMBERS))
    return Leaf(f"metrics.{key} {op} {value!r}", "metrics", key, op, value)


@st.composite
def index_driven_queries(draw: st.DrawFn) -> tuple[Tree, list[tuple[str, bool]]]:
    """Queries whose plan walks an index in the order: the first order key is a metric that
    a top-level ``and`` term compares (possibly nested in ``and`` groups, possibly twice),
    or the start time."""
    if draw(st.booleans()):
        key = draw(st.sampled_from(METRIC_KEYS))
        terms: list[Tree] = [draw(metric_comparisons(key))]
        null_tests = st.sampled_from(
            [Leaf(f"metrics.{key} {op}", "metrics", key, op, None) for op in NULL_OPS]
        )
        terms += draw(st.lists(st.one_of(trees, metric_comparisons(key), null_tests), max_size=2))
        if len(terms) > 2 and draw(st.booleans()):
            terms = [terms[0], ("and", terms[1:])]
        tree: Tree = ("and", terms) if len(terms) > 1 else terms[0]
        first = f"metrics.{key}"
    else:
        tree = draw(trees)
        first = "attributes.start_time"
    rest = draw(st.lists(st.tuples(st.sampled_from(ORDER_FIELDS), st.booleans()), max_size=1))
    return tree, [(first, draw(st.booleans())), *rest]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(run_specs, max_size=8),
    query=index_driven_queries(),
    page_size=st.integers(min_value=1, max_value=3),
)
def test_index_driven_plans_equal_python_evaluation(
    backend_platform: Platform,
    specs: list[RunSpec],
    query: tuple[Tree, list[tuple[str, bool]]],
    page_size: int,
) -> None:
    tree, order = query
    check_search(backend_platform, specs, tree, order, page_size)
