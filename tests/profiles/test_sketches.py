"""Tests for mlsteward.profiles._sketches: batch feeding equals feeding value by value."""

from __future__ import annotations

from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pytest

from mlsteward.profiles._sketches import (
    FREQUENT_LG_MAX_K,
    FREQUENT_TOP,
    HLL_LG_K,
    arrow_view,
    feed_hll_numbers,
    frequent_batch_sketch,
    hll_is_dense,
    numeric_top_counts,
    numpy_view,
)


def _one_by_one(batches: list[np.ndarray]) -> Any:
    hll = ds.hll_sketch(HLL_LG_K)
    for batch in batches:
        for value in batch.tolist():
            hll.update(value)
    return hll


def _batched(batches: list[np.ndarray]) -> Any:
    hll = ds.hll_sketch(HLL_LG_K)
    floor = None
    for batch in batches:
        floor = feed_hll_numbers(hll, batch, floor)
    return hll


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("floats, high cardinality", np.random.default_rng(1).normal(size=60_000)),
        ("floats, several hash blocks", np.random.default_rng(4).normal(size=400_001)),
        ("floats with signed zeros", np.array([0.0, -0.0, 1.5, -1.5] * 50)),
        ("ints, low cardinality", np.random.default_rng(2).integers(0, 50, 30_000)),
        ("ints near the sparse limit", np.random.default_rng(3).integers(0, 3_000, 30_000)),
        ("ints, sorted with repeats", np.repeat(np.arange(20_000, dtype=np.int64), 3)),
        ("ints, extreme", np.array([-(2**63), 2**63 - 1, 0, -1] * 10, dtype=np.int64)),
        ("one value", np.array([7.25])),
    ],
)
def test_batched_hll_is_bitwise_the_sketch_fed_value_by_value(
    name: str, values: np.ndarray
) -> None:
    batches = np.array_split(values, 4) if len(values) > 4 else [values]
    expected = _one_by_one(batches)
    got = _batched(batches)
    assert got.serialize_compact() == expected.serialize_compact(), name
    assert got.get_estimate() == expected.get_estimate()


def test_dense_mode_is_detected() -> None:
    hll = ds.hll_sketch(HLL_LG_K)
    assert not hll_is_dense(hll)
    feed_hll_numbers(hll, np.arange(10_000, dtype=np.int64), None)
    assert hll_is_dense(hll)


def test_numeric_top_counts_are_exact_with_offset() -> None:
    values = np.concatenate([np.full(1000, 5), np.full(10, 9), np.arange(100, 400)])
    top, counts, offset = numeric_top_counts(values)
    assert len(top) == FREQUENT_TOP
    assert (top[0], counts[0]) == (5, 1000)
    assert (top[1], counts[1]) == (9, 10)
    assert offset == 1  # the most frequent value left out occurs once
    small_top, small_counts, small_offset = numeric_top_counts(np.array([3, 1, 3]))
    assert small_top.tolist() == [3, 1]
    assert small_counts.tolist() == [2, 1]
    assert small_offset == 0


def test_frequent_batch_sketch_keeps_counts_and_offset() -> None:
    sketch = frequent_batch_sketch(["a", "b", "ü"], np.array([50, 7, 3]), 70, 2)
    assert sketch.total_weight == 70
    assert sketch.get_lower_bound("a") == 50
    assert sketch.get_upper_bound("a") == 52
    assert sketch.get_upper_bound("zzz") == 2  # untracked items are bounded by the offset
    assert sketch.get_lower_bound("ü") == 3
    merged = ds.frequent_strings_sketch(FREQUENT_LG_MAX_K)
    merged.merge(sketch)
    merged.merge(sketch)
    assert merged.get_lower_bound("a") == 100
    assert merged.get_upper_bound("zzz") == 4
    assert frequent_batch_sketch([], np.array([], dtype=np.int64), 0, 0).is_empty()
    items = [str(i) for i in range(FREQUENT_TOP + 1)]
    with pytest.raises(ValueError, match="at most"):
        frequent_batch_sketch(items, np.ones(len(items), dtype=np.int64), len(items), 0)


@pytest.mark.parametrize(
    "array",
    [
        pa.array(range(10), type=pa.int64()).slice(3, 5),  # an offset into the buffer
        pa.array([2**64 - 1, 0], type=pa.uint64()),
        pa.array([1.5, -0.0, float("nan")], type=pa.float32()),
        pa.array([-128, 127], type=pa.int8()),
        pa.array([], type=pa.float64()),
    ],
)
def test_numpy_and_arrow_views_keep_values_and_types(array: pa.Array) -> None:
    view = numpy_view(array)
    assert view.dtype == array.type.to_pandas_dtype()
    assert np.array_equal(view, np.array(array.to_pylist(), dtype=view.dtype), equal_nan=True)
    back = arrow_view(view)
    assert (back.type, len(back), back.null_count) == (array.type, len(array), 0)
    assert np.array_equal(back.to_numpy(), view, equal_nan=True)


@pytest.mark.parametrize(
    "array", [pa.array([1, None]), pa.array(["a"]), pa.array([True]), pa.array([1.0, None])]
)
def test_numpy_view_refuses_nulls_and_non_numbers(array: pa.Array) -> None:
    with pytest.raises(ValueError, match="no NumPy view"):
        numpy_view(array)
