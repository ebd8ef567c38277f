"""Compile the run search AST into one SQLAlchemy Core query that runs in the database.

Semantics (two-valued, identical on SQLite and PostgreSQL):

- A comparison on a metric, param or tag the run never logged is false; ``is null`` is true
  exactly when the run never logged the key. ``not`` negates a comparison's truth value.
- A NaN metric never satisfies a comparison (``=``, ``!=``, ``<``, ``in``, ``not in``...); it is
  logged, so ``is not null`` holds for it.
- Text compares by code point (``COLLATE "C"`` on PostgreSQL, SQLite's binary default);
  ``like`` is case-sensitive, ``ilike`` is not; ``%`` and ``_`` are wildcards and a backslash
  makes the next character literal.
- Each metric/param/tag condition is ``runs.id IN (SELECT run_id ... WHERE key = ...)``, which
  uses the ``(key, value)`` / ``(key, run_id)`` indexes; ordering by a key uses one outer-joined
  alias per distinct key. Runs missing an order key (and NULL attributes) sort last in both
  directions, NaN metrics just before them; ``runs.id`` is always the final tiebreaker.
- Unless ``include_deleted``, deleted runs and the runs of deleted experiments are left out.
- Paging is keyset: each ORDER BY term is also selected, and the next page starts strictly
  after the previous page's last row (so runs added or removed meanwhile never cause a repeat
  or a skip). ``ilike`` folds ASCII case only on SQLite (all of Unicode on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
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
    literal,
    not_,
    or_,
    select,
)

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


class _Compiler:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
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
        keyed = select(table.c.run_id).where(table.c.key == field.key)
        if cmp.op == "is null":
            return runs.c.id.not_in(keyed)
        if cmp.op == "is not null":
            return runs.c.id.in_(keyed)
        if field.kind == "metric":
            keyed = keyed.where(not_(table.c.is_nan))
        cond = self.compare(table.c.value, cmp.op, cmp.value, field.kind != "metric")
        return runs.c.id.in_(keyed.where(cond))

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
            table = {"metric": latest_metrics, "param": run_params, "tag": run_tags}[field.kind]
            alias = table.alias(f"order_{len(self.order_aliases)}")
            self.order_aliases[(field.kind, field.key)] = alias
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
        for (_, key), alias in self.order_aliases.items():
            source = source.outerjoin(
                alias, and_(alias.c.run_id == runs.c.id, alias.c.key == literal(key))
            )
        return source


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
    """The statement (selecting one column per sort term; the last is ``runs.id``) and terms."""

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
    compiler = _Compiler(dialect)
    terms: list[SortTerm] = []
    for key in order or DEFAULT_ORDER:
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
    if expr is not None:
        conditions.append(compiler.filter(expr))
    if after is not None:
        conditions.append(_after(terms, decode_position(terms, after)))
    statement = (
        select(*(term.expr.label(f"k{i}") for i, term in enumerate(terms)))
        .select_from(compiler.source())
        .where(*conditions)
        .order_by(*(term.expr.desc() if term.descending else term.expr.asc() for term in terms))
        .limit(limit)
    )
    return SearchQuery(statement, tuple(terms))
