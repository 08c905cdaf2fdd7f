"""Golden samples round-trip, and the committed JSON Schema files match the code."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import orjson
import pytest

from schemas.decode import decode_event
from schemas.events import MODEL_BY_TYPE
from schemas.jsonschema import JSON_DIR, all_schemas, stale_files

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden_events.jsonl"
LINES = GOLDEN.read_bytes().splitlines()


def test_there_is_a_golden_sample_for_every_event_type():
    types = {orjson.loads(line)["type"] for line in LINES}
    assert types == set(MODEL_BY_TYPE)


@pytest.mark.parametrize("line", LINES, ids=lambda b: orjson.loads(b)["type"])
def test_golden_sample_round_trips_through_decode_and_encode(line):
    event = decode_event(line)
    encoded = event.model_dump_json(exclude_none=True).encode()
    assert decode_event(encoded) == event
    original = orjson.loads(line)
    again = orjson.loads(encoded)
    for key, value in original.items():
        if key in ("ts", "due", "term_end"):
            assert decode_event(encoded).model_dump()[key] == event.model_dump()[key]
        else:
            assert again[key] == value, key


@pytest.mark.parametrize("line", LINES, ids=lambda b: orjson.loads(b)["type"])
def test_golden_sample_is_valid_against_its_published_json_schema(line):
    data = orjson.loads(line)
    schema = orjson.loads((JSON_DIR / "events" / f"{data['type']}.json").read_bytes())
    jsonschema.validate(data, schema)
    union = orjson.loads((JSON_DIR / "events" / "event.json").read_bytes())
    jsonschema.validate(data, union)


def test_json_schema_rejects_what_the_decoder_rejects():
    data = orjson.loads(LINES[6])  # nps_response
    data["score"] = 11
    schema = orjson.loads((JSON_DIR / "events" / "nps_response.json").read_bytes())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_committed_json_schema_files_match_the_code():
    assert stale_files() == [], "run `make schemas` and commit schemas/json"
    on_disk = {str(p.relative_to(JSON_DIR)) for p in JSON_DIR.rglob("*.json")}
    assert on_disk == set(all_schemas())
