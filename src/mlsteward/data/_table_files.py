"""What a table dataset records besides its bytes: schema, row count, profile and PII classes.

A single ``.parquet`` or ``.csv`` file is a table. Parquet is read with pyarrow batch by batch;
CSV is streamed with ``pyarrow.csv`` (UTF-8 only: a file with invalid or mixed encodings is
refused rather than guessed at).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument, MissingExtra

TABLE_SUFFIXES = (".parquet", ".csv")
PII_SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class TableFacts:
    """Schema (``{"columns": [{"name", "type", "nullable"}]}``), row count, serialized
    profile and the PII class detected per column (None: nothing detected)."""

    schema: dict[str, Any]
    row_count: int
    profile: bytes
    pii: dict[str, str | None]

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(c["name"], c["type"]) for c in self.schema["columns"]]


def is_table_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise MissingExtra("table datasets need pyarrow: pip install 'mlsteward[data]'") from None
    return pyarrow


def _schema_json(schema: Any) -> dict[str, Any]:
    return {
        "columns": [
            {"name": str(f.name), "type": str(f.type), "nullable": bool(f.nullable)} for f in schema
        ]
    }


def _pii(sample: Any) -> dict[str, str | None]:
    from ..privacy import classify_frame

    found = classify_frame(sample)
    return {
        name: (c.pii_class.value if c.pii_class is not None else None) for name, c in found.items()
    }


def inspect_table(path: Path, shown: str) -> TableFacts:
    """Read the table file at ``path`` (``shown`` names it in errors).

    Raises ``InvalidArgument`` for an empty file, a file that is not valid Parquet, or a CSV
    that is not UTF-8 or not consistently typed; ``MissingExtra`` without pyarrow.
    """
    pa = _pyarrow()
    if path.stat().st_size == 0:
        raise InvalidArgument(
            f"{shown!r} is empty: a table file needs at least a header (CSV) or a schema "
            "(Parquet); give a non-empty file or rename it to version it as a plain file"
        )
    try:
        if path.suffix.lower() == ".parquet":
            return _inspect_parquet(pa, path)
        return _inspect_csv(pa, path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "UTF-8 CSV"
        raise InvalidArgument(
            f"cannot read {shown!r} as {kind}: {exc} (nothing was recorded)"
        ) from None


def _inspect_parquet(pa: Any, path: Path) -> TableFacts:
    import pyarrow.parquet as pq

    from ..profiles import profile_parquet

    with pq.ParquetFile(path) as parquet:
        schema = parquet.schema_arrow
        row_count = parquet.metadata.num_rows
        first = next(parquet.iter_batches(batch_size=PII_SAMPLE_ROWS), None)
    sample = pa.Table.from_batches([first]) if first is not None else schema.empty_table()
    profile = profile_parquet(path)
    return TableFacts(_schema_json(schema), row_count, _profile_bytes(profile), _pii(sample))


def _inspect_csv(pa: Any, path: Path) -> TableFacts:
    import pyarrow.csv as pcsv

    from ..profiles import DatasetProfile, profile_frame

    reader = pcsv.open_csv(path)
    schema = reader.schema
    for field in schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            # Arrow types text that is not valid UTF-8 as bytes instead of failing.
            raise pa.ArrowInvalid(
                f"column {field.name!r} holds text that is not valid UTF-8 "
                "(another or a mixed encoding): save the file as UTF-8"
            )
    profile = DatasetProfile()
    sample = None
    rows = 0
    for batch in reader:
        table = pa.Table.from_batches([batch])
        if sample is None:
            sample = table.slice(0, PII_SAMPLE_ROWS)
        part = profile_frame(table)
        profile = part if not profile.columns else profile.merge(part)
        rows += batch.num_rows
    if sample is None:
        sample = schema.empty_table()
        profile = profile_frame(sample)
    return TableFacts(_schema_json(schema), rows, _profile_bytes(profile), _pii(sample))


def _profile_bytes(profile: Any) -> bytes:
    return json.dumps(profile.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def table_to_arrow(table: object) -> Any:
    """A pyarrow Table from a pandas DataFrame, a Polars DataFrame or a pyarrow Table or
    RecordBatch; ``InvalidArgument`` for anything else."""
    pa = _pyarrow()
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    module = type(table).__module__
    name = type(table).__name__
    if module.startswith("pandas") and name == "DataFrame":
        return pa.Table.from_pandas(table, preserve_index=False)
    if module.startswith("polars") and name == "DataFrame":
        return table.to_arrow()  # type: ignore[attr-defined]
    raise InvalidArgument(
        f"log_table_version takes a pandas or Polars DataFrame or a pyarrow Table, got {name}"
    )
