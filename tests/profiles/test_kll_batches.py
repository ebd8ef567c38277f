"""Tests for mlsteward.profiles._kll_batches: a batch's KLL sketch built in NumPy.

The sketch is read back by the DataSketches binding, so these tests check what a user of the
profile would notice: the layout the binding accepts (capacities), the rank error against the
exact ranks, and that the sketch keeps working (updates, merges, serialization) afterwards.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import datasketches as ds
import numpy as np
import pytest

from mlsteward.profiles._kll_batches import kll_batch_sketch, kll_total_capacity

K = 200
# KLL's own single-sided rank error bound for k=200 (99 % confidence), about 1.33 %.
BOUND = ds.kll_doubles_sketch.get_normalized_rank_error(K, False)


def _levels_and_capacity(sketch: ds.kll_doubles_sketch) -> tuple[int, int]:
    """(num_levels, capacity) of a sketch, read from its serialization."""
    raw = sketch.serialize()
    num_levels = raw[18]
    (first_offset,) = struct.unpack_from("<I", raw, 20)
    return num_levels, first_offset + sketch.num_retained


def _max_rank_error(sketch: ds.kll_doubles_sketch, values: np.ndarray) -> float:
    """Largest gap between the sketch's CDF and the exact one, at 1,001 points across the data."""
    ordered = np.sort(values)
    points = np.unique(np.quantile(ordered, np.linspace(0.0, 1.0, 1001)))
    exact = np.searchsorted(ordered, points, side="right") / len(ordered)
    estimated = np.asarray(sketch.get_cdf(points.tolist(), True))[:-1]  # inclusive: rank of <=
    return float(np.abs(estimated - exact).max())


def test_the_capacity_is_the_one_the_binding_derives_for_each_number_of_levels() -> None:
    rng = np.random.default_rng(7)
    sketch = ds.kll_doubles_sketch(K)
    seen: dict[int, int] = {}
    chunk = 50
    while len(seen) < 12:
        sketch.update(rng.random(chunk))
        levels, capacity = _levels_and_capacity(sketch)
        seen[levels] = capacity
        chunk = min(chunk * 2, 200_000)
    assert min(seen) == 1
    assert max(seen) >= 12
    for levels, capacity in seen.items():
        assert kll_total_capacity(K, levels) == capacity, levels
    # Deep sketches: every level beyond the first few is the minimum width, 8.
    assert kll_total_capacity(K, 40) - kll_total_capacity(K, 39) == 8
    assert kll_total_capacity(8, 3) == 24


@pytest.mark.parametrize("levels", [0, 62])
def test_a_number_of_levels_outside_the_sketch_s_range_is_refused(levels: int) -> None:
    with pytest.raises(ValueError, match="1 to 61 levels"):
        kll_total_capacity(K, levels)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda rng, n: rng.normal(3.0, 2.0, n), id="normal"),
        pytest.param(lambda rng, n: rng.lognormal(0.0, 2.0, n), id="skewed"),
        pytest.param(lambda rng, n: rng.integers(0, 20, n).astype(float), id="many-ties"),
        pytest.param(lambda rng, n: np.arange(n, dtype=float), id="already-sorted"),
        pytest.param(lambda rng, n: np.arange(n, 0, -1, dtype=float), id="reversed"),
    ],
)
@pytest.mark.parametrize("n", [201, 4_097, 262_144])
def test_a_batch_sketch_is_within_kll_s_rank_error(
    make: Callable[[np.random.Generator, int], np.ndarray], n: int
) -> None:
    rng = np.random.default_rng(n)
    values = make(rng, n)
    for _ in range(5):  # the compaction offsets are random: several draws
        sketch = kll_batch_sketch(values, K)
        assert sketch.n == n
        assert sketch.get_min_value() == values.min()
        assert sketch.get_max_value() == values.max()
        assert sketch.num_retained <= kll_total_capacity(K, _levels_and_capacity(sketch)[0])
        assert _max_rank_error(sketch, values) <= BOUND


def test_a_batch_sketch_is_no_less_accurate_than_the_binding_fed_value_by_value() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(size=100_000)
    ours, theirs = [], []
    for _ in range(10):
        ours.append(_max_rank_error(kll_batch_sketch(values, K), values))
        fed = ds.kll_doubles_sketch(K)
        fed.update(values)
        theirs.append(_max_rank_error(fed, values))
    assert np.mean(ours) <= np.mean(theirs)


@pytest.mark.parametrize("n", [0, 1, 2, 150, K])
def test_a_batch_that_fits_in_one_level_is_kept_exactly(n: int) -> None:
    values = np.random.default_rng(n).normal(size=n)
    sketch = kll_batch_sketch(values, K)
    assert sketch.n == n
    assert sketch.num_retained == n
    assert sketch.is_empty() == (n == 0)
    if n:
        assert not sketch.is_estimation_mode()
        assert _max_rank_error(sketch, values) == 0.0


def test_integers_and_infinities_go_in_as_numbers() -> None:
    values = np.concatenate([np.arange(1_000, dtype=np.int64), [-(2**40), 2**40]])
    sketch = kll_batch_sketch(values, K)
    assert sketch.n == 1_002
    assert sketch.get_min_value() == -(2.0**40)
    assert sketch.get_max_value() == 2.0**40
    with_infinities = np.concatenate([np.linspace(0.0, 1.0, 5_000), [np.inf, -np.inf]])
    sketch = kll_batch_sketch(with_infinities, K)
    assert sketch.get_min_value() == -np.inf
    assert sketch.get_max_value() == np.inf
    assert abs(sketch.get_quantile(0.5) - 0.5) < BOUND


def test_the_sketch_keeps_working_after_updates_merges_and_a_round_trip() -> None:
    rng = np.random.default_rng(3)
    batches = [rng.normal(i, 1.0, 262_144) for i in range(4)]
    merged = ds.kll_doubles_sketch(K)
    for batch in batches:
        merged.merge(kll_batch_sketch(batch, K))
    extra = rng.normal(1.5, 1.0, 100_000)
    merged.update(extra)  # the binding's own update on top of a merged batch sketch
    everything = np.concatenate([*batches, extra])
    assert merged.n == len(everything)
    assert merged.num_retained <= kll_total_capacity(K, _levels_and_capacity(merged)[0])
    assert _max_rank_error(merged, everything) <= BOUND
    again = ds.kll_doubles_sketch.deserialize(merged.serialize())
    assert again.n == merged.n
    assert again.get_quantiles([0.1, 0.5, 0.9]) == merged.get_quantiles([0.1, 0.5, 0.9])
    # A batch sketch merged into a sketch fed value by value, and the other way round.
    fed = ds.kll_doubles_sketch(K)
    fed.update(batches[0])
    fed.merge(kll_batch_sketch(batches[1], K))
    assert _max_rank_error(fed, np.concatenate(batches[:2])) <= BOUND
    batch = kll_batch_sketch(batches[2], K)
    batch.update(batches[3])
    assert _max_rank_error(batch, np.concatenate(batches[2:])) <= BOUND


def test_the_input_array_is_left_as_it_was() -> None:
    values = np.random.default_rng(5).normal(size=10_000)
    before = values.copy()
    kll_batch_sketch(values, K)
    assert np.array_equal(values, before)
