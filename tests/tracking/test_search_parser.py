"""The run search language parser: grammar, precedence, quoting, types and positioned errors."""

from __future__ import annotations

import datetime as dt

import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.tracking._search_parser import (
    MAX_DEPTH,
    MAX_IN_ITEMS,
    MAX_QUERY_LENGTH,
    And,
    Comparison,
    Field,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)

AUC = Field("metric", "auc")
MODEL = Field("param", "model")


def cmp(field: Field, op: str, value: object) -> Comparison:
    return Comparison(field, op, value)  # type: ignore[arg-type]


def test_empty_filter_matches_everything() -> None:
    assert parse_filter("") is None
    assert parse_filter("   \n\t") is None


def test_the_example_from_the_docs() -> None:
    query = (
        "metrics.auc > 0.9 and (params.model = 'xgb' or params.model in ('lgbm', 'rf'))"
        " and tags.team like 'fraud%' and attributes.status = 'FINISHED'"
    )
    assert parse_filter(query) == And(
        (
            cmp(AUC, ">", 0.9),
            Or((cmp(MODEL, "=", "xgb"), cmp(MODEL, "in", ("lgbm", "rf")))),
            cmp(Field("tag", "team"), "like", "fraud%"),
            cmp(Field("attribute", "status"), "=", "FINISHED"),
        )
    )


@pytest.mark.parametrize(
    ("text", "op"),
    [("=", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="), (">", ">"), (">=", ">=")],
)
def test_comparison_operators(text: str, op: str) -> None:
    assert parse_filter(f"metrics.auc {text} 1") == cmp(AUC, op, 1.0)
    assert parse_filter(f"metrics.auc{text}1") == cmp(AUC, op, 1.0)
    assert parse_filter(f"params.model {text} 'a'") == cmp(MODEL, op, "a")


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("like 'x%'", "like", "x%"),
        ("ILIKE 'X_'", "ilike", "X_"),
        ("not like 'x%'", "not like", "x%"),
        ("NOT ilike 'x%'", "not ilike", "x%"),
        ("in ('a')", "in", ("a",)),
        ("in ('a', \"b\" , 'c')", "in", ("a", "b", "c")),
        ("not in ('a','b')", "not in", ("a", "b")),
        ("is null", "is null", None),
        ("IS NOT NULL", "is not null", None),
    ],
)
def test_word_operators(text: str, op: str, value: object) -> None:
    assert parse_filter(f"params.model {text}") == cmp(MODEL, op, value)


def test_metric_in_list_and_null_checks() -> None:
    assert parse_filter("metrics.auc in (1, 2.5, -3e2)") == cmp(AUC, "in", (1.0, 2.5, -300.0))
    assert parse_filter("metrics.auc not in (0)") == cmp(AUC, "not in", (0.0,))
    assert parse_filter("metrics.auc is null") == cmp(AUC, "is null", None)


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (cmp(Field("metric", k), ">", 1.0) for k in "abc")
    assert parse_filter("metrics.a > 1 or metrics.b > 1 and metrics.c > 1") == Or((a, And((b, c))))
    assert parse_filter("metrics.a > 1 and metrics.b > 1 or metrics.c > 1") == Or((And((a, b)), c))
    assert parse_filter("(metrics.a > 1 or metrics.b > 1) and metrics.c > 1") == And(
        (Or((a, b)), c)
    )


def test_not_and_nested_parentheses() -> None:
    a, b = (cmp(Field("metric", k), ">", 1.0) for k in "ab")
    assert parse_filter("not metrics.a > 1") == Not(a)
    assert parse_filter("NOT NOT metrics.a > 1") == Not(Not(a))
    assert parse_filter("not metrics.a > 1 and metrics.b > 1") == And((Not(a), b))
    assert parse_filter("not (metrics.a > 1 or metrics.b > 1)") == Not(Or((a, b)))
    assert parse_filter("((((metrics.a > 1))))") == a


def test_keywords_are_case_insensitive() -> None:
    assert parse_filter("metrics.a > 1 AnD metrics.b Is NoT nUlL Or params.x LiKe 'y'") == Or(
        (
            And(
                (
                    cmp(Field("metric", "a"), ">", 1.0),
                    cmp(Field("metric", "b"), "is not null", None),
                )
            ),
            cmp(Field("param", "x"), "like", "y"),
        )
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("metric.auc = 1", AUC),
        ("METRICS.auc = 1", AUC),
        ("param.model = 'x'", MODEL),
        ("tag.team = 'x'", Field("tag", "team")),
        ("attribute.status = 'x'", Field("attribute", "status")),
        ("run.status = 'x'", Field("attribute", "status")),
        ("attributes.run_name = 'x'", Field("attribute", "name")),
        ("attributes.name = 'x'", Field("attribute", "name")),
        ("attributes.id = 'x'", Field("attribute", "id")),
        ("attributes.run_id = 'x'", Field("attribute", "id")),
        ("attributes.created_by = 'x'", Field("attribute", "created_by")),
        ("attributes.parent_run_id = 'x'", Field("attribute", "parent_run_id")),
        ("attributes.experiment_id = 'x'", Field("attribute", "experiment_id")),
    ],
)
def test_prefixes_and_attribute_aliases(query: str, field: Field) -> None:
    parsed = parse_filter(query)
    assert isinstance(parsed, Comparison)
    assert parsed.field == field


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("metrics.`val loss` > 1", "val loss"),
        ('metrics."lr.init" > 1', "lr.init"),
        ("metrics.`a-b.c` > 1", "a-b.c"),
        ("metrics.`with``tick` > 1", "with`tick"),
        ('metrics."with\\"quote" > 1', 'with"quote'),
        ("metrics.1st > 1", "1st"),
        ("metrics.CamelCase_2 > 1", "CamelCase_2"),
    ],
)
def test_quoted_and_bare_keys(query: str, key: str) -> None:
    assert parse_filter(query) == cmp(Field("metric", key), ">", 1.0)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'it\\'s'", "it's"),
        ("'back\\\\slash'", "back\\slash"),
        ("'tab\\there'", "tab\there"),
        ("'100\\%'", "100\\%"),
        ("''", ""),
        ("'ünï ✓'", "ünï ✓"),
    ],
)
def test_string_escaping(literal: str, value: str) -> None:
    assert parse_filter(f"tags.t = {literal}") == cmp(Field("tag", "t"), "=", value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0.0),
        ("42", 42.0),
        ("-7", -7.0),
        ("3.25", 3.25),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("1e+2", 100.0),
        ("5.", 5.0),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    assert parse_filter(f"metrics.auc = {literal}") == cmp(AUC, "=", value)


def test_times_accept_iso_datetimes_and_epoch_milliseconds() -> None:
    start = Field("attribute", "start_time")
    expected = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert parse_filter("attributes.start_time > '2024-01-02T03:04:05'") == cmp(
        start, ">", expected
    )
    assert parse_filter("attributes.start_time > '2024-01-02T05:04:05+02:00'") == cmp(
        start, ">", expected
    )
    assert parse_filter(f"attributes.start_time > {int(expected.timestamp() * 1000)}") == cmp(
        start, ">", expected
    )
    assert parse_filter("attributes.end_time is null") == cmp(
        Field("attribute", "end_time"), "is null", None
    )


def test_order_by_entries() -> None:
    assert parse_order_by("metrics.auc DESC") == OrderKey(AUC, descending=True)
    assert parse_order_by("params.lr") == OrderKey(Field("param", "lr"))
    assert parse_order_by("attributes.start_time asc") == OrderKey(Field("attribute", "start_time"))
    assert parse_order_by("  metrics.`val loss`   desc ") == OrderKey(
        Field("metric", "val loss"), descending=True
    )


MALFORMED = [
    # (query, position, a fragment of "expected")
    ("params.a = 'abc", 11, "closing '"),  # unterminated string
    ('params.a = "abc', 11, 'closing "'),  # unterminated double-quoted string
    ("metrics.`val loss > 1", 8, "closing `"),  # unterminated back-quoted key
    ("metrics.auc >", 13, "a value after '>'"),  # missing value at the end
    ("metrics.auc > and metrics.b > 1", 14, "a value after '>'"),  # missing value
    ("foo.bar = 1", 0, "metrics.<key>"),  # unknown prefix
    ("metrics. = 1", 8, "a key after 'metrics.'"),  # prefix with no key
    ("metrics.", 8, "a key after 'metrics.'"),  # prefix with no key at the end
    ("metrics.`` > 1", 8, "a non-empty key"),  # empty quoted key
    ("params.a in ()", 13, "a value in the list"),  # empty in list
    ("params.a in ('x',)", 17, "a value in the list"),  # trailing comma
    ("params.a in ('x' 'y')", 17, "',' or ')'"),  # missing comma
    ("params.a in 'x'", 12, "'(' after 'in'"),  # in without parentheses
    ("(metrics.a > 1", 14, "')' to close the '(' at position 0"),  # unbalanced (
    ("metrics.a > 1)", 13, "no matching '('"),  # unbalanced )
    ("metrics.a > 1 metrics.b > 2", 14, "'and', 'or' or end of query"),  # trailing garbage
    ("metrics.a > 1 and and metrics.b > 1", 18, "a comparison"),  # and and
    ("or metrics.a > 1", 0, "a comparison"),  # leading or
    ("metrics.a > 1 and", 17, "a comparison"),  # dangling and
    ("()", 1, "a comparison"),  # empty parentheses
    ("not", 3, "a comparison"),  # not with nothing after it
    ("metrics.a > 1.2.3", 12, "a number"),  # bad number
    ("metrics.a > 1e", 12, "a number"),  # bad exponent
    ("metrics.a > 12abc", 12, "a number"),  # letters glued to a number
    ("metrics.a > -", 12, "a number"),  # lone minus
    ("metrics.a ~ 1", 10, "an identifier, operator or value"),  # unknown character
    ("metrics.a ! 1", 10, "an operator"),  # lone !
    ("metrics.a", 9, "an operator"),  # no operator
    ("metrics.a == 1", 11, "a value after '='"),  # == is not an operator
    ("params.a is 'x'", 12, "null or not null"),  # is without null
    ("params.a not = 'x'", 13, "like, ilike or in after 'not'"),  # not before =
    ("params.a like 5", 14, "a quoted pattern"),  # unquoted pattern
    ("status = 'x'", 0, "a comparison on metrics.<key>"),  # no prefix
    ("attributes.colour = 'x'", 11, "an attribute"),  # unknown attribute
    ("metrics.auc = 'x'", 14, "metrics compare with numbers"),  # metric vs string
    ("metrics.auc like '0.9%'", 12, "like does not apply to metrics"),  # like on a metric
    ("metrics.auc not ilike 'x'", 16, "ilike does not apply to metrics"),  # ilike on a metric
    ("metrics.auc in (1, 'x')", 19, "metrics compare with numbers"),  # mixed in list
    ("params.lr = 0.1", 12, "params compare as text: write '0.1'"),  # unquoted param
    ("tags.t != 3", 10, "tags compare as text"),  # unquoted tag
    ("attributes.status = 1", 20, "attributes compare as text"),  # unquoted attribute
    ("attributes.start_time > 'yesterday'", 24, "an ISO 8601 datetime"),  # bad time
    ("attributes.end_time like '2024%'", 20, "like does not apply to times"),  # like on time
    ("metrics." + "k" * 251 + " > 1", 8, "at most 250 characters"),  # key too long
    ("params.a = 'x\x00y'", 13, "no NUL characters"),  # PostgreSQL text cannot hold NUL
    ("metrics.a >\n\t", 13, "a value after '>'"),  # control characters in the caret line
]


@pytest.mark.parametrize(("query", "position", "expected"), MALFORMED)
def test_malformed_queries_are_refused_with_a_position(
    query: str, position: int, expected: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(query)
    assert info.value.details["position"] == position
    assert expected in info.value.details["expected"]
    # The message names the position and points at it with a caret under the query.
    message = info.value.message
    assert message.startswith(f"at position {position}: expected ")
    lines = message.split("\n")
    assert len(lines) == 3
    assert lines[2].index("^") - 2 == position - max(0, position - 60)
    shown = query[max(0, position - 60) : position + 20]
    assert lines[1][2:] == "".join(c if c.isprintable() else " " for c in shown)


def test_message_reads_naturally() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter("metrics.auc > 0.9 and params.m >")
    assert info.value.message == (
        "at position 32: expected a value after '>', found end of query\n"
        "  metrics.auc > 0.9 and params.m >\n"
        "                                  ^"
    )


def test_query_length_limit() -> None:
    ok = "metrics.a > 1" + " " * (MAX_QUERY_LENGTH - 13)
    assert parse_filter(ok) == cmp(Field("metric", "a"), ">", 1.0)
    with pytest.raises(InvalidArgument) as info:
        parse_filter(ok + " ")
    assert info.value.details == {
        "position": MAX_QUERY_LENGTH,
        "expected": f"a query of at most {MAX_QUERY_LENGTH} characters",
    }


def test_nesting_depth_limit() -> None:
    deep = "(" * MAX_DEPTH + "metrics.a > 1" + ")" * MAX_DEPTH
    assert parse_filter(deep) == cmp(Field("metric", "a"), ">", 1.0)
    with pytest.raises(InvalidArgument) as info:
        parse_filter("(" + deep + ")")
    assert info.value.details["position"] == MAX_DEPTH
    assert info.value.details["expected"] == f"at most {MAX_DEPTH} levels of nesting"
    with pytest.raises(InvalidArgument) as info:
        parse_filter("not " * (MAX_DEPTH + 1) + "metrics.a > 1")
    assert info.value.details["position"] == 4 * MAX_DEPTH


def test_hostile_nesting_does_not_blow_the_stack() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter("(" * 5000)
    assert info.value.details["position"] == MAX_DEPTH


def test_in_list_limit() -> None:
    values = ", ".join(str(i) for i in range(MAX_IN_ITEMS))
    parsed = parse_filter(f"metrics.a in ({values})")
    assert isinstance(parsed, Comparison)
    assert isinstance(parsed.value, tuple)
    assert len(parsed.value) == MAX_IN_ITEMS
    query = f"metrics.a in ({values}, 7)"
    with pytest.raises(InvalidArgument) as info:
        parse_filter(query)
    assert info.value.details["position"] == len(query) - 2
    assert info.value.details["expected"] == f"at most {MAX_IN_ITEMS} values in an 'in' list"


@pytest.mark.parametrize(
    ("entry", "position", "expected"),
    [
        ("", 0, "an order_by entry"),
        ("metrics.auc downwards", 12, "asc, desc or end"),
        ("metrics.auc desc desc", 17, "asc, desc or end"),
        ("auc desc", 0, "a comparison on metrics.<key>"),
        ("metrics.", 8, "a key after 'metrics.'"),
        ("attributes.size", 11, "an attribute"),
        ("metrics.`x", 8, "closing `"),
    ],
)
def test_malformed_order_by(entry: str, position: int, expected: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_order_by(entry)
    assert info.value.details["position"] == position
    assert expected in info.value.details["expected"]
