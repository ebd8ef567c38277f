"""Model inputs and outputs as tables for the prediction log, and PII masking of logged rows.

Inputs: a pandas DataFrame as it is; a ``RowBlock`` (anything with ``to_frame()``) as its
frame; a 1-D NumPy array as one column ``input``; a 2-D array as columns ``0`` .. ``k-1``; a
dict of arrays as one column per 1-D array and ``name.i`` per column of a 2-D one. Outputs:
a 1-D array (or an (n, 1) one, or a Series) is the column ``prediction``; a 2-D array gives
``prediction.0`` ..; a DataFrame or dict of arrays gives ``prediction.<name>``. An output
column whose name an input column already has gets the prefix ``output:``. Anything else
(images, ragged or 3-D tensors) is not tabulated: ``None``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["block_tables", "input_frame", "mask_frame", "output_frame", "row_count", "row_ids"]

MAX_TENSOR_COLUMNS: Final = 256
FULL_MASK: Final = "****"


def _columns_of(name: str, array: Any, columns: dict[str, Any]) -> bool:
    import numpy as np

    array = np.asarray(array)
    if array.ndim == 1:
        columns[name] = array
        return True
    if array.ndim == 2 and array.shape[1] == 1:
        columns[name] = array[:, 0]
        return True
    if array.ndim == 2 and array.shape[1] <= MAX_TENSOR_COLUMNS:
        for i in range(array.shape[1]):
            columns[f"{name}.{i}"] = array[:, i]
        return True
    return False


def input_frame(data: Any) -> Any | None:
    """``data`` (a model input) as a pandas DataFrame, or None when it is not tabular."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    to_frame = getattr(data, "to_frame", None)
    if callable(to_frame) and not isinstance(data, pd.Series):
        frame = to_frame()
        return frame.reset_index(drop=True) if isinstance(frame, pd.DataFrame) else None
    if isinstance(data, pd.Series):
        return pd.DataFrame({str(data.name or "input"): data.to_numpy()})
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            return pd.DataFrame({"input": data})
        if data.ndim == 2 and data.shape[1] <= MAX_TENSOR_COLUMNS:
            return pd.DataFrame(data, columns=[str(i) for i in range(data.shape[1])])
        return None
    if isinstance(data, Mapping) and data:
        columns: dict[str, Any] = {}
        for name, array in data.items():
            if not _columns_of(str(name), array, columns):
                return None
        if len({len(v) for v in columns.values()}) != 1:
            return None
        return pd.DataFrame(columns)
    return None


def output_frame(output: Any, rows: int, taken: set[str]) -> Any | None:
    """The model's ``output`` for ``rows`` rows as a DataFrame of prediction columns (names not
    in ``taken``), or None when it does not give one value (or row) per input row."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {}
    if isinstance(output, pd.DataFrame):
        for name in output.columns:
            columns[f"prediction.{name}"] = output[name].to_numpy()
    elif isinstance(output, pd.Series):
        columns["prediction"] = output.to_numpy()
    elif isinstance(output, Mapping):
        for name, array in output.items():
            if not _columns_of(f"prediction.{name}", array, columns):
                return None
    else:
        try:
            array = np.asarray(output)
        except (ValueError, TypeError):  # ragged lists
            return None
        if array.ndim == 0 or not _columns_of("prediction", array, columns):
            return None
    if not columns or any(len(v) != rows for v in columns.values()):
        return None
    return pd.DataFrame(
        {(f"output:{name}" if name in taken else name): v for name, v in columns.items()}
    )


def mask_frame(frame: Any, mask_columns: Mapping[str, str | None]) -> Any:
    """``frame`` with the values of ``mask_columns`` (name -> PII class or None) masked: by
    ``mlsteward.privacy.mask_value`` for a known class, else completely (``****``); missing
    values stay missing."""
    import pandas as pd

    from ..privacy import PiiClass, mask_value

    present = [name for name in mask_columns if name in frame.columns]
    if not present:
        return frame
    frame = frame.copy()
    for name in present:
        pii_class = mask_columns[name]
        known = PiiClass(pii_class) if pii_class is not None else None

        def mask(value: object, known: PiiClass | None = known) -> object:
            if value is None or (isinstance(value, float) and value != value):
                return None
            return FULL_MASK if known is None else mask_value(value, known)

        frame[name] = pd.array([mask(v) for v in frame[name].tolist()], dtype="string")
    return frame


def row_count(data: Any) -> int:
    """Rows of a model input (1 for anything without a length)."""
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    if isinstance(data, Mapping) and data:
        first = next(iter(data.values()))
        first_shape = getattr(first, "shape", None)
        if isinstance(first_shape, tuple) and first_shape:
            return int(first_shape[0])
    try:
        return len(data)
    except TypeError:
        return 1


def row_ids(ids: Sequence[str] | None, rows: int, request_id: str | None) -> list[str]:
    """The prediction ids of ``rows`` rows: ``ids`` (the protocol's), else ``<request id>-<row>``
    (a random prefix without a request id)."""
    if ids is not None and len(ids) == rows:
        return [str(i) for i in ids]
    prefix = request_id or os.urandom(16).hex()
    return [f"{prefix}-{row}" for row in range(rows)]


def block_tables(items: list[Any]) -> tuple[list[Any], list[Any]]:
    """``(inputs, outputs, ids)`` tables of the prediction log's submissions (``data``,
    ``output``, ``rows``, ``ids``, ``request_id``) in the common case, made the fast way, and
    the other submissions.

    Under single-row load most submissions are a ``RowBlock`` (numbers of one dtype) with a
    1-D output: those with the same columns become one table through one
    ``np.concatenate``, instead of two small DataFrames each and a concatenation of them all
    (which cost the server's event loop its GIL time)."""
    import numpy as np
    import pandas as pd

    groups: dict[tuple[Any, ...], list[Any]] = {}
    rest = []
    for item in items:
        names = getattr(item.data, "names", None)
        values = getattr(item.data, "values", None)
        output = item.output
        if (
            type(item.data).__name__ == "RowBlock"
            and isinstance(names, tuple)
            and isinstance(values, np.ndarray)
            and values.ndim == 2
            and isinstance(output, np.ndarray)
            and output.ndim == 1
            and len(output) == item.rows == len(values)
        ):
            groups.setdefault((names, values.dtype, output.dtype), []).append(item)
        else:
            rest.append(item)
    tables = []
    for (names, _, _), group in groups.items():
        columns = [str(n) for n in names]
        inputs = pd.DataFrame(np.concatenate([i.data.values for i in group]), columns=columns)
        name = "output:prediction" if "prediction" in columns else "prediction"
        outputs = pd.DataFrame({name: np.concatenate([i.output for i in group])})
        ids = [i for s in group for i in row_ids(s.ids, s.rows, s.request_id)]
        tables.append((inputs, outputs, ids))
    return tables, rest
