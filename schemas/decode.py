"""Bytes in, a typed event or a `DecodeError` out: the ingestion contract.

The order of checks is the order of cost, cheapest first, and each failure
names the first thing that was wrong:

1. size (`MAX_MESSAGE_BYTES`) before parsing anything;
2. JSON (orjson) and that it is an object;
3. `schema_version`: an unknown *major* version is refused, a newer *minor*
   version is accepted and its unknown extra fields are ignored;
4. `type`: known, and belonging to the topic's family when one is given;
5. the model's own field checks (pydantic).

Nothing else escapes: an unexpected exception while validating one message
becomes a `DecodeError` too (`invalid_field`), so one bad message can never
stop a consumer. Checks on text that stands for numbers accept ASCII digits
only (`str.isdigit` also accepts superscripts and other scripts' digits).
"""

from __future__ import annotations

import re
from typing import Any, cast

import orjson
from pydantic import ValidationError

from schemas.errors import DeadLetterReason, DecodeError
from schemas.events import (
    FAMILY_BY_TYPE,
    MODEL_BY_TYPE,
    SCHEMA_MAJOR,
    Event,
    Family,
)

MAX_MESSAGE_BYTES = 16 * 1024
SUPPORTED_MAJORS = frozenset({SCHEMA_MAJOR})
_VERSION = re.compile(r"([0-9]{1,9})\.([0-9]{1,9})")


def decode_event(raw: bytes | str, family: Family | None = None) -> Event:
    """Decode and validate one message; raise `DecodeError` with a reason."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DecodeError(
            DeadLetterReason.TOO_LARGE,
            f"message is {len(raw)} bytes, the limit is {MAX_MESSAGE_BYTES}",
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(DeadLetterReason.INVALID_JSON, str(exc)) from None
    return validate_event(data, family)


def validate_event(data: Any, family: Family | None = None) -> Event:
    """Validate an already-parsed JSON value (as from a JSONL or Parquet row)."""
    if not isinstance(data, dict):
        raise DecodeError(
            DeadLetterReason.NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}"
        )
    _check_version(data.get("schema_version"))
    event_type = data.get("type")
    if event_type is None:
        raise DecodeError(DeadLetterReason.MISSING_FIELD, "field required", "type")
    model = MODEL_BY_TYPE.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise DecodeError(
            DeadLetterReason.UNKNOWN_TYPE, f"unknown event type {str(event_type)[:64]!r}", "type"
        )
    if family is not None and FAMILY_BY_TYPE[event_type] is not family:
        raise DecodeError(
            DeadLetterReason.WRONG_TOPIC,
            f"{event_type!r} is a {FAMILY_BY_TYPE[event_type].value} event, not {family.value}",
            "type",
        )
    try:
        return cast(Event, model.model_validate(data))
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    except Exception as exc:  # a validator's bug must not become the consumer's crash
        raise DecodeError(
            DeadLetterReason.INVALID_FIELD,
            f"could not be validated ({type(exc).__name__}: {str(exc)[:200]})",
        ) from None


def _check_version(version: Any) -> None:
    if version is None:
        return  # the envelope default applies: the current version
    if not isinstance(version, str):
        raise DecodeError(
            DeadLetterReason.INVALID_FIELD, "must be a string like '1.0'", "schema_version"
        )
    match = _VERSION.fullmatch(version)
    if match is None:
        raise DecodeError(
            DeadLetterReason.INVALID_FIELD,
            f"{version[:32]!r} is not MAJOR.MINOR (ASCII digits)",
            "schema_version",
        )
    major = match.group(1)
    if int(major) not in SUPPORTED_MAJORS:
        supported = ", ".join(str(m) for m in sorted(SUPPORTED_MAJORS))
        raise DecodeError(
            DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION,
            f"major version {major} is not supported (supported: {supported})",
            "schema_version",
        )


def _from_validation_error(exc: ValidationError) -> DecodeError:
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    reason = (
        DeadLetterReason.MISSING_FIELD
        if first["type"] == "missing"
        else DeadLetterReason.INVALID_FIELD
    )
    more = exc.error_count() - 1
    detail = first["msg"] + (f" (and {more} more error{'s' * (more > 1)})" if more else "")
    return DecodeError(reason, detail, field)
