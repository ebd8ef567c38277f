"""Value ranges from the training data's profile: out-of-range values, NaN where training had
none and (optionally) unseen categories get a 400 naming the column, row, value and range."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import InvalidArgument, SignatureViolation
from mlsteward.models._model_dir import load_model_dir, save_model
from mlsteward.packaging import build_package, generate_signing_key, public_key_to_pem
from mlsteward.profiles import profile_frame
from mlsteward.serving import ModelRepository, ServedModel
from mlsteward.serving._app import create_app
from mlsteward.serving._input_ranges import InputRanges
from mlsteward.serving._sources import load_package_model

from ._support import ready_server
from .test_serve_command import _serving

COLUMNS = ["f0", "f1", "f2", "f3"]


def training_frame() -> pd.DataFrame:
    """Generated training data: f0 in [0, 10], f1 in [-5, 5], f2 in [100, 200], f3 in [0, 1]."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "f0": rng.uniform(0, 10, 300),
            "f1": rng.uniform(-5, 5, 300),
            "f2": rng.uniform(100, 200, 300),
            "f3": rng.uniform(0, 1, 300),
        }
    )
    frame.loc[0, ["f0", "f1", "f2", "f3"]] = [0.0, -5.0, 100.0, 0.0]  # exact minima
    frame.loc[1, ["f0", "f1", "f2", "f3"]] = [10.0, 5.0, 200.0, 1.0]  # exact maxima
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, pd.DataFrame]:
    """A regressor saved with its training data's profile: (folder, fitted model, data)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    x = training_frame()
    y = x["f0"] * 2 + x["f1"]
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(x, y)
    folder = tmp_path_factory.mktemp("ranged") / "model"
    save_model(model, folder, input_example=x.head(3), training_data=x)
    return folder, model, x


def ranges_of(frame: pd.DataFrame, **options: Any) -> InputRanges:
    return InputRanges.from_profile(profile_frame(frame), **options)


# -- the check itself -----------------------------------------------------------------------


def test_ranges_are_the_training_min_max_widened_by_the_tolerance() -> None:
    ranges = ranges_of(training_frame())
    f0, f2 = ranges.ranges["f0"], ranges.ranges["f2"]
    assert (f0.low, f0.high) == pytest.approx((-1.0, 11.0))  # 10 % of the span of 10
    assert (f2.low, f2.high) == pytest.approx((90.0, 210.0))
    assert not f0.nulls_allowed
    exact = ranges_of(training_frame(), tolerance=0)
    assert (exact.ranges["f1"].low, exact.ranges["f1"].high) == (-5.0, 5.0)
    constant = ranges_of(pd.DataFrame({"c": [3.0, 3.0]}), tolerance=0.5)
    assert (constant.ranges["c"].low, constant.ranges["c"].high) == (1.5, 4.5)


@pytest.mark.parametrize(
    ("column", "value"),
    [("f0", 11.5), ("f0", -1.5), ("f2", 1e9), ("f1", float("inf")), ("f3", -float("inf"))],
    ids=["above", "below", "far-above", "plus-infinity", "minus-infinity"],
)
def test_a_value_outside_its_range_is_refused_naming_column_row_value_and_range(
    column: str, value: float
) -> None:
    ranges = ranges_of(training_frame())
    frame = training_frame().head(6).copy()
    frame.loc[4, column] = value
    with pytest.raises(SignatureViolation) as caught:
        ranges.check(frame)
    message = str(caught.value)
    allowed = ranges.ranges[column]
    assert f"column {column!r}, row 4" in message
    assert f"[{allowed.low:.6g}, {allowed.high:.6g}]" in message
    assert caught.value.details["column"] == column
    assert caught.value.details["row"] == 4
    assert caught.value.details["allowed"] == [allowed.low, allowed.high]
    assert caught.value.details["value"] in (value, str(value))


def test_values_within_the_tolerance_pass() -> None:
    ranges = ranges_of(training_frame())
    edge = pd.DataFrame({"f0": [-0.99, 10.99], "f1": [-5.9, 5.9], "f2": [91.0, 209.0]})
    edge["f3"] = [-0.09, 1.09]
    ranges.check(edge)  # no error
    ranges.check(training_frame())


def test_the_first_offending_row_is_named() -> None:
    ranges = ranges_of(training_frame())
    frame = training_frame().head(10).copy()
    frame.loc[7, "f1"] = 50.0
    frame.loc[3, "f3"] = 50.0
    with pytest.raises(SignatureViolation, match=r"column 'f3', row 3: 50\.0 is outside"):
        ranges.check(frame)


def test_nan_is_refused_where_training_had_no_missing_values() -> None:
    training = training_frame()
    training.loc[5, "f3"] = np.nan  # f3 had a missing value in training, the others none
    ranges = ranges_of(training)
    frame = training_frame().head(4).copy()
    frame.loc[2, "f3"] = np.nan
    ranges.check(frame)  # allowed: training had NaN in f3
    frame.loc[1, "f0"] = np.nan
    with pytest.raises(SignatureViolation, match="column 'f0', row 1: a missing value") as caught:
        ranges.check(frame)
    assert caught.value.details == {
        "column": "f0",
        "row": 1,
        "value": None,
        "allowed": "no nulls",
    }


def test_categories_never_seen_in_training_pass_unless_refused() -> None:
    training = pd.DataFrame({"city": ["Oslo", "Lima", "Oslo", "Pune"], "n": [1, 2, 3, 4]})
    request = pd.DataFrame({"city": ["Lima", "Quito"], "n": [2, 3]})
    ranges_of(training).check(request)  # default: a new category is allowed
    strict = ranges_of(training, unseen_categories="reject")
    strict.check(request.head(1))
    with pytest.raises(SignatureViolation, match="'Quito' was never seen in training") as caught:
        strict.check(request)
    assert caught.value.details["row"] == 1
    assert caught.value.details["allowed"] == ["Lima", "Oslo", "Pune"]
    missing = pd.DataFrame({"city": [None], "n": [1]})
    with pytest.raises(SignatureViolation, match="column 'city', row 0: a missing value"):
        strict.check(missing)


def test_categories_are_not_checked_when_training_had_too_many_to_count() -> None:
    training = pd.DataFrame({"id": [f"u{i}" for i in range(1000)]})
    strict = ranges_of(training, unseen_categories="reject")
    assert strict.ranges["id"].categories is None
    strict.check(pd.DataFrame({"id": ["never-seen"]}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tolerance": -0.1}, "tolerance must be a number from 0 to 100"),
        ({"tolerance": float("nan")}, "tolerance must be a number from 0 to 100"),
        ({"tolerance": 101}, "tolerance must be a number from 0 to 100"),
        ({"tolerance": "0.1"}, "tolerance must be a number from 0 to 100"),
        ({"unseen_categories": "maybe"}, "unseen_categories must be 'allow' or 'reject'"),
    ],
    ids=["negative", "nan", "huge", "text", "bad-policy"],
)
def test_bad_options_are_invalid_arguments(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ranges_of(training_frame(), **options)


def test_inputs_that_are_not_tables_are_not_checked() -> None:
    ranges = ranges_of(training_frame())
    ranges.check(np.full((2, 4), 1e9))
    ranges.check({"f0": np.array([1e9])})
    ranges.check(training_frame().head(0))


def test_a_model_carries_its_ranges_and_one_without_a_profile_has_none(
    trained: tuple[Path, Any, pd.DataFrame], tmp_path: Path
) -> None:
    folder, model, x = trained
    ranges = InputRanges.of_model(load_model_dir(folder), tolerance=0)
    assert ranges is not None
    assert (ranges.ranges["f2"].low, ranges.ranges["f2"].high) == (100.0, 200.0)
    save_model(model, tmp_path / "plain", input_example=x.head(3))
    assert InputRanges.of_model(load_model_dir(tmp_path / "plain")) is None


# -- through the server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranged_url(trained: tuple[Path, Any, pd.DataFrame]) -> Iterator[str]:
    folder, _, _ = trained
    loaded = load_model_dir(folder)
    served = ServedModel("gen", "1", loaded, "sklearn", input_ranges=InputRanges.of_model(loaded))
    with ready_server(create_app(ModelRepository([served]), max_batch_rows=64)) as url:
        yield url


def _row(**values: float) -> dict[str, float]:
    return {"f0": 5.0, "f1": 0.0, "f2": 150.0, "f3": 0.5, **values}


def _requests(row: dict[str, float]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "invocations": ("/invocations", {"dataframe_records": [row]}),
        "oip": (
            "/v2/models/gen/infer",
            {
                "inputs": [
                    {"name": c, "datatype": "FP64", "shape": [1], "data": [v]}
                    for c, v in row.items()
                ]
            },
        ),
        "v1": ("/v1/models/gen/predict", {"records": [row]}),
    }


def _message(protocol: str, body: dict[str, Any]) -> str:
    if protocol == "invocations":
        assert body["error_code"] == "BAD_REQUEST"
        return str(body["message"])
    if protocol == "oip":
        return str(body["error"])
    assert body["error"]["code"] == "signature_violation"
    return str(body["error"]["message"])


@pytest.mark.parametrize("protocol", ["invocations", "oip", "v1"])
def test_every_protocol_refuses_an_out_of_range_value_with_a_400(
    ranged_url: str, protocol: str
) -> None:
    path, body = _requests(_row())[protocol]
    fine = httpx.post(ranged_url + path, json=body)
    assert fine.status_code == 200, fine.text
    path, body = _requests(_row(f2=1000.0))[protocol]
    refused = httpx.post(ranged_url + path, json=body)
    assert refused.status_code == 400, refused.text
    message = _message(protocol, refused.json())
    assert "column 'f2', row 0: 1000.0 is outside" in message
    assert "[90, 210]" in message


def test_in_a_concurrent_batch_only_the_out_of_range_request_fails(
    ranged_url: str, trained: tuple[Path, Any, pd.DataFrame]
) -> None:
    _, model, x = trained
    rows = [x.iloc[[i]].to_dict(orient="records")[0] for i in range(24)]
    rows[9] = {**rows[9], "f0": -50.0}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=ranged_url, timeout=60) as client:
            return await asyncio.gather(
                *(client.post("/invocations", json={"dataframe_records": [r]}) for r in rows)
            )

    answers = asyncio.run(burst())
    for i, answer in enumerate(answers):
        if i == 9:
            assert answer.status_code == 400
            assert "column 'f0', row 0: -50.0 is outside" in answer.json()["message"]
        else:
            assert answer.status_code == 200, answer.text
            expected = model.predict(pd.DataFrame([rows[i]]))
            assert answer.json()["predictions"] == pytest.approx(expected.tolist())


def test_nan_is_refused_by_the_server_where_training_had_none(
    trained: tuple[Path, Any, pd.DataFrame], tmp_path: Path
) -> None:
    _, model, x = trained
    example = x.head(3).copy()
    example.loc[1, "f1"] = np.nan  # the signature lets f1 be null; training had no null in it
    save_model(model, tmp_path / "m", input_example=example, training_data=x)
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.signature is not None
    served = ServedModel("gen", "1", loaded, "sklearn", input_ranges=InputRanges.of_model(loaded))
    body = {"dataframe_split": {"columns": COLUMNS, "data": [[5.0, None, 150.0, 0.5]]}}
    with ready_server(create_app(ModelRepository([served]))) as url:
        answer = httpx.post(f"{url}/invocations", json=body)
        assert answer.status_code == 400, answer.text
        assert "column 'f1', row 0: a missing value" in answer.json()["message"]
    unchecked = ServedModel("gen", "1", loaded, "sklearn")
    with ready_server(create_app(ModelRepository([unchecked]))) as url:
        assert httpx.post(f"{url}/invocations", json=body).status_code == 200


# -- packages -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package(
    trained: tuple[Path, Any, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder, _, _ = trained
    root = tmp_path_factory.mktemp("ranged-package")
    key = generate_signing_key()
    output = root / "gen-1.mlsb"
    build_package(
        folder,
        metadata={"model": {"name": "gen", "version": 1}, "flavor": "sklearn"},
        requirements=["scikit-learn==1.0"],
        signing_key=key,
        output=output,
    )
    public = root / "signing.pub.pem"
    public.write_bytes(public_key_to_pem(key.public_key()))
    return output, public


def test_a_package_carries_the_training_profile(package: tuple[Path, Path], tmp_path: Path) -> None:
    from mlsteward.packaging import load_public_key

    path, public = package
    served = load_package_model(
        path, trusted_keys={"test": load_public_key(public.read_bytes())}, work_dir=tmp_path
    )
    ranges = InputRanges.of_model(served.loaded)
    assert ranges is not None
    assert sorted(ranges.ranges) == COLUMNS


@pytest.mark.parametrize("mode", ["reject", "off"])
def test_a_standalone_package_server_enforces_the_ranges_unless_off(
    package: tuple[Path, Path], tmp_path: Path, mode: str
) -> None:
    path, public = package
    args = (str(path), "--trusted-key", str(public), "--input-ranges", mode)
    with _serving(*args, "--range-tolerance", "0.5", home=tmp_path) as (url, _):
        inside = httpx.post(f"{url}/invocations", json={"dataframe_records": [_row(f0=14.0)]})
        assert inside.status_code == 200, inside.text  # 14 < 10 + 50 % of the span
        outside = httpx.post(f"{url}/invocations", json={"dataframe_records": [_row(f0=16.0)]})
        if mode == "off":
            assert outside.status_code == 200, outside.text
        else:
            assert outside.status_code == 400, outside.text
            assert "[-5, 15]" in outside.json()["message"]
