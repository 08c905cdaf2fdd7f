"""Write generated events to a file (JSONL or Parquet) for replay or score-file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

PARQUET_SUFFIXES = {".parquet", ".pq"}


def write_events(path: Path, events: Iterable[dict[str, Any]]) -> int:
    """Write events to `path` (Parquet by suffix, else JSONL); return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = list(events)
        pq.write_table(pa.Table.from_pylist(rows), path)
        return len(rows)
    count = 0
    with path.open("wb") as f:
        for event in events:
            f.write(orjson.dumps(event) + b"\n")
            count += 1
    return count
