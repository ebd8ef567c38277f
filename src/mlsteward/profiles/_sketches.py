"""Feeding Apache DataSketches sketches a whole batch at a time, without one call per value.

The Python binding of the HyperLogLog sketch has no array update, and the frequent-items sketch
takes one item per call, so a million-row float column used to cost a million Python calls
each. Two reductions keep the sketches exactly what they would be, at a fraction of the calls:

* **HLL**: a value can only change an HLL-mode sketch if its hash raises its register. We hash
  numbers with the same MurmurHash3_x64_128 (seed 9001, the value's 8 bytes) the sketch uses,
  keep per register the smallest second hash half fed so far (a lower bound of the register),
  and feed only the values that may raise it, in their original order. Values that cannot raise
  a register are no-ops for the sketch (registers and the HIP estimator alike), so the result is
  bit for bit the sketch fed every value; a test checks this. While the sketch is still in its
  sparse list/set mode every distinct value matters, so until it turns dense we feed the
  distinct values of each chunk in order of first appearance.
* **Frequent items**: each batch is counted exactly (sort for numbers, Arrow's hash aggregate for
  strings); its 192 most frequent items (the map's capacity) go into a frequent-items sketch of
  the batch whose offset, the error bound, is the count of the next most frequent item, then
  that sketch is merged. That is a valid summary in the sketch's own terms (lower bounds exact,
  every untracked item at most ``offset``), and merging adds the offsets as DataSketches does.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import numpy as np

try:
    import datasketches as ds
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ..errors import MissingExtra

    raise MissingExtra(
        "profiles need pyarrow and datasketches: pip install 'mlsteward[data]'"
    ) from exc

__all__ = [
    "FREQUENT_LG_MAX_K",
    "FREQUENT_TOP",
    "HLL_LG_K",
    "arrow_view",
    "feed_hll_items",
    "feed_hll_numbers",
    "frequent_batch_sketch",
    "hll_is_dense",
    "numeric_top_counts",
    "numpy_view",
    "string_top_counts",
]

HLL_LG_K: Final = 12
FREQUENT_LG_MAX_K: Final = 8
# A frequent-items map of 2**lg_max_k slots holds 0.75 of them before it purges.
FREQUENT_TOP: Final = (3 << FREQUENT_LG_MAX_K) // 4

_U64 = np.uint64
_SEED_XOR_LEN: Final = _U64(9001 ^ 8)  # DataSketches' default seed, xor the key length (8 bytes)
_C1: Final = _U64(0x87C37B91114253D5)
_C2: Final = _U64(0x4CF5AD432745937F)
_F1: Final = _U64(0xFF51AFD7ED558CCD)
_F2: Final = _U64(0xC4CEB9FE1A85EC53)
_S33: Final = _U64(33)
_S31: Final = _U64(31)
_SLOT_MASK: Final = _U64((1 << HLL_LG_K) - 1)
_FIRST_CHUNK: Final = 4096
_DENSE_CHUNK: Final = 8192
_HASH_BLOCK: Final = 65_536
_HLL_MODE: Final = 2  # cur_mode in the low two bits of preamble byte 7: LIST 0, SET 1, HLL 2


def _fmix(h: np.ndarray, tmp: np.ndarray) -> None:
    np.right_shift(h, _S33, out=tmp)
    h ^= tmp
    h *= _F1
    np.right_shift(h, _S33, out=tmp)
    h ^= tmp
    h *= _F2
    np.right_shift(h, _S33, out=tmp)
    h ^= tmp


def murmur3_8byte(keys: np.ndarray, h1: np.ndarray, h2: np.ndarray, tmp: np.ndarray) -> None:
    """MurmurHash3_x64_128 with seed 9001 of 8-byte little-endian keys, into ``h1``, ``h2``.

    All four are uint64 arrays of one length; ``tmp`` is scratch. Works in place: temporaries
    the size of a block would be allocated and returned to the OS on every call.
    """
    np.multiply(keys, _C1, out=h1)
    np.right_shift(h1, _S33, out=tmp)
    np.left_shift(h1, _S31, out=h1)
    h1 |= tmp
    h1 *= _C2
    h1 ^= _SEED_XOR_LEN
    h1 += _SEED_XOR_LEN  # h1 += h2, h2 being seed ^ len (no second block for 8-byte keys)
    np.add(h1, _SEED_XOR_LEN, out=h2)
    _fmix(h1, tmp)
    _fmix(h2, tmp)
    h1 += h2
    h2 += h1


def numpy_view(arr: pa.Array) -> np.ndarray:
    """A read-only NumPy view, without a copy, of an integer or float Arrow array with no nulls.

    Not ``Array.to_numpy``: that goes through pyarrow's pandas conversion, which imports pandas
    on first use, a third of a second for a process that has not loaded it (Polars input).
    """
    dtype = arr.type
    if arr.null_count or not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype)):
        raise ValueError(f"no NumPy view of a {dtype} array with {arr.null_count} nulls")
    kind = "f" if pa.types.is_floating(dtype) else "i" if pa.types.is_signed_integer(dtype) else "u"
    np_type = np.dtype(f"{kind}{dtype.bit_width // 8}")
    if len(arr) == 0:
        return np.empty(0, dtype=np_type)
    data = arr.buffers()[1]
    return np.frombuffer(data, dtype=np_type, count=len(arr), offset=arr.offset * np_type.itemsize)


def arrow_view(values: np.ndarray) -> pa.Array:
    """An Arrow array over a 1-D integer or float NumPy array, without a copy when contiguous.

    Not ``pa.array``: like ``Array.to_numpy`` (see :func:`numpy_view`), it imports pandas.
    """
    values = np.ascontiguousarray(values)
    dtype = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(values)])


def hll_is_dense(hll: Any) -> bool:
    """Whether an HLL sketch has left its sparse list/set mode (it never goes back)."""
    mode: int = hll.serialize_compact()[7] & 3
    return mode == _HLL_MODE


def feed_hll_numbers(hll: Any, values: np.ndarray, floor: np.ndarray | None) -> np.ndarray | None:
    """Update ``hll`` with int64 or float64 ``values`` (no NaN), as if fed one by one.

    ``floor`` is the per-register lower bound kept between batches (None at first); the updated
    bound is returned. Integers are hashed as int64, floats as float64, as the binding does.
    """
    as_float = values.dtype.kind == "f"
    n = len(values)
    pos, chunk = 0, _FIRST_CHUNK
    while pos < n and not hll_is_dense(hll):
        part = values[pos : pos + chunk]
        for value in numpy_view(pc.unique(arrow_view(part))).tolist():  # first-appearance order
            hll.update(float(value) if as_float else int(value))
        pos += len(part)
        chunk *= 2
    if pos >= n:
        return floor
    if floor is None:
        floor = np.full(1 << HLL_LG_K, np.iinfo(np.uint64).max, dtype=np.uint64)
    size = min(_HASH_BLOCK, n - pos)
    keys, h1, h2, tmp = (np.empty(size, dtype=np.uint64) for _ in range(4))
    for block in range(pos, n, _HASH_BLOCK):  # blocks that stay in the CPU cache while hashed
        part = values[block : block + _HASH_BLOCK]
        m = len(part)
        if as_float:
            np.add(part, 0.0, out=keys[:m].view(np.float64))  # the sketch hashes -0.0 as 0.0
        else:
            keys[:m] = part.view(np.uint64)
        hashed = h2[:m]
        murmur3_8byte(keys[:m], h1[:m], hashed, tmp[:m])
        slots = np.bitwise_and(h1[:m], _SLOT_MASK, out=tmp[:m]).view(np.intp)
        for start in range(0, m, _DENSE_CHUNK):
            chunk_slots = slots[start : start + _DENSE_CHUNK]
            chunk_h2 = hashed[start : start + _DENSE_CHUNK]
            candidates = np.flatnonzero(chunk_h2 < floor[chunk_slots])
            if candidates.size == 0:
                continue
            np.minimum.at(floor, chunk_slots[candidates], chunk_h2[candidates])
            for value in part[start + candidates].tolist():
                hll.update(value)
    return floor


def feed_hll_items(hll: Any, items: list[Any]) -> None:
    """Update ``hll`` with distinct Python values (str, int or float), one call each."""
    for item in items:
        hll.update(item)


def numeric_top_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact counts of integer ``values``: the ``FREQUENT_TOP`` most frequent and the offset.

    Returns ``(top_values, top_counts, offset)``, most frequent first (ties by value), where
    ``offset`` is the count of the most frequent value left out (0 if none is).
    """
    ordered = np.sort(values)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    return _top(ordered[starts], counts)


def string_top_counts(values: pa.Array) -> tuple[list[Any], np.ndarray, int, list[Any]]:
    """Exact counts of a string array: ``(top_values, top_counts, offset, distinct_values)``.

    ``distinct_values`` are all distinct values in order of first appearance (for the HLL).
    """
    counted = pc.value_counts(values)
    distinct = counted.field("values").to_pylist()
    counts = numpy_view(counted.field("counts"))
    order, offset = _top_order(counts)
    return [distinct[i] for i in order.tolist()], counts[order], offset, distinct


def _top_order(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """Positions of the ``FREQUENT_TOP`` largest counts (ties by position), largest first, and
    the largest count left out; linear time, as a batch may hold a million distinct values."""
    if len(counts) <= FREQUENT_TOP:
        return np.argsort(-counts, kind="stable"), 0
    offset = int(np.partition(counts, len(counts) - FREQUENT_TOP - 1)[-FREQUENT_TOP - 1])
    above = np.flatnonzero(counts > offset)
    tied = np.flatnonzero(counts == offset)[: FREQUENT_TOP - len(above)]
    chosen = np.sort(np.concatenate((above, tied)))
    return chosen[np.argsort(-counts[chosen], kind="stable")], offset


def _top(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    order, offset = _top_order(counts)
    return values[order], counts[order], offset


def frequent_batch_sketch(
    items: list[str], counts: np.ndarray, total_weight: int, offset: int
) -> Any:
    """A frequent-strings sketch holding ``items`` with exact ``counts`` and error ``offset``.

    Written in DataSketches' serialization (family 10, serial version 1) and read back, so the
    binding validates it; at most ``FREQUENT_TOP`` items, so the map never purges on load.
    """
    if len(items) > FREQUENT_TOP:
        raise ValueError(f"at most {FREQUENT_TOP} items fit without a purge")
    if not items:
        return ds.frequent_strings_sketch(FREQUENT_LG_MAX_K)
    lg = FREQUENT_LG_MAX_K
    header = struct.pack(
        "<BBBBBBHIIQQ", 4, 1, 10, lg, lg, 0, 0, len(items), 0, total_weight, offset
    )
    weights = np.asarray(counts, dtype="<u8").tobytes()
    encoded = [item.encode("utf-8") for item in items]
    body = b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    return ds.frequent_strings_sketch.deserialize(header + weights + body)
