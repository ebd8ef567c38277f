"""Signatures (inference, storage, enforcement) and input examples."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import InvalidArgument, SignatureViolation
from mlsteward.models._enforce import enforce_signature
from mlsteward.models._input_example import MAX_EXAMPLE_BYTES, InputExample
from mlsteward.models._signature import (
    MAX_COLUMNS,
    ColumnSpec,
    Schema,
    Signature,
    infer_signature,
)

I64_MIN, I64_MAX, U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def table(*specs: ColumnSpec) -> Signature:
    return Signature(inputs=Schema("table", specs))


def ns_dates(*text: str) -> Any:
    return np.array(text, dtype="datetime64[ns]")


def wide_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.array([1, 2, 3], dtype="int64"),
            "amount": np.array([1.5, np.nan, 3.0]),
            "small": np.array([1, 2, 3], dtype="int8"),
            "ratio": np.array([0.5, 1.5, 2.5], dtype="float32"),
            "flag": [True, False, True],
            "name": ["a", None, "c"],
            "blob": [b"x", b"y", b"z"],
            "when": ns_dates("2024-01-01", "NaT", "2024-03-01T12:00:00.000000001"),
            "count": pd.array([1, None, 3], dtype="Int64"),
        }
    )


# --- inference and storage --------------------------------------------------------------------


def test_infer_dataframe_names_dtypes_and_nullability() -> None:
    sig = infer_signature(wide_frame())
    assert sig.inputs.kind == "table"
    got = {c.name: (c.dtype, c.nullable) for c in sig.inputs.columns}
    assert got == {
        "id": ("int64", False),
        "amount": ("float64", True),
        "small": ("int8", False),
        "ratio": ("float32", False),
        "flag": ("bool", False),
        "name": ("string", True),
        "blob": ("binary", False),
        "when": ("datetime64[ns]", True),
        "count": ("int64", True),
    }
    assert sig.inputs.names == list(wide_frame().columns)
    assert sig.outputs is None


def test_object_column_of_strings_is_string() -> None:
    frame = pd.DataFrame({"s": pd.Series(["a", "b"], dtype=object)})
    assert infer_signature(frame).inputs.columns[0] == ColumnSpec("s", "string", None, False)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(wide_frame(), id="dataframe"),
        pytest.param(np.zeros((4, 28, 28), dtype="float32"), id="ndarray"),
        pytest.param({"image": np.zeros((2, 3), "uint8"), "mask": np.ones(2, bool)}, id="dict"),
        pytest.param([{"a": 1, "b": "x"}, {"a": None, "c": 2.5}], id="records"),
    ],
)
def test_infer_to_dict_from_dict_round_trip(data: Any) -> None:
    sig = infer_signature(data, np.array([0.1, 0.2]))
    stored = json.loads(json.dumps(sig.to_dict()))
    assert stored["type"] == "mlsteward.signature"
    assert stored["schema_version"] == 1
    assert Signature.from_dict(stored) == sig


def test_infer_tensors_keep_shape_with_variable_batch() -> None:
    sig = infer_signature({"image": np.zeros((2, 3, 4), "uint8"), "score": np.array([1.0, np.nan])})
    image, score = sig.inputs.columns
    assert sig.inputs.kind == "tensor"
    assert image == ColumnSpec("image", "uint8", (-1, 3, 4), False)
    assert score == ColumnSpec("score", "float64", (-1,), True)


def test_infer_records_without_pandas_types() -> None:
    sig = infer_signature([{"a": 1, "b": "x"}, {"a": None, "c": 2.5}, {"a": U64_MAX}])
    assert [(c.name, c.dtype, c.nullable) for c in sig.inputs.columns] == [
        ("a", "uint64", True),
        ("b", "string", True),
        ("c", "float64", True),
    ]


def test_infer_output_series() -> None:
    sig = infer_signature(wide_frame(), pd.Series([0.1, 0.2], name="score"))
    assert sig.outputs == Schema("table", (ColumnSpec("score", "float64"),))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame({0: [1], 1: [2]}), "column names must be strings; got 0 (int)"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column name 'a'"),
        (pd.DataFrame(), "at least one column"),
        (pd.DataFrame({"m": [1, "x"]}), "column 'm': got object (int, str)"),
        (pd.DataFrame({"e": pd.Series([], dtype=object)}), "object (no non-null values)"),
        (pd.DataFrame({"h": np.zeros(2, "float16")}), "column 'h': got float16"),
        (pd.DataFrame({"t": pd.to_datetime(["2024-01-01"]).tz_localize("UTC")}), "UTC"),
        (pd.DataFrame({"c": pd.Categorical(["a"])}), "got category"),
        ([], "at least one record"),
        ([{"a": 1}, 5], "record 1 is a int, not a dict"),
        ([{1: "x"}], "column names must be strings"),
        ({}, "at least one column"),
        ({"x": [1, 2]}, "tensor 'x' must be a numpy array; got list"),
        (np.float64(1.0), "the tensor is a scalar"),
        (np.array(1.0), "scalar"),
        (np.array([1 + 2j]), "got complex128"),
        ("text", "cannot infer a signature from str"),
    ],
)
def test_infer_refuses_bad_input(data: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        infer_signature(data)
    assert message in info.value.message


def test_infer_refuses_a_million_columns_quickly() -> None:
    record = {f"c{i}": 1 for i in range(1_000_000)}
    with pytest.raises(InvalidArgument, match=f"more than the limit of {MAX_COLUMNS}"):
        infer_signature([record])
    frame = pd.DataFrame(np.zeros((1, MAX_COLUMNS + 1)))
    frame.columns = frame.columns.astype(str)
    with pytest.raises(InvalidArgument, match="limit"):
        infer_signature(frame)


def valid_dict() -> dict[str, Any]:
    return table(ColumnSpec("a", "int64"), ColumnSpec("b", "string", nullable=True)).to_dict()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(type="mlflow.signature"), "type"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d.update(schema_version="1"), "schema_version"),
        (lambda d: d.pop("inputs"), "signature.inputs"),
        (lambda d: d.update(extra=1), "signature.extra"),
        (lambda d: d.update(inputs=[]), "inputs"),
        (lambda d: d["inputs"].update(kind="graph"), "inputs.kind"),
        (lambda d: d["inputs"].update(columns={}), "inputs.columns"),
        (lambda d: d["inputs"].update(columns=[]), "inputs.columns"),
        (lambda d: d["inputs"]["columns"][1].update(dtype="float16"), "inputs.columns[1].dtype"),
        (lambda d: d["inputs"]["columns"][0].update(name=5), "inputs.columns[0].name"),
        (lambda d: d["inputs"]["columns"][0].update(name=""), "inputs.columns[0].name"),
        (lambda d: d["inputs"]["columns"][0].update(nullable="yes"), "columns[0].nullable"),
        (lambda d: d["inputs"]["columns"][0].update(shape="3"), "inputs.columns[0].shape"),
        (lambda d: d["inputs"]["columns"][0].update(shape=[-2]), "inputs.columns[0].shape"),
        (lambda d: d["inputs"]["columns"][0].update(shape=[1.5]), "inputs.columns[0].shape"),
        (lambda d: d["inputs"]["columns"][0].pop("nullable"), "inputs.columns[0].nullable"),
        (lambda d: d["inputs"]["columns"][0].update(name=None), "inputs.columns"),
        (lambda d: d["inputs"]["columns"][1].update(name="a"), "inputs.columns"),
        (lambda d: d["inputs"]["columns"].append(7), "inputs.columns[2]"),
        (lambda d: d["inputs"].update(columns=[{}] * 1_000_000), "inputs.columns"),
        (lambda d: d["inputs"].update(kind="tensor"), "inputs.columns"),
    ],
)
def test_from_dict_refuses_malformed_naming_the_field(mutate: Any, field: str) -> None:
    body = valid_dict()
    mutate(body)
    with pytest.raises(InvalidArgument) as info:
        Signature.from_dict(body)
    assert f"'{field}" in info.value.message or f".{field}" in info.value.message
    assert field in info.value.details["field"]


@pytest.mark.parametrize("body", [None, [], "signature", 5])
def test_from_dict_refuses_non_objects(body: Any) -> None:
    with pytest.raises(InvalidArgument, match="must be an object"):
        Signature.from_dict(body)


def test_specs_validate_on_construction() -> None:
    with pytest.raises(InvalidArgument, match="dtype must be one of"):
        ColumnSpec("a", "object")
    with pytest.raises(InvalidArgument, match="1 to 1024 characters"):
        ColumnSpec("x" * 1025, "int64")
    with pytest.raises(InvalidArgument, match="only a schema with a single tensor"):
        Schema("tensor", (ColumnSpec(None, "int64", (-1,)), ColumnSpec("b", "int64", (-1,))))
    with pytest.raises(InvalidArgument, match="needs a shape"):
        Schema("tensor", (ColumnSpec("a", "int64"),))


# --- enforcement ------------------------------------------------------------------------------


def test_enforce_reorders_drops_extras_and_casts_safely() -> None:
    sig = table(
        ColumnSpec("id", "int64"),
        ColumnSpec("amount", "float64"),
        ColumnSpec("ratio", "float64"),
        ColumnSpec("when", "datetime64[ns]"),
    )
    frame = pd.DataFrame(
        {
            "extra": ["x", "y"],
            "ratio": np.array([0.5, 0.25], dtype="float32"),
            "amount": np.array([2**53, -7], dtype="int64"),
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]).as_unit("s"),
            "id": np.array([1, 2], dtype="int32"),
        }
    )
    out = enforce_signature(sig, frame)
    assert list(out.columns) == ["id", "amount", "ratio", "when"]
    assert [str(t) for t in out.dtypes] == ["int64", "float64", "float64", "datetime64[ns]"]
    assert out["amount"].tolist() == [2.0**53, -7.0]
    assert out["when"].iloc[1] == pd.Timestamp("2024-01-02")
    assert "extra" in frame.columns  # the caller's frame is left as it was


def test_enforce_keeps_matching_columns_untouched() -> None:
    frame = wide_frame()
    out = enforce_signature(infer_signature(frame), frame)
    pd.testing.assert_frame_equal(out, frame)


def test_enforce_records_become_a_dataframe() -> None:
    sig = table(ColumnSpec("a", "int64", nullable=True), ColumnSpec("b", "string"))
    out = enforce_signature(sig, [{"b": "x", "a": 3}, {"b": "y", "zzz": 1}])
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b"]
    assert str(out["a"].dtype) == "Int64"
    assert out["a"].tolist() == [3, pd.NA]


def test_enforce_dict_of_columns_stays_a_dict() -> None:
    sig = table(ColumnSpec("a", "float64"), ColumnSpec("b", "int16"))
    out = enforce_signature(sig, {"b": np.array([1, 2], "int64"), "a": [1, 2.5]})
    assert list(out) == ["a", "b"]
    assert out["a"].dtype == np.float64
    assert out["b"].dtype == np.int16


def violation(sig: Signature, data: Any, **kwargs: Any) -> SignatureViolation:
    with pytest.raises(SignatureViolation) as info:
        enforce_signature(sig, data, **kwargs)
    assert info.value.code == "signature_violation"
    return info.value


def test_missing_column_is_named() -> None:
    err = violation(table(ColumnSpec("amount", "float64")), pd.DataFrame({"amt": [1.0]}))
    assert "missing column 'amount' (expected float64 (not nullable)); it has: 'amt'" in str(err)
    assert err.details == {"column": "amount", "expected": "float64", "got": None}


def test_extra_columns_refused_on_request() -> None:
    sig = table(ColumnSpec("a", "int64"))
    err = violation(sig, pd.DataFrame({"a": [1], "b": [2]}), extra_columns="error")
    assert "does not name: 'b'" in str(err)
    assert err.details["column"] == "b"
    with pytest.raises(InvalidArgument, match="extra_columns must be"):
        enforce_signature(sig, pd.DataFrame({"a": [1]}), extra_columns="keep")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "values", "got"),
    [
        (ColumnSpec("amount", "float64"), np.array(["1.5", "2"], dtype=object), "object (strings)"),
        (ColumnSpec("amount", "float64"), pd.Series(["1.5", "2"]), "str (strings)"),
        (ColumnSpec("n", "int64"), np.array([1.5, 2.0]), "float64"),
        (ColumnSpec("n", "float32"), np.array([0.1, 2.0]), "float64"),
        (ColumnSpec("n", "float64"), np.array([2**53 + 1], "int64"), "int64"),
        (ColumnSpec("n", "int8"), np.array([300], "int64"), "int64"),
        (ColumnSpec("n", "uint8"), np.array([-1], "int64"), "int64"),
        (ColumnSpec("n", "int64"), np.array([True]), "bool"),
        (ColumnSpec("s", "string"), np.array([1, 2]), "int64"),
        (ColumnSpec("t", "datetime64[s]"), pd.to_datetime(["2024-01-01 00:00:00.5"]), "us]"),
        (ColumnSpec("m", "int64"), np.array([1, "x"], dtype=object), "object (int, str)"),
    ],
)
def test_lossy_or_wrong_dtype_is_refused(spec: ColumnSpec, values: Any, got: str) -> None:
    data = (
        {"amount": values} if isinstance(values, np.ndarray) else pd.DataFrame({"amount": values})
    )
    if spec.name != "amount":
        data = pd.DataFrame({spec.name: values})
    err = violation(table(spec), data)
    assert f"column {spec.name!r} expected {spec.dtype}, got " in str(err)
    assert got in str(err)
    assert err.details["column"] == spec.name
    assert err.details["expected"] == spec.dtype


def test_nulls_in_non_nullable_column_are_counted() -> None:
    sig = table(ColumnSpec("age", "float64"), ColumnSpec("name", "string"))
    err = violation(sig, pd.DataFrame({"age": [1.0, np.nan, None], "name": ["a", "b", "c"]}))
    assert "column 'age' is not nullable but has 2 null values" in str(err)
    assert err.details == {"column": "age", "expected": "no nulls", "got": "2 nulls"}
    err = violation(sig, [{"age": 1.0, "name": None}])
    assert "column 'name' is not nullable but has 1 null value" in str(err)
    sig = table(ColumnSpec("n", "int32", nullable=True), ColumnSpec("s", "string", nullable=True))
    out = enforce_signature(sig, [{"n": None, "s": None}])
    assert str(out["n"].dtype) == "Int32"
    assert out["s"].isna().all()


def test_tensor_shape_and_dtype() -> None:
    sig = Signature(Schema("tensor", (ColumnSpec(None, "float32", (-1, 28, 28)),)))
    out = enforce_signature(sig, np.zeros((5, 28, 28), dtype="int16"))
    assert out.dtype == np.float32
    err = violation(sig, np.zeros((5, 28, 27), dtype="float32"))
    assert "expected shape (-1, 28, 28), got (5, 28, 27)" in str(err)
    assert err.details == {"column": None, "expected": [-1, 28, 28], "got": [5, 28, 27]}
    err = violation(sig, np.zeros((5, 28), dtype="float32"))
    assert "got (5, 28)" in str(err)
    err = violation(sig, np.zeros((1, 28, 28), dtype="float64"))
    assert "the input tensor expected float32, got float64" in str(err)
    err = violation(sig, pd.DataFrame({"a": [1.0]}))
    assert "must be a numpy array; got DataFrame" in str(err)


def test_named_tensors() -> None:
    sig = infer_signature({"image": np.zeros((2, 3), "uint8"), "mask": np.ones(2, bool)})
    out = enforce_signature(sig, {"mask": np.zeros(4, bool), "image": np.ones((4, 3), "uint8")})
    assert list(out) == ["image", "mask"]
    err = violation(sig, {"image": np.ones((4, 3), "uint8")})
    assert "missing tensor 'mask'" in str(err)
    err = violation(sig, np.zeros((2, 3)))
    assert "expects named tensors 'image', 'mask'" in str(err)


def test_wrong_kind_for_a_table() -> None:
    err = violation(table(ColumnSpec("a", "int64")), np.zeros((2, 1)))
    assert "expects a table with columns 'a'; got ndarray" in str(err)
    err = violation(table(ColumnSpec("a", "int64")), {"a": np.zeros((2, 2), "int64")})
    assert "one-dimensional" in str(err)
    err = violation(
        table(ColumnSpec("a", "int64"), ColumnSpec("b", "int64")),
        {"a": np.zeros(2, "int64"), "b": np.zeros(3, "int64")},
    )
    assert "column 'b' has 3 values but earlier columns have 2" in str(err)
    err = violation(table(ColumnSpec("a", "int64")), pd.DataFrame([[1, 2]], columns=["a", "a"]))
    assert "column 'a' more than once" in str(err)


# --- input examples ---------------------------------------------------------------------------


def extreme_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i64": np.array([I64_MIN, I64_MAX, 0], dtype="int64"),
            "u64": np.array([0, U64_MAX, 1], dtype="uint64"),
            "f64": [np.nan, np.inf, -np.inf],
            "f32": np.array([0.1, -0.0, np.nan], dtype="float32"),
            "s": ["é", None, ""],
            "b": [b"\x00\xff", b"", b"x"],
            "flag": [True, False, True],
            "ns": ns_dates("1677-09-22", "NaT", "2262-04-11T23:47:16.854775807"),
            "us": np.array(["9999-12-31T23:59:59.999999", "1000-01-01", "NaT"], "datetime64[us]"),
            "nullable_int": pd.array([None, I64_MAX, I64_MIN], dtype="Int64"),
        }
    )


def test_table_example_round_trips_exactly() -> None:
    frame = extreme_frame()
    example = InputExample.from_data(frame)
    raw = example.to_json_bytes()
    again = InputExample.from_json_bytes(raw)
    assert again == example
    assert again.to_json_bytes() == raw
    back = again.as_model_input()
    pd.testing.assert_frame_equal(back, frame)
    assert infer_signature(back) == infer_signature(frame)
    record = json.loads(raw)["records"][0]
    assert record["i64"] == I64_MIN
    assert record["f64"] == "NaN"
    assert json.loads(raw)["records"][1]["f64"] == "Infinity"


def test_example_with_signature_is_enforced() -> None:
    sig = table(ColumnSpec("amount", "float64"), ColumnSpec("id", "int64"))
    example = InputExample.from_data([{"id": 1, "amount": 2, "x": "dropped"}])
    out = example.as_model_input(sig)
    assert list(out.columns) == ["amount", "id"]
    assert out["amount"].dtype == np.float64


@pytest.mark.parametrize(
    "array",
    [
        np.array([[np.nan, np.inf], [-np.inf, 1e-300]], dtype="float64"),
        np.array([[0.1, np.nan]], dtype="float32"),
        np.array([I64_MIN, I64_MAX], dtype="int64"),
        np.array([0, U64_MAX], dtype="uint64"),
        np.array(["2024-01-01T00:00:00.000000001", "NaT"], dtype="datetime64[ns]"),
        np.array([["a", "bc"]]),
        np.zeros((2, 0, 3), dtype="int8"),
    ],
)
def test_tensor_example_round_trips_exactly(array: Any) -> None:
    back = InputExample.from_json_bytes(InputExample.from_data(array).to_json_bytes())
    out = back.as_model_input()
    assert out.shape == array.shape
    if array.dtype.kind == "U":
        assert out.tolist() == array.tolist()
    else:
        assert out.dtype == array.dtype
        np.testing.assert_array_equal(out, array)


def test_named_tensor_example_and_row_cap() -> None:
    data = {"x": np.arange(60).reshape(20, 3), "y": np.arange(20.0)}
    example = InputExample.from_data(data, max_rows=4)
    out = InputExample.from_json_bytes(example.to_json_bytes()).as_model_input()
    np.testing.assert_array_equal(out["x"], data["x"][:4])
    np.testing.assert_array_equal(out["y"], data["y"][:4])
    assert len(InputExample.from_data(extreme_frame(), max_rows=1).as_model_input()) == 1
    assert len(InputExample.from_data(pd.DataFrame({"a": range(50)})).as_model_input()) == 10


def test_oversized_examples_are_refused() -> None:
    big = pd.DataFrame({"text": ["x" * 200_000] * 10})
    with pytest.raises(InvalidArgument, match=f"over the limit of {MAX_EXAMPLE_BYTES}"):
        InputExample.from_data(big)
    with pytest.raises(InvalidArgument, match="over the limit"):
        InputExample.from_json_bytes(b" " * (MAX_EXAMPLE_BYTES + 1))
    with pytest.raises(InvalidArgument, match="max_rows must be 1 to 1000"):
        InputExample.from_data(big, max_rows=0)


def good_example() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        InputExample.from_data([{"a": 1, "f": 1.5, "b": "eA=="}]).to_json_bytes()
    )
    return body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"a": NaN}', "bare NaN is not JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"type": "other"}', "type must be"),
        (json.dumps(good_example() | {"schema_version": 9}).encode(), "9 is not supported"),
        (json.dumps(good_example() | {"kind": "graph"}).encode(), "kind must be"),
        (json.dumps(good_example() | {"extra": 1}).encode(), ".extra is not a known field"),
        (json.dumps(good_example() | {"records": []}).encode(), "1 to 1000 rows"),
        (json.dumps(good_example() | {"records": [{"zz": 1}]}).encode(), "records[0]"),
        (json.dumps(good_example() | {"records": [{"a": "1"}]}).encode(), "valid int64"),
        (json.dumps(good_example() | {"records": [{"a": True}]}).encode(), "valid int64"),
        (json.dumps(good_example() | {"records": [{"f": "nan"}]}).encode(), "valid float64"),
        (json.dumps(good_example() | {"records": [{"a": 2**64}]}).encode(), "valid int64"),
        (
            json.dumps(good_example() | {"columns": [{"name": 1, "dtype": "int64"}]}).encode(),
            "name",
        ),
        (
            json.dumps(good_example() | {"columns": [{"name": "a", "dtype": "obj"}]}).encode(),
            "dtype",
        ),
        (
            b'{"type":"mlsteward.input_example","schema_version":1,"kind":"tensor",'
            b'"tensors":[{"name":null,"dtype":"int8","shape":[2],"values":[1]}]}',
            "holds 1 values; shape [2] needs 2",
        ),
        (
            b'{"type":"mlsteward.input_example","schema_version":1,"kind":"tensor",'
            b'"tensors":[{"name":null,"dtype":"int8","shape":[1],"values":[300]}]}',
            "valid int8",
        ),
        (
            b'{"type":"mlsteward.input_example","schema_version":1,"kind":"tensor",'
            b'"tensors":[{"name":null,"dtype":"binary","shape":[1],"values":["!!"]}]}',
            "valid binary",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_from_json_bytes_refuses_malformed(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        InputExample.from_json_bytes(raw)
    assert message in info.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame({"a": pd.Series([], dtype="int64")}), "at least one row"),
        (np.zeros((0, 3)), "at least one row"),
        ("rows", "cannot make an input example from str"),
        (pd.DataFrame({"m": [1, "x"]}), "column 'm': got object (int, str)"),
    ],
)
def test_from_data_refuses_bad_input(data: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        InputExample.from_data(data)
    assert message in info.value.message


# --- without pandas ---------------------------------------------------------------------------


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_modules_imports_neither_pandas_nor_numpy() -> None:
    out = run_python(
        """
        import sys
        import mlsteward.models._signature, mlsteward.models._enforce
        import mlsteward.models._input_example
        print("pandas" in sys.modules, "numpy" in sys.modules)
        """
    )
    assert out == "False False"


def test_pandas_free_path_works_on_numpy_and_records() -> None:
    out = run_python(
        """
        import sys
        sys.modules["pandas"] = None  # any import of pandas now fails, as if not installed
        import numpy as np
        from mlsteward.models._signature import infer_signature
        from mlsteward.models._enforce import enforce_signature
        from mlsteward.models._input_example import InputExample
        records = [{"a": 1, "s": "x"}, {"a": None, "s": "y"}]
        sig = infer_signature(records, np.array([1.0, 2.0]))
        out = enforce_signature(sig, [{"s": "z", "a": 2}, {"s": "w", "a": None}])
        print(type(out).__name__, list(out), out["a"].tolist(), out["s"].dtype)
        back = InputExample.from_data(records).as_model_input(sig)
        print(type(back).__name__, back["a"].tolist())
        tensor = infer_signature(np.zeros((2, 3), "float32"))
        print(enforce_signature(tensor, np.ones((1, 3), "int8")).dtype)
        """
    )
    assert out.splitlines() == [
        "dict ['a', 's'] [2, None] object",
        "dict [1, None]",
        "float32",
    ]
