"""Property tests: whatever arrives, decode returns an event or a DecodeError."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.decode import decode_event
from schemas.errors import DecodeError
from schemas.events import EventBase

GOLDEN = [
    orjson.loads(line)
    for line in (Path(__file__).resolve().parents[2] / "fixtures" / "golden_events.jsonl")
    .read_bytes()
    .splitlines()
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


def decodes_or_refuses(raw: bytes) -> EventBase | DecodeError:
    try:
        return decode_event(raw)
    except DecodeError as exc:
        assert exc.reason and exc.detail
        return exc


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_anything_but_decode_error(raw):
    decodes_or_refuses(raw)


@settings(max_examples=400)
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_decode_error(value):
    decodes_or_refuses(orjson.dumps(value))


@st.composite
def mutated_golden(draw):
    event = dict(draw(st.sampled_from(GOLDEN)))
    keys = sorted(event)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        key = draw(st.sampled_from(keys))
        if action == "drop":
            event.pop(key, None)
        elif action == "replace":
            event[key] = draw(json_values)
        else:
            event[draw(st.text(max_size=10))] = draw(json_values)
    return event


@settings(max_examples=600)
@given(mutated_golden())
def test_mutated_golden_samples_decode_or_are_refused_with_a_reason(event):
    result = decodes_or_refuses(orjson.dumps(event))
    if isinstance(result, EventBase):
        # accepted: what it says must be what was sent for the envelope
        assert result.account_id == event["account_id"]
        assert result.event_id == event["event_id"]
        assert result.type == event["type"]
