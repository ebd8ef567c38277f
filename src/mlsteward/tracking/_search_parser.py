"""The run search language: a tokenizer and a recursive-descent parser producing a typed AST.

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    filter     := [or_expr] EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field ( cmp value | ["not"] ("like" | "ilike") string
                        | ["not"] "in" "(" value ("," value)* ")" | "is" ["not"] "null" )
    cmp        := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    field      := prefix "." key       -- key: bare word, `back quoted` or "double quoted"
    prefix     := metrics | params | tags | attributes   (and MLflow's metric, param, tag,
                                                          attribute, run)
    order_by   := field ["asc" | "desc"] EOF

Every error is an ``InvalidArgument`` with ``details={"position", "expected"}``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidArgument
from ._model import MAX_KEY_LENGTH

__all__ = [
    "ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_IN_ITEMS",
    "MAX_QUERY_LENGTH",
    "And",
    "Comparison",
    "Expr",
    "Field",
    "Not",
    "Or",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]

MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 50
MAX_IN_ITEMS = 1000

FieldKind = Literal["metric", "param", "tag", "attribute"]

_PREFIXES: dict[str, FieldKind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
# Accepted attribute names (with aliases) -> canonical name (a ``runs`` column).
ATTRIBUTES: dict[str, str] = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "run_id": "id",
    "id": "id",
    "start_time": "start_time",
    "end_time": "end_time",
    "created_by": "created_by",
    "parent_run_id": "parent_run_id",
    "experiment_id": "experiment_id",
}
_TIME_ATTRIBUTES = frozenset({"start_time", "end_time"})
_COMPARISONS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PREFIX_LIST = "metrics.<key>, params.<key>, tags.<key> or attributes.<name>"

Value = float | str | dt.datetime


@dataclass(frozen=True)
class Field:
    """What a comparison or ordering refers to: ``kind`` and the key (canonical attribute)."""

    kind: FieldKind
    key: str


@dataclass(frozen=True)
class Comparison:
    """``op`` is one of ``= != < <= > >= like ilike not like not ilike in not in is null
    is not null``; ``value`` is a float (metrics), str, aware datetime (times), a tuple of
    those for ``in``, or None for ``is [not] null``."""

    field: Field
    op: str
    value: Value | tuple[Value, ...] | None


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool = False


@dataclass(frozen=True)
class _Token:
    kind: str  # field, word, string, number, op, (, ), ",", eof
    text: str
    pos: int
    value: str = ""  # unquoted string, keyword in lower case, field key
    prefix: str = ""  # for fields: the prefix as written
    key_pos: int = 0


def _syntax_error(
    query: str, position: int, expected: str, found: str | None = None
) -> InvalidArgument:
    message = f"at position {position}: expected {expected}"
    if found is not None:
        message += f", found {found}"
    start = max(0, position - 60)
    line = query[start : position + 20]
    shown = "".join(c if c.isprintable() else " " for c in line)
    caret = " " * (position - start) + "^"
    return InvalidArgument(
        f"{message}\n  {shown}\n  {caret}",
        details={"position": position, "expected": expected},
    )


_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_STARTS = frozenset("0123456789.")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_]+")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "`": "`"}


class _Tokenizer:
    def __init__(self, query: str) -> None:
        self.query = query
        self.pos = 0

    def error(self, position: int, expected: str, found: str | None = None) -> InvalidArgument:
        return _syntax_error(self.query, position, expected, found)

    def quoted(self, start: int) -> tuple[str, int]:
        """The text of the quoted string opening at ``start`` and the index after it."""
        q = self.query
        quote = q[start]
        out: list[str] = []
        i = start + 1
        while i < len(q):
            c = q[i]
            if c == quote:
                if i + 1 < len(q) and q[i + 1] == quote:
                    out.append(quote)
                    i += 2
                    continue
                return "".join(out), i + 1
            if c == "\\" and quote != "`" and i + 1 < len(q):
                nxt = q[i + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            out.append(c)
            i += 1
        raise self.error(start, f"a closing {quote} for the quote opened here", "end of query")

    def tokens(self) -> list[_Token]:
        q = self.query
        found: list[_Token] = []
        while True:
            while self.pos < len(q) and q[self.pos].isspace():
                self.pos += 1
            start = self.pos
            if start >= len(q):
                found.append(_Token("eof", "", start))
                return found
            c = q[start]
            if c in "(),":
                found.append(_Token(c, c, start))
                self.pos += 1
            elif c in "'\"":
                value, self.pos = self.quoted(start)
                found.append(_Token("string", q[start : self.pos], start, value))
            elif c.isdigit() or (c in "-." and q[start + 1 : start + 2] in _NUMBER_STARTS):
                found.append(self.number(start))
            elif c == "-":
                raise self.error(start, "a number", repr(c))
            elif c in "=!<>":
                two = q[start : start + 2]
                op = two if two in _COMPARISONS else c
                if op not in _COMPARISONS:
                    raise self.error(start, "an operator (= != <> < <= > >=)", repr(two))
                found.append(_Token("op", op, start, _COMPARISONS[op]))
                self.pos += len(op)
            elif (m := _WORD.match(q, start)) is not None:
                found.append(self.word(m))
            else:
                raise self.error(start, "an identifier, operator or value", repr(c))

    def number(self, start: int) -> _Token:
        m = _NUMBER.match(self.query, start)
        end = m.end() if m else start
        after = self.query[end : end + 1]
        if m is None or (after and (after.isalnum() or after in "._")):
            bad = re.match(r"[-\w.+]+", self.query[start:])
            raise self.error(start, "a number", repr(bad.group() if bad else self.query[start]))
        self.pos = end
        return _Token("number", m.group(), start, m.group())

    def word(self, m: re.Match[str]) -> _Token:
        q = self.query
        start, end = m.span()
        word = m.group()
        if end >= len(q) or q[end] != ".":
            self.pos = end
            return _Token("word", word, start, word.lower())
        if word.lower() not in _PREFIXES:
            raise self.error(start, f"an identifier like {_PREFIX_LIST}", f"{word + '.'!r}")
        key_pos = end + 1
        if key_pos < len(q) and q[key_pos] in '`"':
            key, self.pos = self.quoted(key_pos)
            if not key:
                raise self.error(key_pos, f"a non-empty key after {word + '.'!r}", "an empty key")
        elif (km := _BARE_KEY.match(q, key_pos)) is not None:
            key, self.pos = km.group(), km.end()
        else:
            found = "end of query" if key_pos >= len(q) else repr(q[key_pos])
            raise self.error(key_pos, f"a key after {word + '.'!r}", found)
        if len(key) > MAX_KEY_LENGTH:
            raise self.error(key_pos, f"a key of at most {MAX_KEY_LENGTH} characters")
        return _Token("field", q[start : self.pos], start, key, word.lower(), key_pos)


def _describe(token: _Token) -> str:
    return "end of query" if token.kind == "eof" else repr(token.text)


class _Parser:
    def __init__(self, query: str) -> None:
        if len(query) > MAX_QUERY_LENGTH:
            raise _syntax_error(
                query, MAX_QUERY_LENGTH, f"a query of at most {MAX_QUERY_LENGTH} characters"
            )
        self.query = query
        nul = query.find("\x00")
        if nul >= 0:
            raise _syntax_error(query, nul, "no NUL characters in the query", "'\\x00'")
        self.tokens = _Tokenizer(query).tokens()
        self.i = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.value in words

    def error(self, expected: str, token: _Token | None = None) -> InvalidArgument:
        token = token or self.token
        return _syntax_error(self.query, token.pos, expected, _describe(token))

    def expect_end(self, expected: str) -> None:
        if self.token.kind != "eof":
            raise self.error(expected)

    # expressions -------------------------------------------------------------------------

    def or_expr(self, depth: int) -> Expr:
        items = [self.and_expr(depth)]
        while self.is_word("or"):
            self.advance()
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Expr:
        items = [self.not_expr(depth)]
        while self.is_word("and"):
            self.advance()
            items.append(self.not_expr(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self, depth: int) -> Expr:
        token = self.token
        if token.kind == "(" or self.is_word("not"):
            if depth >= MAX_DEPTH:
                raise _syntax_error(self.query, token.pos, f"at most {MAX_DEPTH} levels of nesting")
            self.advance()
            if token.kind == "word":
                return Not(self.not_expr(depth + 1))
            inner = self.or_expr(depth + 1)
            if self.token.kind != ")":
                raise self.error("')' to close the '(' at position " + str(token.pos))
            self.advance()
            return inner
        return self.comparison()

    def field(self) -> Field:
        token = self.token
        if token.kind != "field":
            raise self.error(f"a comparison on {_PREFIX_LIST}")
        self.advance()
        kind = _PREFIXES[token.prefix]
        if kind != "attribute":
            return Field(kind, token.value)
        name = ATTRIBUTES.get(token.value.lower())
        if name is None:
            names = ", ".join(sorted(ATTRIBUTES))
            raise _syntax_error(
                self.query, token.key_pos, f"an attribute: one of {names}", repr(token.value)
            )
        return Field("attribute", name)

    def comparison(self) -> Comparison:
        field = self.field()
        op_token = self.token
        if op_token.kind == "op":
            self.advance()
            value = self.value(field, f"a value after {op_token.text!r}")
            return Comparison(field, op_token.value, value)
        negated = False
        if self.is_word("not"):
            self.advance()
            negated = True
            if not self.is_word("like", "ilike", "in"):
                raise self.error("like, ilike or in after 'not'")
        if self.is_word("like", "ilike"):
            word = self.advance()
            if field.kind == "metric" or field.key in _TIME_ATTRIBUTES:
                what = "times"
                if field.kind == "metric":
                    what = "metrics (metrics compare with numbers)"
                raise self.error(
                    f"a comparison operator: {word.value} does not apply to {what}", word
                )
            pattern = self.token
            if pattern.kind != "string":
                raise self.error(f"a quoted pattern after {word.value!r}")
            self.advance()
            return Comparison(field, ("not " if negated else "") + word.value, pattern.value)
        if self.is_word("in"):
            return Comparison(field, "not in" if negated else "in", self.in_list(field))
        if self.is_word("is"):
            self.advance()
            op = "is null"
            if self.is_word("not"):
                self.advance()
                op = "is not null"
            if not self.is_word("null"):
                raise self.error("null or not null after 'is'")
            self.advance()
            return Comparison(field, op, None)
        raise self.error("an operator (= != <> < <= > >= like ilike in is not)")

    def in_list(self, field: Field) -> tuple[Value, ...]:
        self.advance()
        if self.token.kind != "(":
            raise self.error("'(' after 'in'")
        self.advance()
        values = [self.value(field, "a value in the list")]
        while self.token.kind == ",":
            self.advance()
            if len(values) >= MAX_IN_ITEMS:
                raise self.error(f"at most {MAX_IN_ITEMS} values in an 'in' list")
            values.append(self.value(field, "a value in the list"))
        if self.token.kind != ")":
            raise self.error("',' or ')' in the 'in' list")
        self.advance()
        return tuple(values)

    def value(self, field: Field, expected: str) -> Value:
        token = self.token
        if token.kind not in ("string", "number"):
            raise self.error(expected)
        self.advance()
        if field.kind == "metric":
            if token.kind != "number":
                raise self.error("a number (metrics compare with numbers)", token)
            return float(token.value)
        if field.key in _TIME_ATTRIBUTES and field.kind == "attribute":
            return self.time_value(token)
        if token.kind != "string":
            what = {"param": "params", "tag": "tags"}.get(field.kind, "attributes")
            raise self.error(
                f"a quoted string ({what} compare as text: write '{token.text}')", token
            )
        return token.value

    def time_value(self, token: _Token) -> dt.datetime:
        expected = "an ISO 8601 datetime or epoch milliseconds"
        try:
            if token.kind == "number":
                return dt.datetime.fromtimestamp(float(token.value) / 1000, dt.UTC)
            parsed = dt.datetime.fromisoformat(token.value)
        except (ValueError, OverflowError, OSError):
            raise self.error(expected, token) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    def order_key(self) -> OrderKey:
        field = self.field()
        descending = False
        if self.is_word("asc", "desc"):
            descending = self.advance().value == "desc"
        self.expect_end("asc, desc or end of the order_by entry")
        return OrderKey(field, descending)


def parse_filter(query: str) -> Expr | None:
    """The AST of a filter; None for an empty (match everything) filter.

    Raises ``InvalidArgument`` (with ``details["position"]`` and ``details["expected"]``).
    """
    parser = _Parser(query)
    if parser.token.kind == "eof":
        return None
    expr = parser.or_expr(0)
    if parser.token.kind == ")":
        raise parser.error("end of query (this ')' has no matching '(')")
    parser.expect_end("'and', 'or' or end of query")
    return expr


def parse_order_by(entry: str) -> OrderKey:
    """One ``order_by`` entry: ``<field> [asc|desc]``. Raises ``InvalidArgument``."""
    parser = _Parser(entry)
    if parser.token.kind == "eof":
        raise parser.error(f"an order_by entry like metrics.auc DESC ({_PREFIX_LIST})")
    return parser.order_key()
