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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
from ._tables import latest_metrics, run_params, run_tags, runs

__all__ = ["DEFAULT_ORDER", "build_search_query"]

DEFAULT_ORDER = (OrderKey(Field("attribute", "start_time"), descending=True),)
_NULLABLE_ATTRIBUTES = frozenset({"end_time", "parent_run_id"})
_TEXT_ATTRIBUTES = frozenset(
    {"status", "name", "id", "created_by", "parent_run_id", "experiment_id"}
)
_LIKE_ESCAPE = "!"


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

    def compare(self, column: ColumnElement[Any], op: str, value: Any, text: bool) -> ColumnElement[bool]:
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
        if op in ("=", "!="):
            return column == value if op == "=" else column != value
        left = self.text(column) if text else column
        if op == "<":
            return left < value
        if op == "<=":
            return left <= value
        if op == ">":
            return left > value
        if op == ">=":
            return left >= value
        raise AssertionError(f"unknown operator {op!r}")  # pragma: no cover

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

    def order(self, key: OrderKey) -> list[ColumnElement[Any]]:
        field = key.field
        if field.kind == "attribute":
            column: ColumnElement[Any] = runs.c[field.key]
            value = self.text(column) if field.key in _TEXT_ATTRIBUTES else column
            terms: list[ColumnElement[Any]] = []
            if field.key in _NULLABLE_ATTRIBUTES:
                terms.append(case((column.is_(None), 1), else_=0))
            terms.append(value.desc() if key.descending else value.asc())
            return terms
        alias = self.order_aliases.get((field.kind, field.key))
        if alias is None:
            table = {"metric": latest_metrics, "param": run_params, "tag": run_tags}[field.kind]
            alias = table.alias(f"order_{len(self.order_aliases)}")
            self.order_aliases[(field.kind, field.key)] = alias
        if field.kind == "metric":
            rank = case((alias.c.run_id.is_(None), 2), (alias.c.is_nan, 1), else_=0)
            value = alias.c.value
        else:
            rank = case((alias.c.run_id.is_(None), 1), else_=0)
            value = self.text(alias.c.value)
        return [rank, value.desc() if key.descending else value.asc()]

    def source(self) -> FromClause:
        source: FromClause = runs
        for (_, key), alias in self.order_aliases.items():
            source = source.outerjoin(
                alias, and_(alias.c.run_id == runs.c.id, alias.c.key == literal(key))
            )
        return source


def build_search_query(
    dialect: str,
    project_id: str,
    *,
    experiment_ids: Sequence[str] | None,
    expr: Expr | None,
    order: Sequence[OrderKey],
    include_deleted: bool,
    limit: int,
    offset: int,
) -> Select[tuple[str]]:
    """``SELECT runs.id`` of one page of matching runs, in a stable total order."""
    compiler = _Compiler(dialect)
    order_terms: list[ColumnElement[Any]] = []
    for key in order or DEFAULT_ORDER:
        order_terms.extend(compiler.order(key))
    order_terms.append(runs.c.id.asc())
    conditions: list[ColumnElement[bool]] = [runs.c.project_id == project_id]
    if experiment_ids is not None:
        conditions.append(runs.c.experiment_id.in_(list(experiment_ids)))
    if not include_deleted:
        conditions.append(runs.c.deleted_at.is_(None))
    if expr is not None:
        conditions.append(compiler.filter(expr))
    return (
        select(runs.c.id)
        .select_from(compiler.source())
        .where(*conditions)
        .order_by(*order_terms)
        .limit(limit)
        .offset(offset)
    )
