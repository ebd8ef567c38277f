"""Numeric requests as row blocks: read in one NumPy call, joined and checked once per batch,
with the same predictions and the same errors as the ordinary path."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import SignatureViolation
from mlsteward.models import Signature, infer_signature
from mlsteward.models._model_dir import load_model_dir
from mlsteward.serving import ServedModel
from mlsteward.serving._batching import Batcher
from mlsteward.serving._row_blocks import (
    BlockChecker,
    RowBlock,
    block_from_columns,
    block_from_rows,
    table_input,
)

from ._support import iris_frame, save_iris_model


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("iris") / "model"
    return folder, save_iris_model(folder)


def _block(frame: pd.DataFrame) -> RowBlock:
    return RowBlock(tuple(frame.columns), frame.to_numpy())


@pytest.mark.parametrize(
    ("rows", "dtype"),
    [([[1.5, 2.0], [3.0, 4.25]], "float64"), ([[1, 2], [3, -4]], "int64")],
    ids=["floats", "ints"],
)
def test_rows_of_one_number_type_become_a_block(rows: list[Any], dtype: str) -> None:
    block = block_from_rows(rows, ["a", "b"])
    assert block is not None
    assert block.names == ("a", "b")
    assert block.values.dtype == dtype
    assert block.values.tolist() == rows
    assert len(block) == 2


@pytest.mark.parametrize(
    "rows",
    [
        [[1, 2.5]],  # ints and floats: enforcement must see the ints
        [[1.0, "x"]],
        [[1.0, None]],
        [[1.0, True]],
        [[1.0, 2.0], [3.0]],  # ragged
        [[1.0, 2.0, 3.0]],  # wider than the names
        [1.0, 2.0],  # not rows
        [{"a": 1.0, "b": 2.0}],
        [[2**70, 1]],  # beyond int64
        [[[1.0], [2.0]]],  # nested
    ],
    ids=["mixed", "text", "null", "bool", "ragged", "wide", "flat", "objects", "huge", "nested"],
)
def test_rows_a_block_cannot_hold_are_left_to_the_ordinary_path(rows: list[Any]) -> None:
    assert block_from_rows(rows, ["a", "b"]) is None


def test_columns_of_one_numeric_dtype_become_a_block_others_a_frame() -> None:
    same = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])}
    block = table_input(same)
    assert isinstance(block, RowBlock)
    assert block.values.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    mixed = {"a": np.array([1.0, 2.0]), "b": np.array([3, 4])}
    assert block_from_columns(mixed) is None
    frame = table_input(mixed)
    assert isinstance(frame, pd.DataFrame)
    assert frame["b"].dtype == np.int64
    assert block_from_columns({"a": np.array(["x"], dtype=object)}) is None


def test_a_block_as_a_frame_keeps_names_and_values() -> None:
    frame = RowBlock(("x", "y"), np.array([[1.0, 2.0]])).to_frame()
    assert list(frame.columns) == ["x", "y"]
    assert frame.to_numpy().tolist() == [[1.0, 2.0]]


def _signature() -> Signature:
    x, _ = iris_frame()
    return infer_signature(x)


def test_the_fast_check_reorders_columns_and_drops_extra_ones() -> None:
    x, _ = iris_frame()
    names = list(x.columns)
    shuffled = x[[*reversed(names)]].assign(extra=1.0)
    frame = BlockChecker(_signature()).frame([_block(shuffled.head(3)), _block(shuffled.iloc[3:5])])
    assert list(frame.columns) == names
    assert frame.to_numpy().tolist() == x.head(5).to_numpy().tolist()


def test_the_fast_check_steps_aside_for_what_it_cannot_vouch_for() -> None:
    x, _ = iris_frame()
    checker = BlockChecker(_signature())
    assert checker.frame([_block(x.iloc[:, :3].head(2))]) is None  # a column is missing
    ints = RowBlock(tuple(x.columns), np.ones((2, 4), dtype=np.int64))
    assert checker.frame([ints]) is None  # another dtype: the ordinary path casts or refuses
    nan = x.head(2).to_numpy().copy()
    nan[1, 2] = np.nan
    assert checker.frame([RowBlock(tuple(x.columns), nan)]) is None
    other_order = x[list(reversed(x.columns))].head(1)
    assert checker.frame([_block(x.head(1)), _block(other_order)]) is None  # layouts differ


def test_blocks_in_a_batch_give_the_models_predictions_and_bad_ones_fail_alone(
    iris: tuple[Path, Any],
) -> None:
    folder, model = iris
    loaded = load_model_dir(folder)
    inner = loaded.predictor
    gate = threading.Event()

    class _Gated:
        def predict(self, frame: Any) -> Any:
            gate.wait(timeout=30)
            return inner.predict(frame)

    loaded.predictor = _Gated()
    served = ServedModel("iris", "1", loaded, "sklearn")
    x, _ = iris_frame()
    nan = x.iloc[[7]].to_numpy().copy()
    nan[0, 0] = np.nan

    async def main() -> list[Any]:
        batcher = Batcher(served, threads=1)
        tasks = [asyncio.create_task(batcher.predict(_block(x.iloc[[i]]))) for i in range(6)]
        tasks.append(asyncio.create_task(batcher.predict(RowBlock(tuple(x.columns), nan))))
        ints = RowBlock(tuple(x.columns), np.array([[5, 3, 1, 0]], dtype=np.int64))
        tasks.append(asyncio.create_task(batcher.predict(ints)))  # cast safely by enforcement
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        return results

    *good, nan_result, int_result = asyncio.run(main())
    assert [r.tolist() for r in good] == [[v] for v in model.predict(x.head(6)).tolist()]
    assert isinstance(nan_result, SignatureViolation)
    assert "not nullable" in nan_result.message
    assert nan_result.details["column"] == x.columns[0]
    as_floats = pd.DataFrame([[5.0, 3.0, 1.0, 0.0]], columns=x.columns)
    assert int_result.tolist() == model.predict(as_floats).tolist()
