"""A KLL quantile sketch of a whole batch, built in NumPy instead of one binding call per value.

The DataSketches binding's ``update`` costs about 55 ns a value and holds the GIL throughout,
so the columns profiled in parallel threads queue for it; on a 1,000,000-row, 20-column frame
it was most of a profile's time. A KLL sketch is a stack of sorted levels, the items of level
``h`` standing for ``2**h`` values each; a level that overflows is compacted: if its count is
odd its smallest item stays, the others are halved by keeping every second one from a random
start (0 or 1), and the survivors move one level up. Compacting a whole sorted batch that way,
level after level, until what is left fits the capacity of that many levels, gives a valid
sketch of the batch, so it is built here: one ``np.sort`` (which releases the GIL) and a few
strided views, then written in the sketch's serialization (family 15, serial version 1) and
read back by the binding, which checks the size against the capacity it derives itself, before
it is merged into the column's sketch (merging compacts as DataSketches always does).

Each compaction of a sorted level moves any value's rank by less than the level's weight, and
the random starts make those errors cancel on average: the tests measure the rank error within
KLL's bound, and below that of the binding fed the same values one by one.
"""

from __future__ import annotations

import random
import struct
from functools import cache
from typing import Any, Final

import numpy as np

try:
    import datasketches as ds
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ..errors import MissingExtra

    raise MissingExtra(
        "profiles need pyarrow and datasketches: pip install 'mlsteward[data]'"
    ) from exc

__all__ = ["kll_batch_sketch", "kll_total_capacity"]

_M: Final = 8  # DataSketches' minimum level width
_FAMILY: Final = 15
_SERIAL_VERSION: Final = 1
_PREAMBLE_INTS: Final = 5
_LEVEL_ZERO_SORTED: Final = 1 << 1
_MAX_LEVELS: Final = 61


def _capacity_of_depth(k: int, depth: int) -> int:
    """``k * (2/3) ** depth`` rounded to nearest, in integers as DataSketches computes it."""
    if depth <= 30:
        return ((2 * k << depth) // int(3**depth) + 1) >> 1
    half = depth // 2
    return _capacity_of_depth(_capacity_of_depth(k, half), depth - half)


@cache
def kll_total_capacity(k: int, num_levels: int) -> int:
    """How many items a KLL sketch of parameter ``k`` holds with ``num_levels`` levels."""
    if not 1 <= num_levels <= _MAX_LEVELS:
        raise ValueError(f"a KLL sketch has 1 to {_MAX_LEVELS} levels, not {num_levels}")
    return sum(max(_M, _capacity_of_depth(k, depth)) for depth in range(num_levels))


def kll_batch_sketch(values: np.ndarray, k: int) -> Any:
    """A ``kll_doubles_sketch(k)`` of ``values`` (numbers, no NaN), with KLL's guarantees.

    A batch that fits in one level (at most ``k`` values) is fed to the binding and kept
    exactly; a larger one is sorted and compacted here (see the module docs).
    """
    n = len(values)
    if n <= k:
        sketch = ds.kll_doubles_sketch(k)
        if n:
            sketch.update(np.require(values, np.float64, ["C", "W"]))
        return sketch
    ordered = np.sort(values.astype(np.float64, copy=False))
    levels: list[np.ndarray] = []
    top = ordered
    while len(top) + sum(len(level) for level in levels) > kll_total_capacity(k, len(levels) + 1):
        odd = len(top) % 2
        levels.append(top[:odd])  # an odd level keeps its smallest item
        top = top[odd + random.getrandbits(1) :: 2]
    levels.append(top)
    return ds.kll_doubles_sketch.deserialize(_serialize(levels, n, k, ordered[0], ordered[-1]))


def _serialize(levels: list[np.ndarray], n: int, k: int, lo: float, hi: float) -> bytes:
    """DataSketches' serialization of a KLL sketch whose level ``h`` holds ``levels[h]``.

    The items are stored from level 0 up, at the end of a buffer of the sketch's capacity;
    ``levels`` offsets are positions in that buffer (the last one, the capacity, is implied).
    """
    capacity = kll_total_capacity(k, len(levels))
    retained = sum(len(level) for level in levels)
    offsets = []
    position = capacity - retained
    for level in levels:
        offsets.append(position)
        position += len(level)
    header = struct.pack(
        "<BBBBHBBQHBB",
        _PREAMBLE_INTS,
        _SERIAL_VERSION,
        _FAMILY,
        _LEVEL_ZERO_SORTED,
        k,
        _M,
        0,
        n,
        k,
        len(levels),
        0,
    )
    bounds = struct.pack(f"<{len(levels)}Idd", *offsets, lo, hi)
    items = np.concatenate(levels).astype("<f8", copy=False).tobytes()
    return header + bounds + items
