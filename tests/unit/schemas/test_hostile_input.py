"""Hostile and careless input: every field of every event type, whatever a producer sends,
gives an event or a DecodeError naming the field, never another exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.decode import decode_event, validate_event
from schemas.errors import DeadLetterReason as R
from schemas.errors import DecodeError
from schemas.events import EventBase

GOLDEN: list[dict[str, Any]] = [
    orjson.loads(line)
    for line in (Path(__file__).resolve().parents[2] / "fixtures" / "golden_events.jsonl")
    .read_bytes()
    .splitlines()
]
FEATURE = {
    "event_id": "e1",
    "account_id": "a1",
    "ts": "2026-03-01T12:00:00Z",
    "type": "feature_used",
    "user_id": "u",
    "feature": "reports",
}


def refusal(data: dict[str, Any]) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_event(orjson.dumps(data))
    return info.value


@pytest.mark.parametrize(
    "version", ["\u00b2.0", "1.\u00b9", "\u0661.0", "\uff11.0", "1" * 5000 + ".0"]
)
def test_a_version_with_non_ascii_or_endless_digits_is_refused_naming_the_field(version):
    error = refusal({**FEATURE, "schema_version": version})
    assert (error.reason, error.field) == (R.INVALID_FIELD, "schema_version")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ts", "9999-12-31T23:00:00-12:00"),  # past year 9999 once in UTC
        ("ts", "0001-01-01T00:00:00+01:00"),  # before year 1 once in UTC
        ("ts", "9999-12-31T00:00:00Z"),  # representable, implausible
        ("ts", "1969-12-31T23:59:59Z"),
        ("ts", "2100-01-01T00:00:00Z"),
    ],
)
def test_a_time_out_of_range_is_refused_naming_the_field(field, value):
    error = refusal({**FEATURE, field: value})
    assert (error.reason, error.field) == (R.INVALID_FIELD, field)


@pytest.mark.parametrize(
    ("type_", "field", "extra"),
    [
        ("milestone_planned", "due", {"milestone_id": "m"}),
        ("subscription_started", "term_end", {"plan": "p", "mrr": 1, "seats": 1}),
    ],
)
def test_other_times_that_overflow_in_utc_are_refused_naming_the_field(type_, field, extra):
    data = {**FEATURE, "type": type_, **extra, field: "9999-12-31T23:00:00-12:00"}
    error = refusal(data)
    assert (error.reason, error.field) == (R.INVALID_FIELD, field)


def test_the_earliest_and_latest_accepted_times():
    assert decode_event(orjson.dumps({**FEATURE, "ts": "1970-01-01T00:00:00Z"})).ts == datetime(
        1970, 1, 1, tzinfo=UTC
    )
    assert decode_event(orjson.dumps({**FEATURE, "ts": "2099-12-31T23:59:59Z"})).ts.year == 2099


@pytest.mark.parametrize(
    "account_id",
    [
        "acct\u200b1",  # zero-width space (Cf)
        "acct\u00001",  # NUL (Cc)
        "acct1 ",  # trailing space
        " acct1",  # leading space
        "acct1\u00a0",  # trailing no-break space
        "acct1\u3000",  # trailing ideographic space
        "acct\u202e1",  # right-to-left override (Cf)
        "acct\ufeff1",  # byte order mark (Cf)
        "acct\u20281",  # line separator (Zl)
        "acct\u20291",  # paragraph separator (Zp)
        "acct\ue0001",  # private use (Co)
        "acct\U000e00011",  # language tag (Cf)
        "acct\u08ff\u0378",  # U+0378 is unassigned (Cn)
        "acct\t1",
        "acct\n1",
        "acct\x7f1",
        "acct\x851",  # NEL (Cc)
    ],
)
def test_look_alike_account_ids_are_refused(account_id):
    error = refusal({**FEATURE, "account_id": account_id})
    assert (error.reason, error.field) == (R.INVALID_FIELD, "account_id")


@pytest.mark.parametrize(
    "account_id", ["acct-1", "Acme Corp", "café", "アカウント-7", "ü", "a.b/c:d"]
)
def test_ordinary_account_ids_in_any_script_are_accepted(account_id):
    assert (
        decode_event(orjson.dumps({**FEATURE, "account_id": account_id})).account_id == account_id
    )


def test_a_lone_surrogate_in_an_account_id_is_refused():
    raw = json.dumps({**FEATURE, "account_id": "acct\udc801"}).encode()
    with pytest.raises(DecodeError):
        decode_event(raw)
    with pytest.raises(DecodeError) as info:
        validate_event({**FEATURE, "account_id": "acct\udc801"})
    assert info.value.field == "account_id"


def test_the_json_schema_pattern_agrees_with_the_decoder_on_every_bmp_character():
    """Except surrogates and unassigned code points, which only the decoder refuses."""
    import re
    import unicodedata

    from schemas.events import ACCOUNT_ID_PATTERN

    pattern = re.compile(ACCOUNT_ID_PATTERN)
    disagree = []
    for cp in range(0x10000):
        c = chr(cp)
        if unicodedata.category(c) in {"Cs", "Cn"}:
            continue
        for account_id in (f"a{c}b", f"{c}b", f"a{c}", c):
            in_schema = pattern.search(account_id) is not None
            try:
                validate_event({**FEATURE, "account_id": account_id})
                accepted = True
            except DecodeError:
                accepted = False
            if in_schema != accepted:
                disagree.append((hex(cp), account_id, in_schema, accepted))
    assert disagree == []


# --- every field of every event type, hostile values ----------------------------------

DIGITS = "0123456789\u00b2\u00b3\u00b9\u0660\u0661\u06f1\u0967\uff11\u2070\u2460\U0001d7ce"
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec=None, categories=None), max_size=20),
    st.text(alphabet=DIGITS + ".-+:TZ ", max_size=12),
    st.builds(
        lambda parts: ".".join(parts),
        st.lists(st.text(alphabet=DIGITS, min_size=1, max_size=4), min_size=1, max_size=3),
    ),
    st.builds(
        lambda y, mo, d, h, sign, oh, om: (
            f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:00:00{sign}{oh:02d}:{om:02d}"
        ),
        st.integers(1, 9999),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
    st.sampled_from(
        [
            "9999-12-31T23:00:00-12:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999999-23:59",
            "\u00b2.0",
            "1." + "9" * 5000,
            "",
            "\x00",
            "\ud800",
            "NaN",
            "Infinity",
            "-0",
            "1e308",
        ]
    ),
)
extreme_numbers = st.one_of(
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 2**63, 2**64 - 1, -(2**63), 2**53 + 1, 10**18]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
)
python_only = st.one_of(  # what a Parquet row can hold and JSON cannot
    st.floats(),  # NaN and infinities
    st.integers(min_value=-(2**200), max_value=2**200),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.binary(max_size=10),
)
scalar = st.one_of(st.none(), st.booleans(), hostile_text, extreme_numbers)
json_value = st.recursive(
    scalar,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def hostile_event(draw, values):
    event = dict(draw(st.sampled_from(GOLDEN)))
    fields = sorted(event)
    for key in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4, unique=True)):
        event[key] = draw(values)
    return event


def decodes_or_refuses(call, *args: Any) -> EventBase | DecodeError:
    try:
        return call(*args)
    except DecodeError as exc:
        assert exc.reason and exc.detail
        return exc


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_event(json_value))
def test_hostile_values_in_any_field_never_raise_anything_but_decode_error(event):
    # stdlib json keeps lone surrogates (as \\udxxx escapes) and writes NaN/Infinity
    raw = json.dumps(event).encode()
    decodes_or_refuses(decode_event, raw)
    decodes_or_refuses(validate_event, event)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_event(st.one_of(scalar, python_only)))
def test_hostile_python_values_from_a_parquet_row_never_raise_anything_but_decode_error(event):
    decodes_or_refuses(validate_event, event)


@settings(max_examples=400)
@given(st.sampled_from(GOLDEN), st.text(st.characters(codec=None), min_size=1, max_size=20))
def test_an_accepted_account_id_has_no_control_format_or_edge_whitespace(event, account_id):
    result = decodes_or_refuses(validate_event, {**event, "account_id": account_id})
    if isinstance(result, EventBase):
        import unicodedata

        assert result.account_id == account_id == account_id.strip()
        assert not any(
            unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
            for c in account_id
        )
