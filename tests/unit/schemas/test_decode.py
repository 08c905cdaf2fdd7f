"""The ingestion contract: every message is an event or a DecodeError with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.decode import MAX_MESSAGE_BYTES, decode_event
from schemas.errors import DeadLetterReason as R
from schemas.errors import DecodeError
from schemas.events import Family, FeatureUsed, NpsResponse

BASE = {"event_id": "e1", "account_id": "a1", "ts": "2026-03-01T12:00:00Z"}


def msg(**fields: object) -> bytes:
    return orjson.dumps({**BASE, **fields})


def test_a_valid_event_decodes_to_its_model_with_utc_time():
    event = decode_event(msg(type="feature_used", user_id="u", feature="reports", quantity=3))
    assert isinstance(event, FeatureUsed)
    assert event.quantity == 3.0
    assert event.ts == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_offsets_are_normalised_to_utc():
    event = decode_event(msg(type="nps_response", score=9, ts="2026-03-01T14:00:00+02:00"))
    assert isinstance(event, NpsResponse)
    assert event.ts == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_newer_minor_version_with_unknown_fields_is_accepted():
    event = decode_event(msg(type="nps_response", score=10, schema_version="1.7", channel="in-app"))
    assert event.schema_version == "1.7"


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b"{", R.INVALID_JSON, None),
        (b"", R.INVALID_JSON, None),
        (b"\xff\xfe", R.INVALID_JSON, None),
        (b"[1, 2]", R.NOT_AN_OBJECT, None),
        (b'"text"', R.NOT_AN_OBJECT, None),
        (b"x" * (MAX_MESSAGE_BYTES + 1), R.TOO_LARGE, None),
        (msg(score=3), R.MISSING_FIELD, "type"),
        (msg(type="login"), R.UNKNOWN_TYPE, "type"),
        (msg(type=7), R.UNKNOWN_TYPE, "type"),
        (msg(type="nps_response", score=3, schema_version="2.0"), R.UNSUPPORTED_SCHEMA_VERSION,
         "schema_version"),
        (msg(type="nps_response", score=3, schema_version="one"), R.INVALID_FIELD,
         "schema_version"),
        (msg(type="nps_response"), R.MISSING_FIELD, "score"),
        (msg(type="nps_response", score=11), R.INVALID_FIELD, "score"),
        (msg(type="nps_response", score=-1), R.INVALID_FIELD, "score"),
        (msg(type="csat_response", score=0), R.INVALID_FIELD, "score"),
        (msg(type="nps_response", score="nine"), R.INVALID_FIELD, "score"),
        (msg(type="nps_response", score=5, ts="2026-03-01T12:00:00"), R.INVALID_FIELD, "ts"),
        (msg(type="nps_response", score=5, ts="yesterday"), R.INVALID_FIELD, "ts"),
        (msg(type="nps_response", score=5, account_id=""), R.INVALID_FIELD, "account_id"),
        (msg(type="nps_response", score=5, account_id="a" * 129), R.INVALID_FIELD, "account_id"),
        (msg(type="subscription_started", plan="p", mrr=-1, seats=3), R.INVALID_FIELD, "mrr"),
        (msg(type="ticket_opened", ticket_id="t", priority="panic"), R.INVALID_FIELD, "priority"),
        (msg(type="fit_assessed", fit="moral", holds=True), R.INVALID_FIELD, "fit"),
    ],
)  # fmt: skip
def test_bad_messages_are_refused_with_reason_and_field(raw, reason, field):
    with pytest.raises(DecodeError) as info:
        decode_event(raw)
    assert info.value.reason is reason
    assert info.value.field == field
    assert info.value.detail


def test_an_event_on_another_familys_topic_is_refused_as_wrong_topic():
    with pytest.raises(DecodeError) as info:
        decode_event(msg(type="nps_response", score=9), Family.USAGE)
    assert info.value.reason is R.WRONG_TOPIC
    assert "support" in info.value.detail


def test_nan_and_infinity_are_refused():
    raw = b'{"event_id":"e","account_id":"a","ts":"2026-03-01T12:00:00Z","type":"feature_used",' \
          b'"user_id":"u","feature":"f","quantity":1e999}'  # fmt: skip
    with pytest.raises(DecodeError) as info:
        decode_event(raw)
    assert info.value.reason in (R.INVALID_FIELD, R.INVALID_JSON)
