"""JSON Schema files for every wire format, for downstream teams to validate against.

`healthscore schemas export` writes them into `schemas/json/`; a test checks
that the committed files match the code, so they never drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter

from schemas.events import EVENT_MODELS, Event, type_name
from schemas.outputs import Alert, DeadLetter, ScoreRecord, Transition

JSON_DIR = Path(__file__).parent / "json"
OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "score": ScoreRecord,
    "transition": Transition,
    "alert": Alert,
    "dead_letter": DeadLetter,
}


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every event type, the event union and each output."""
    out: dict[str, dict[str, Any]] = {}
    for family, models in EVENT_MODELS.items():
        for model in models:
            schema = model.model_json_schema(mode="validation")
            schema["$id"] = f"healthscore/events/{type_name(model)}.json"
            schema["x-family"] = family.value
            out[f"events/{type_name(model)}.json"] = schema
    union = TypeAdapter(Event).json_schema(mode="validation")
    union["title"] = "Event"
    union["$id"] = "healthscore/events/event.json"
    out["events/event.json"] = union
    for name, output in OUTPUT_MODELS.items():
        schema = output.model_json_schema(mode="serialization")
        schema["$id"] = f"healthscore/outputs/{name}.json"
        out[f"outputs/{name}.json"] = schema
    return out


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def export(directory: Path = JSON_DIR) -> list[Path]:
    """Write every schema file; remove stale ones; return the paths written."""
    written = []
    schemas = all_schemas()
    for name, schema in schemas.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(schema))
        written.append(path)
    for stale in directory.rglob("*.json"):
        if str(stale.relative_to(directory)) not in schemas:
            stale.unlink()
    return written


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Names whose committed file differs from what the code generates."""
    differ = []
    for name, schema in all_schemas().items():
        path = directory / name
        if not path.is_file() or path.read_bytes() != render(schema):
            differ.append(name)
    return differ
