"""Numeric table requests as one 2-D block: parsed without pandas, batched with one
``np.concatenate``, checked against the signature and made a DataFrame once per batch.

Profiled under single-row load, building a pandas DataFrame per request (its column index
above all) and checking each request's frame column by column took a third of the server's
time. A request whose columns are all numbers of one dtype (the common case: features) becomes
a ``RowBlock`` instead; the batcher joins the blocks of a batch and ``block_frame`` checks the
joined block against the signature in a few vectorised operations. Anything the fast check
cannot vouch for (another dtype, a missing column, a null where none is allowed) goes the
ordinary way (``RowBlock.to_frame`` then ``enforce_signature``), which gives the precise error.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..models import Signature

_NUMBER_KINDS = "biuf"
# JSON rows whose values are all of one of these Python types become a block of that dtype;
# mixed ints and floats do not (enforcement must see the ints to refuse a lossy cast).
_ROW_DTYPES = {float: "float64", int: "int64"}


@dataclass(frozen=True, slots=True, eq=False)
class RowBlock:
    """Rows of a table whose columns are numbers of one dtype: ``values`` has one row per table
    row and one column per name in ``names``."""

    names: tuple[str, ...]
    values: npt.NDArray[Any]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def to_frame(self) -> Any:
        """The block as a pandas DataFrame (sharing its values)."""
        import pandas as pd

        return pd.DataFrame(self.values, columns=_column_index(self.names), copy=False)


@functools.lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> Any:
    # An object index: pandas would otherwise infer an Arrow string index per frame, which cost
    # more than the rest of the frame. Index objects are immutable, so frames may share one.
    import pandas as pd

    return pd.Index(list(names), dtype=object)


def as_table(data: Any) -> Any:
    """``data`` with a ``RowBlock`` turned into a DataFrame (anything else as it is)."""
    return data.to_frame() if type(data) is RowBlock else data


def table_input(columns: Mapping[str, npt.NDArray[Any]]) -> Any:
    """Table input of ``columns`` (name -> 1-D NumPy array): a ``RowBlock`` when they are all
    numbers of one dtype, else a pandas DataFrame."""
    import pandas as pd

    block = block_from_columns(columns)
    return block if block is not None else pd.DataFrame(dict(columns), copy=False)


def block_from_columns(columns: Mapping[str, npt.NDArray[Any]]) -> RowBlock | None:
    """The columns (name -> 1-D array, of equal length) as a block when they are all numbers
    of one dtype; else None."""
    import numpy as np

    arrays = list(columns.values())
    if not arrays or arrays[0].dtype.kind not in _NUMBER_KINDS:
        return None
    dtype = arrays[0].dtype
    if any(array.dtype != dtype for array in arrays):
        return None
    return RowBlock(tuple(columns), np.column_stack(arrays))


def block_from_rows(rows: Sequence[Any], names: Sequence[str]) -> RowBlock | None:
    """Positional JSON rows (lists of ``len(names)`` values) as a block when every value is a
    float, or every value is an int that fits int64; else None (the caller's ordinary path
    then reads them, with its precise errors for rows that do not fit)."""
    import numpy as np

    try:
        kinds = set(map(type, itertools.chain.from_iterable(rows)))
    except TypeError:  # a row that is not a list
        return None
    if len(kinds) != 1:
        return None
    dtype = _ROW_DTYPES.get(kinds.pop())
    if dtype is None:
        return None
    try:
        values = np.array(rows, dtype=dtype)
    except (ValueError, OverflowError):  # ragged rows, ints beyond int64
        return None
    if values.shape != (len(rows), len(names)):
        return None
    return RowBlock(tuple(names), values)


class BlockChecker:
    """Checks joined blocks against one signature; remembers, per column layout, which block
    columns feed the model's columns (use from one thread at a time, or accept a duplicate
    computation)."""

    def __init__(self, signature: Signature) -> None:
        self._schema = signature.inputs
        self._names = tuple(str(name) for name in self._schema.names)
        self._plans: dict[tuple[tuple[str, ...], Any], tuple[list[int], list[int]] | None] = {}

    def frame(self, blocks: Sequence[RowBlock]) -> Any:
        """The model-ready DataFrame of ``blocks`` (joined in order), or None when the fast
        check cannot vouch for them (the caller then checks them the ordinary way)."""
        import numpy as np
        import pandas as pd

        names, dtype = blocks[0].names, blocks[0].values.dtype
        if any(b.names != names or b.values.dtype != dtype for b in blocks):
            return None
        key = (names, dtype)  # the dtype itself: its name is slow to read
        if key not in self._plans:
            self._plans[key] = self._plan(names, dtype.name)
        plan = self._plans[key]
        if plan is None:
            return None
        order, not_nullable = plan
        values = (
            blocks[0].values if len(blocks) == 1 else np.concatenate([b.values for b in blocks])
        )
        if not_nullable and dtype.kind == "f" and np.isnan(values[:, not_nullable]).any():
            return None
        if order != list(range(len(names))):
            values = values[:, order]
        return pd.DataFrame(values, columns=_column_index(self._names), copy=False)

    def _plan(self, names: tuple[str, ...], dtype: str) -> tuple[list[int], list[int]] | None:
        if self._schema.kind != "table":
            return None
        position = {name: index for index, name in enumerate(names)}
        order: list[int] = []
        not_nullable: list[int] = []
        for spec in self._schema.columns:
            index = position.get(str(spec.name))
            if index is None or spec.dtype != dtype:
                return None
            if not spec.nullable:
                not_nullable.append(index)
            order.append(index)
        return order, not_nullable
