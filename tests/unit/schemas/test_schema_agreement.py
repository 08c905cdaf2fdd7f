"""One definition of the wire format: the published JSON Schema files and the decoder
(`schemas.decode.validate_event`) accept and refuse the same documents.

Documents are generated from each event type's committed JSON Schema (`from_schema`
below: every keyword the files use, and an error on any other, so a new keyword cannot
go unexercised), then mutated the ways a producer gets them wrong: a required
field dropped, wrong JSON types, numbers as strings, times without an offset or in
another format, values out of range, extra fields, odd versions, types and account ids.
Every document is checked against the union schema (events/event.json), and against its
own type's schema while its `type` is unchanged, with a validator that asserts nothing
beyond the keywords (no format checker): what a downstream team runs."""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from schemas.decode import validate_event
from schemas.errors import DecodeError
from schemas.events import MODEL_BY_TYPE
from schemas.jsonschema import JSON_DIR

TYPES = sorted(MODEL_BY_TYPE)


@cache
def schema_of(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads((JSON_DIR / "events" / f"{name}.json").read_bytes())
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema_of(name))


ANNOTATIONS = {"$id", "title", "description", "default", "x-family", "format", "$defs"}
"""Keywords that say nothing about validity (`format` is an annotation for a validator
without a format checker; the time fields carry a `pattern` that does the checking)."""


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A strategy for the documents `schema` accepts, for the keywords the event schemas
    use; any other keyword is an error."""
    root = root or schema
    if "$ref" in schema:
        assert schema["$ref"].startswith("#/$defs/"), schema
        return from_schema(root["$defs"][schema["$ref"].removeprefix("#/$defs/")], root)
    unknown = set(schema) - ANNOTATIONS - {
        "type", "properties", "required", "anyOf", "const", "enum", "pattern", "minLength",
        "maxLength", "minimum", "maximum",
    }  # fmt: skip
    assert not unknown, f"the generator does not know {unknown}"
    if "anyOf" in schema:
        return st.one_of([from_schema(option, root) for option in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind == "object":
        required = set(schema.get("required", []))
        fields = {k: from_schema(v, root) for k, v in schema["properties"].items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
    if kind == "string":
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            return st.from_regex(schema["pattern"]).filter(
                lambda s: shortest <= len(s) and (longest is None or len(s) <= longest)
            )
        return st.text(min_size=shortest, max_size=longest)
    if kind == "integer":
        return st.integers(low, high)
    if kind == "number":
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            None if low is None else math.ceil(low), None if high is None else math.floor(high)
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise AssertionError(f"the generator does not know type {kind!r}")


@cache
def documents(event_type: str) -> Any:
    """Valid documents of `event_type`, generated from its schema (built once)."""
    return from_schema(schema_of(event_type))


def decoder_accepts(doc: Any) -> bool:
    try:
        validate_event(doc)
    except DecodeError:
        return False
    return True


def assert_agree(doc: Any, event_type: str) -> None:
    decoder = decoder_accepts(doc)
    union = validator("event").is_valid(doc)
    assert union == decoder, (
        f"event.json {'accepts' if union else 'refuses'}, the decoder "
        f"{'accepts' if decoder else 'refuses'}: {doc!r}"
    )
    if isinstance(doc, dict) and doc.get("type") == event_type:
        own = validator(event_type).is_valid(doc)
        assert own == decoder, f"{event_type}.json says {own}, the decoder {decoder}: {doc!r}"


def properties(event_type: str) -> dict[str, dict[str, Any]]:
    props: dict[str, dict[str, Any]] = schema_of(event_type)["properties"]
    return props


def kinds(prop: dict[str, Any]) -> set[str]:
    """The JSON types a property takes (through anyOf and $ref'd enums)."""
    if "type" in prop:
        return {prop["type"]}
    out: set[str] = set()
    for option in prop.get("anyOf", []):
        out |= kinds(option)
    if "$ref" in prop or "enum" in prop:
        out.add("string")
    return out


def is_time(prop: dict[str, Any]) -> bool:
    return prop.get("format") == "date-time" or any(
        o.get("format") == "date-time" for o in prop.get("anyOf", [])
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

TIME_FORMS = [
    "2026-01-31T09:30:00",  # no offset
    "2026-01-31T09:30:00.123",  # no offset, with a fraction
    "2026-01-31 09:30:00Z",  # a space for the T
    "2026-01-31t09:30:00z",  # lower case
    "2026-01-31T09:30Z",  # no seconds
    "2026-01-31",  # a date
    "2026-02-30T00:00:00Z",  # no such day
    "2027-02-29T00:00:00Z",  # not a leap year
    "2028-02-29T00:00:00Z",  # a leap year
    "2000-02-29T00:00:00Z",
    "2026-01-31T24:00:00Z",
    "2026-01-31T23:59:60Z",  # a leap second
    "2026-01-31T09:30:00+24:00",
    "2026-01-31T09:30:00+0100",  # no colon in the offset
    "2026-01-31T09:30:00.1234567890Z",  # ten digits of fraction
    "1970-01-01T00:00:00Z",  # the first second accepted
    "1970-01-01T00:30:00+01:00",  # before it in UTC
    "1969-12-31T23:30:00-01:00",  # after it in UTC, written in 1969
    "2099-12-31T23:59:59Z",  # the last second accepted
    "2099-12-31T23:00:00-02:00",  # 2100 in UTC
    "2100-01-01T00:30:00+01:00",  # 2099 in UTC, written in 2100
    "9999-12-31T23:00:00-12:00",  # overflows in UTC
    "1700000000",  # epoch seconds as a string
    "\u0662\u0660\u0662\u0666-01-31T09:30:00Z",  # Arabic-Indic digits
]


@st.composite
def mutated(draw: st.DrawFn, event_type: str) -> dict[str, Any]:
    """A valid document of `event_type`, changed one way (or not at all)."""
    doc: dict[str, Any] = copy.deepcopy(draw(documents(event_type)))
    props = properties(event_type)
    required = schema_of(event_type).get("required", [])
    name = draw(st.sampled_from(sorted(props)))
    how = draw(
        st.sampled_from(
            [
                "none",
                "drop_required",
                "wrong_type",
                "number_as_string",
                "time_form",
                "out_of_range",
                "extra_field",
                "version",
                "type",
                "account_id",
            ]
        )
    )
    if how == "drop_required" and required:
        doc.pop(draw(st.sampled_from(required)), None)
    elif how == "wrong_type":
        doc[name] = draw(JSON_VALUES)
    elif how == "number_as_string":
        numeric = [n for n, p in props.items() if kinds(p) & {"number", "integer"}]
        if numeric:
            target = draw(st.sampled_from(numeric))
            value = doc.get(target, draw(st.integers(0, 5)))
            doc[target] = draw(st.sampled_from([str(value), f"{value} ", str(float(value))]))
    elif how == "time_form":
        times = [n for n, p in props.items() if is_time(p)]
        doc[draw(st.sampled_from(times))] = draw(st.sampled_from(TIME_FORMS))
    elif how == "out_of_range":
        numeric = [n for n, p in props.items() if kinds(p) & {"number", "integer"}]
        texts = [n for n, p in props.items() if "maxLength" in p or "minLength" in p]
        target = draw(st.sampled_from(numeric + texts))
        p = props[target]
        if target in texts:
            doc[target] = draw(
                st.sampled_from(
                    ["", "x" * (p.get("maxLength", 1) + 1), "x" * p.get("maxLength", 1)]
                )
            )
        else:
            limits = [v for o in [p, *p.get("anyOf", [])] for k, v in o.items() if k in (
                "minimum", "maximum")]  # fmt: skip
            edge = draw(st.sampled_from(limits)) if limits else 0
            doc[target] = edge + draw(st.sampled_from([-1, -0.5, -1e-9, 0, 1e-9, 0.5, 1, 1e300]))
    elif how == "extra_field":
        doc[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in props))] = draw(
            JSON_VALUES
        )
    elif how == "version":
        doc["schema_version"] = draw(
            st.sampled_from(
                [
                    "1.0",
                    "1.9",
                    "01.0",
                    "001.0",
                    "0001.0",
                    "2.0",
                    "0.9",
                    "1.0\n",
                    "1.1234",
                    "\u00b2.0",
                    "1",
                    "1.",
                    ".1",
                    "1.0.0",
                    1.0,
                    None,
                    "\uff11.0",
                ]
            )
        )
    elif how == "type":
        doc["type"] = draw(st.sampled_from([*TYPES, "teleported", None, 1, "Feature_used"]))
    elif how == "account_id":
        at = draw(st.sampled_from(["end", "start", "middle"]))
        c = draw(st.characters(exclude_categories=["Cs"]))
        account = str(doc.get("account_id", "a"))
        doc["account_id"] = {"end": account + c, "start": c + account, "middle": "a" + c + "b"}[at]
    return doc


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schema_and_decoder_agree_on_generated_documents(event_type, data):
    doc = data.draw(documents(event_type), label="generated")
    assert validator(event_type).is_valid(doc)
    assert decoder_accepts(doc), f"the decoder refuses a document its schema generated: {doc!r}"
    assert_agree(doc, event_type)


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schema_and_decoder_agree_on_mutated_documents(event_type, data):
    assert_agree(data.draw(mutated(event_type), label="mutated"), event_type)


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        ({"type": None}, False),  # the issue: the schema accepted a missing type
        ({"ts": "2026-01-31T09:30:00"}, False),  # and a time without an offset
        ({"quantity": "5"}, False),  # the decoder accepted a number as a string
        ({"quantity": 5}, True),
        ({"quantity": 5.5}, True),
        ({"quantity": True}, False),
        ({"ts": 1769851800}, False),  # epoch seconds
        ({"ts": "2026-01-31T09:30:00+01:00"}, True),
        ({"schema_version": "2.0"}, False),
        ({"schema_version": "1.0\n"}, False),
        ({"account_id": "acct\U0001f600"}, False),  # beyond the BMP
    ],
)
def test_the_cases_of_the_issue(change, accepted):
    doc = {
        "event_id": "e1",
        "account_id": "acct-1",
        "ts": "2026-01-31T09:30:00Z",
        "type": "feature_used",
        "user_id": "u1",
        "feature": "reports",
    }
    doc.update(change)
    doc = {k: v for k, v in doc.items() if not (k == "type" and v is None)}
    assert decoder_accepts(doc) is accepted
    assert validator("event").is_valid(doc) is accepted
    assert validator("feature_used").is_valid(doc) is accepted


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [("score", 5.0, True), ("score", 5.5, False), ("score", "5", False), ("score", True, False)],
)
def test_integers_are_json_schema_integers(field, value, accepted):
    doc = {"event_id": "e1", "account_id": "a", "ts": "2026-01-31T09:30:00Z",
           "type": "csat_response", field: value}  # fmt: skip
    assert decoder_accepts(doc) is accepted
    assert validator("event").is_valid(doc) is accepted
