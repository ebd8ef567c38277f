"""Compile the run search AST into one SQLAlchemy Core query that runs in the database.

Semantics (two-valued, identical on SQLite and PostgreSQL):

- A comparison on a metric, param or tag the run never logged is false; ``is null`` is true
  exactly when the run never logged the key. ``not`` negates a comparison's truth value.
- A NaN metric never satisfies a comparison (``=``, ``!=``, ``<``, ``in``, ``not in``...); it is
  logged, so ``is not null`` holds for it.
- Text compares by code point (``COLLATE "C"`` on PostgreSQL, SQLite's binary default);
  ``like`` is case-sensitive, ``ilike`` is not; ``%`` and ``_`` are wildcards and a backslash
  makes the next character literal.
- Ordering by a key uses one outer-joined alias per distinct key. Runs missing an order key
  (and NULL attributes) sort last in both directions, NaN metrics just before them;
  ``runs.id`` is always the final tiebreaker.
- The plan follows the first order key (measured on SQLite, 10,000 runs: 7.9 ms -> 1.8 ms
  for ``metrics.auc > 0.9 and params.model = 'xgb'`` by ``metrics.auc DESC``). When an index
  delivers rows in that order, the query walks it and stops after ``limit`` matches, testing
  each run's conditions with correlated ``EXISTS`` probes on the ``(run_id, key)`` primary
  keys: for ``start_time`` (index ``(project_id, start_time)``) and for a metric that a
  top-level ``and`` term of the filter compares (only runs with a non-NaN value can match, so
  the metric is inner-joined, its terms apply to the joined row and the rank term is dropped;
  the walk uses ``(key, value)``). Otherwise every match must be sorted anyway, and each
  condition is ``runs.id IN (SELECT run_id ... WHERE key = ...)``, built from the
  ``(key, value)`` / ``(key, run_id)`` indexes.
- Unless ``include_deleted``, deleted runs and the runs of deleted experiments are left out.
- Paging is keyset: each ORDER BY term is also selected, and the next page starts strictly
  after the previous page's last row (so runs added or removed meanwhile never cause a repeat
  or a skip). ``ilike`` folds ASCII case only on SQLite (all of Unicode on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    collate,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
)

from ._model import RUN_COLUMNS
from ._search_parser import And, Comparison, Expr, Field, Not, Or, OrderKey
from ._tables import experiments, latest_metrics, run_params, run_tags, runs

__all__ = ["DEFAULT_ORDER", "SearchQuery", "SortTerm", "build_search_query", "encode_position"]

DEFAULT_ORDER = (OrderKey(Field("attribute", "start_time"), descending=True),)
_NULLABLE_ATTRIBUTES = frozenset({"end_time", "parent_run_id"})
_TEXT_ATTRIBUTES = frozenset(
    {"status", "name", "id", "created_by", "parent_run_id", "experiment_id"}
)
_LIKE_ESCAPE = "!"

SortKind = Literal["int", "float", "text", "time"]


@dataclass(frozen=True)
class SortTerm:
    """One ORDER BY expression, its direction, and the type of its values."""

    expr: ColumnElement[Any]
    descending: bool
    kind: SortKind
    nullable: bool = False  # NULL only where the rank term before it says "missing"


def _like_parts(pattern: str) -> list[str]:
    """The pattern as a list of ``"%"``, ``"_"`` and one-character literals (``"\\x"``)."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            parts.append("\\" + pattern[i + 1])
            i += 2
            continue
        parts.append(c if c in "%_" else "\\" + c)
        i += 1
    return parts


def _like_pattern(pattern: str) -> str:
    """A LIKE pattern with ``!`` as its explicit escape character."""
    out = []
    for part in _like_parts(pattern):
        if part in ("%", "_"):
            out.append(part)
        else:
            c = part[1]
            out.append(_LIKE_ESCAPE + c if c in "%_!" else c)
    return "".join(out)


def _glob_pattern(pattern: str) -> str:
    """The SQLite GLOB (case-sensitive) equivalent of a LIKE pattern."""
    out = []
    for part in _like_parts(pattern):
        if part == "%":
            out.append("*")
        elif part == "_":
            out.append("?")
        else:
            c = part[1]
            out.append(f"[{c}]" if c in "*?[" else c)
    return "".join(out)


@functools.cache
def _order_alias(kind: str, index: int) -> FromClause:
    """The alias ``order_<index>`` of the metric, param or tag table. Shared between
    statements: building an alias's column collection was a fifth of a short search."""
    table = {"metric": latest_metrics, "param": run_params, "tag": run_tags}[kind]
    return table.alias(f"order_{index}")


class _Compiler:
    def __init__(self, dialect: str, *, probe: bool, driver: str | None = None) -> None:
        self.dialect = dialect
        # probe: conditions as correlated EXISTS (the order index drives the walk).
        self.probe = probe
        # driver: the metric whose order alias is inner-joined and filtered directly.
        self.driver = driver
        self.order_aliases: dict[tuple[str, str], FromClause] = {}

    def text(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """A text column compared by code point on every backend."""
        return collate(column, "C") if self.dialect == "postgresql" else column

    def compare(
        self, column: ColumnElement[Any], op: str, value: Any, text: bool
    ) -> ColumnElement[bool]:
        if op in ("like", "not like", "ilike", "not ilike"):
            if op.endswith("ilike"):
                cond = column.ilike(_like_pattern(value), escape=_LIKE_ESCAPE)
            elif self.dialect == "sqlite":
                cond = column.op("GLOB", is_comparison=True)(_glob_pattern(value))
            else:
                cond = column.like(_like_pattern(value), escape=_LIKE_ESCAPE)
            return not_(cond) if op.startswith("not") else cond
        if op == "in":
            return column.in_(list(value))
        if op == "not in":
            return column.not_in(list(value))
        left = self.text(column) if text and op not in ("=", "!=") else column
        operators = {
            "=": left.__eq__,
            "!=": left.__ne__,
            "<": left.__lt__,
            "<=": left.__le__,
            ">": left.__gt__,
            ">=": left.__ge__,
        }
        return operators[op](value)

    def filter(self, expr: Expr) -> ColumnElement[bool]:
        if isinstance(expr, And):
            return and_(*(self.filter(item) for item in expr.items))
        if isinstance(expr, Or):
            return or_(*(self.filter(item) for item in expr.items))
        if isinstance(expr, Not):
            return not_(self.filter(expr.item))
        return self.comparison(expr)

    def comparison(self, cmp: Comparison) -> ColumnElement[bool]:
        field = cmp.field
        if field.kind == "attribute":
            column: ColumnElement[Any] = runs.c[field.key]
            if cmp.op == "is null":
                return column.is_(None)
            if cmp.op == "is not null":
                return column.is_not(None)
            cond = self.compare(column, cmp.op, cmp.value, field.key in _TEXT_ATTRIBUTES)
            # Two-valued logic: a NULL attribute fails the comparison (and ``not`` of it holds).
            return and_(column.is_not(None), cond) if field.key in _NULLABLE_ATTRIBUTES else cond
        table = {"metric": latest_metrics, "param": run_params, "tag": run_tags}[field.kind]
        present: ColumnElement[bool]
        if self.probe:
            keyed = select(literal(1)).where(table.c.run_id == runs.c.id, table.c.key == field.key)
            present = exists(keyed)
        else:
            keyed = select(table.c.run_id).where(table.c.key == field.key)
            present = runs.c.id.in_(keyed)
        if cmp.op == "is null":
            return not_(present)
        if cmp.op == "is not null":
            return present
        if field.kind == "metric":
            keyed = keyed.where(not_(table.c.is_nan))
        cond = self.compare(table.c.value, cmp.op, cmp.value, field.kind != "metric")
        keyed = keyed.where(cond)
        return exists(keyed) if self.probe else runs.c.id.in_(keyed)

    def driver_condition(self, cmp: Comparison) -> ColumnElement[bool]:
        """A comparison on the driving metric, applied to its inner-joined order alias."""
        alias = self.order_aliases[("metric", cmp.field.key)]
        return and_(not_(alias.c.is_nan), self.compare(alias.c.value, cmp.op, cmp.value, False))

    def order(self, key: OrderKey) -> list[SortTerm]:
        field = key.field
        if field.kind == "attribute":
            column: ColumnElement[Any] = runs.c[field.key]
            terms: list[SortTerm] = []
            if field.key in _NULLABLE_ATTRIBUTES:
                terms.append(SortTerm(case((column.is_(None), 1), else_=0), False, "int"))
            nullable = field.key in _NULLABLE_ATTRIBUTES
            if field.key in _TEXT_ATTRIBUTES:
                terms.append(SortTerm(self.text(column), key.descending, "text", nullable))
            else:
                terms.append(SortTerm(column, key.descending, "time", nullable))
            return terms
        alias = self.order_aliases.get((field.kind, field.key))
        if alias is None:
            alias = _order_alias(field.kind, len(self.order_aliases))
            self.order_aliases[(field.kind, field.key)] = alias
        if field.kind == "metric" and field.key == self.driver:
            # Inner-joined and filtered to non-NaN values: every row has rank 0.
            return [SortTerm(alias.c.value, key.descending, "float")]
        if field.kind == "metric":
            rank = case((alias.c.run_id.is_(None), 2), (alias.c.is_nan, 1), else_=0)
            return [
                SortTerm(rank, False, "int"),
                SortTerm(alias.c.value, key.descending, "float", True),
            ]
        rank = case((alias.c.run_id.is_(None), 1), else_=0)
        return [
            SortTerm(rank, False, "int"),
            SortTerm(self.text(alias.c.value), key.descending, "text", True),
        ]

    def source(self) -> FromClause:
        source: FromClause = runs
        for (kind, key), alias in self.order_aliases.items():
            on = and_(alias.c.run_id == runs.c.id, alias.c.key == literal(key))
            if kind == "metric" and key == self.driver:
                source = alias.join(source, on)
            else:
                source = source.outerjoin(alias, on)
        return source


def _conjuncts(expr: Expr | None) -> list[Expr]:
    """The top-level ``and`` terms of a filter (nested ``and`` groups flattened)."""
    if expr is None:
        return []
    if isinstance(expr, And):
        return [term for item in expr.items for term in _conjuncts(item)]
    return [expr]


def _driving_metric(order: Sequence[OrderKey], terms: Sequence[Expr]) -> str | None:
    """The first order key's metric, if a top-level filter term compares it (so every
    matching run has a non-NaN value for it)."""
    if not order or order[0].field.kind != "metric":
        return None
    key = order[0].field.key
    for term in terms:
        if (
            isinstance(term, Comparison)
            and term.field == order[0].field
            and term.op not in ("is null", "is not null")
        ):
            return key
    return None


def _after(terms: Sequence[SortTerm], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``terms`` (keyset pagination).

    A NULL only occurs in a value term whose rank term says "missing", and then every row of
    that rank has NULL there: nothing sorts after it inside the rank, and equality is IS NULL.
    """
    after: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for term, value in zip(terms, values, strict=True):
        if value is None:
            equal.append(term.expr.is_(None))
            continue
        beyond = term.expr < value if term.descending else term.expr > value
        after.append(and_(*equal, beyond))
        equal.append(term.expr == value)
    return or_(*after)


def encode_position(terms: Sequence[SortTerm], row: Sequence[Any]) -> list[Any]:
    """The JSON form of a result row's sort values (for a page token)."""
    return [
        value.isoformat() if term.kind == "time" and value is not None else value
        for term, value in zip(terms, row, strict=True)
    ]


def _valid_position_value(kind: SortKind, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "int":  # ranks
        return isinstance(value, int) and 0 <= value <= 2
    if kind == "float":
        return isinstance(value, float) and not math.isnan(value)
    # text and times: PostgreSQL text cannot hold NUL
    return isinstance(value, str) and "\x00" not in value


def decode_position(terms: Sequence[SortTerm], raw: Any) -> list[Any]:
    """The inverse of ``encode_position``; ``ValueError`` if ``raw`` does not fit ``terms``."""
    if not isinstance(raw, list) or len(raw) != len(terms):
        raise ValueError("wrong number of sort values")
    values: list[Any] = []
    for term, value in zip(terms, raw, strict=True):
        if value is None and term.nullable:
            values.append(None)
        elif not _valid_position_value(term.kind, value):
            raise ValueError(f"a {term.kind} sort value was expected")
        elif term.kind == "time":
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("naive time")
            values.append(moment)
        else:
            values.append(value)
    return values


@dataclass(frozen=True)
class SearchQuery:
    """The statement and its sort terms. The statement selects one column per sort term
    (``k0``... in order; the last is ``runs.id``), then ``RUN_COLUMNS`` by name."""

    statement: Select[Any]
    terms: tuple[SortTerm, ...]


def build_search_query(
    dialect: str,
    project_id: str,
    *,
    experiment_ids: Sequence[str] | None,
    expr: Expr | None,
    order: Sequence[OrderKey],
    include_deleted: bool,
    limit: int,
    after: Any = None,
) -> SearchQuery:
    """One page of matching runs, in a stable total order, starting after the position
    ``after`` (the ``encode_position`` of the previous page's last row; ``ValueError`` if it
    does not fit this order)."""
    order = tuple(order) or DEFAULT_ORDER
    conjuncts = _conjuncts(expr)
    driver = _driving_metric(order, conjuncts)
    by_start_time = order[0].field == DEFAULT_ORDER[0].field
    compiler = _Compiler(dialect, probe=driver is not None or by_start_time, driver=driver)
    terms: list[SortTerm] = []
    for key in order:
        terms.extend(compiler.order(key))
    terms.append(SortTerm(runs.c.id, False, "text"))
    conditions: list[ColumnElement[bool]] = [runs.c.project_id == project_id]
    if experiment_ids is not None:
        conditions.append(runs.c.experiment_id.in_(list(experiment_ids)))
    if not include_deleted:
        conditions.append(runs.c.deleted_at.is_(None))
        # Runs of a soft-deleted experiment stay hidden while the experiment is deleted.
        deleted_experiments = select(experiments.c.id).where(
            experiments.c.project_id == project_id, experiments.c.deleted_at.is_not(None)
        )
        conditions.append(runs.c.experiment_id.not_in(deleted_experiments))
    for term in conjuncts:
        if driver is not None and isinstance(term, Comparison) and term.field == order[0].field:
            # Every row of the inner-joined driver has the metric (and a non-NaN value, which
            # the driving comparison needs anyway): "is null" never holds, "is not null" always.
            if term.op == "is null":
                conditions.append(false())
            elif term.op != "is not null":
                conditions.append(compiler.driver_condition(term))
        else:
            conditions.append(compiler.filter(term))
    if after is not None:
        conditions.append(_after(terms, decode_position(terms, after)))
    statement = (
        select(*(term.expr.label(f"k{i}") for i, term in enumerate(terms)), *RUN_COLUMNS)
        .select_from(compiler.source())
        .where(*conditions)
        .order_by(*(term.expr.desc() if term.descending else term.expr.asc() for term in terms))
        .limit(limit)
    )
    return SearchQuery(statement, tuple(terms))
