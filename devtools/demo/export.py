"""Write generated events to a file (JSONL or Parquet) for replay or score-file.

A Parquet file has one column per field of any event type (`parquet_schema`), null
where a row's type has no such field; score-file's reader drops those nulls again.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import AwareDatetime

from schemas.events import EVENT_MODELS
from streams.extras import require

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_SUFFIXES = {".parquet", ".pq"}


def _arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type of a field's annotation: times as their wire text (RFC 3339, like
    JSONL), enums and literals as strings, optional fields as their type (nullable)."""
    import pyarrow as pa

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _arrow_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner)
    if origin is typing.Literal:
        return _arrow_type(type(typing.get_args(annotation)[0]))
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return pa.bool_()
        if issubclass(annotation, (str, Enum, datetime, AwareDatetime)):
            return pa.string()
        if issubclass(annotation, int):
            return pa.int64()
        if issubclass(annotation, float):
            return pa.float64()
    raise TypeError(f"no Parquet column type for {annotation!r}")


def parquet_schema() -> pa.Schema:
    """One nullable column per field of any event type, the envelope first; a field that
    two types share has one type."""
    import pyarrow as pa

    columns: dict[str, pa.DataType] = {}
    for models in EVENT_MODELS.values():
        for model in models:
            for name, info in model.model_fields.items():
                arrow = _arrow_type(info.annotation)
                if columns.setdefault(name, arrow) != arrow:
                    raise TypeError(f"field {name!r} is {columns[name]} and {arrow} in {model}")
    return pa.schema([pa.field(name, arrow, nullable=True) for name, arrow in columns.items()])


def _column_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def write_events(path: Path, events: Iterable[dict[str, Any]]) -> int:
    """Write events to `path` (Parquet by suffix, else JSONL); return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        require("pyarrow", "writing Parquet")
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = parquet_schema()
        rows = list(events)
        unknown = {key for row in rows for key in row} - set(schema.names)
        if unknown:
            raise ValueError(f"fields of no event type: {sorted(unknown)}")
        columns = {name: [_column_value(row.get(name)) for row in rows] for name in schema.names}
        pq.write_table(pa.Table.from_pydict(columns, schema=schema), path)
        return len(rows)
    count = 0
    with path.open("wb") as f:
        for event in events:
            f.write(orjson.dumps(event) + b"\n")
            count += 1
    return count
