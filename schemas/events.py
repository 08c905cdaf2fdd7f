"""Input event models: the four families of the domain, version 1.

Every event shares the envelope (`event_id`, `account_id`, `ts`, `type`,
`schema_version`) and adds the fields of its type. Models are frozen;
unknown extra fields are ignored so that a producer on a newer minor
version of the schema is still accepted (see `schemas.decode`).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
)

SCHEMA_MAJOR = 1
SCHEMA_MINOR = 1
SCHEMA_VERSION = f"{SCHEMA_MAJOR}.{SCHEMA_MINOR}"

MAX_ID_LEN = 128
MAX_NAME_LEN = 128
MAX_TEXT_LEN = 2000
MAX_MONEY = 1e9


MIN_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
"""An event's `ts` is in [MIN_EVENT_TIME, MAX_EVENT_TIME): the state keeps event seconds
as unsigned 32-bit numbers, and nothing older or newer is a plausible customer event."""

ACCOUNT_ID_FORBIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode general categories refused in an account id: control, format (zero-width and
bidi marks), surrogate, private use, unassigned, line and paragraph separators."""


def _bmp_class(categories: frozenset[str]) -> str:
    r"""The BMP code points of `categories` as the inside of a regex class: `\uXXXX` and
    `\uXXXX-\uYYYY` ranges, which ECMA-262 and Python's `re` read alike."""
    parts, first = [], None
    for cp in range(0x10001):
        inside = cp < 0x10000 and unicodedata.category(chr(cp)) in categories
        if inside and first is None:
            first = cp
        elif not inside and first is not None:
            last = cp - 1
            parts.append(f"\\u{first:04x}" + (f"-\\u{last:04x}" if last > first else ""))
            first = None
    return "".join(parts)


ACCOUNT_ID_PATTERN = (
    rf"^(?![\s\S]*[^\u0000-\uffff])(?![\s\S]*[{_bmp_class(ACCOUNT_ID_FORBIDDEN)}])"
    r"[^\s](?:[\s\S]*[^\s])?(?![\s\S])"
)
"""The account id rule as a JSON Schema pattern, in the syntax common to ECMA-262 and
Python's `re`: characters of the Basic Multilingual Plane only, none of the categories
of `ACCOUNT_ID_FORBIDDEN` (listed as ranges, from this Python's Unicode database, as the
decoder reads it), and no whitespace first or last; it ends in `(?![\s\S])`, not `$`,
which in Python also matches before a final newline. Characters beyond the BMP are
refused three ways that agree: `[^\u0000-\uffff]` matches them in Python and in a
JavaScript validator with the `u` flag, and without it a JavaScript validator sees each as
two surrogates, which the forbidden ranges include. Tests check that the pattern and the
decoder agree on every BMP character and on generated ids."""

_DATE = (
    r"(?:(?:19[7-9][0-9]|20[0-9]{2})-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:19(?:7[26]|8[048]|9[26])|20(?:[02468][048]|[13579][26]))-02-29)"
)
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_HHMM = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
WIRE_TIME_PATTERN = (
    rf"^(?:(?!1970-01-01|2099-12-31){_DATE}{_TIME}(?:Z|[+-]{_HHMM})"
    rf"|1970-01-01{_TIME}(?:Z|[+-]00:00|-{_HHMM})"
    rf"|2099-12-31{_TIME}(?:Z|[+-]00:00|\+{_HHMM}))(?![\s\S])"
)
"""A time on the wire (`ts`, `due`, `term_end`), as a JSON Schema pattern that Python and
JavaScript read alike: RFC 3339 with a `T`, seconds and an offset (`Z` or `+hh:mm`), a
real calendar date written from 1970-01-01 to 2099-12-31, where the first day takes no
positive offset and the last no negative one (zero aside), so that the time in UTC is
always inside [MIN_EVENT_TIME, MAX_EVENT_TIME). The decoder checks the same pattern before
parsing: the schema and the service refuse the same strings."""
_WIRE_TIME = re.compile(WIRE_TIME_PATTERN)


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-12:00 is past year 9999 in UTC
        raise ValueError("is out of range once converted to UTC") from None


def _event_time(value: datetime) -> datetime:
    value = _to_utc(value)
    if not MIN_EVENT_TIME <= value < MAX_EVENT_TIME:
        raise ValueError(
            f"must be from {MIN_EVENT_TIME.date()} up to (not including) {MAX_EVENT_TIME.date()}"
        )
    return value


def _wire_time(value: Any) -> Any:
    """A string must be a time as `WIRE_TIME_PATTERN` says (a datetime built in Python
    passes on to the other checks); numbers and other JSON values are refused."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _WIRE_TIME.match(value) is None:
        raise ValueError(
            "must be an RFC 3339 date-time with seconds and an offset, like "
            "2026-01-31T09:30:00Z or 2026-01-31T10:30:00+01:00, from 1970-01-01T00:00:00Z "
            "up to (not including) 2100-01-01T00:00:00Z"
        )
    return value


def _json_integer(value: Any) -> Any:
    """An integer field takes what JSON Schema calls an integer: a JSON integer, or a
    number with a zero fraction (5.0); never a string or a boolean (the strict check
    after this refuses those)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_account_id(value: str) -> str:
    """Refuse ids that look like another account's: see `ACCOUNT_ID_FORBIDDEN`, and any
    character beyond the Basic Multilingual Plane (see `ACCOUNT_ID_PATTERN`)."""
    if value.isascii():
        if not value.isprintable():
            bad = next(c for c in value if not c.isprintable())
            raise ValueError(f"must not contain control characters (found U+{ord(bad):04X})")
    else:
        for c in value:
            if ord(c) > 0xFFFF:
                raise ValueError(
                    f"must not contain U+{ord(c):04X}: account ids are characters of the "
                    "Basic Multilingual Plane (U+0000 to U+FFFF)"
                )
            category = unicodedata.category(c)
            if category in ACCOUNT_ID_FORBIDDEN:
                raise ValueError(
                    f"must not contain U+{ord(c):04X} (Unicode category {category}: control, "
                    f"format, surrogate, private-use, unassigned or line/paragraph separator)"
                )
    if value != value.strip():
        raise ValueError("must not begin or end with whitespace")
    return value


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LEN)]
AccountId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LEN,
        json_schema_extra={"pattern": ACCOUNT_ID_PATTERN},
    ),
    AfterValidator(_check_account_id),
]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LEN)]
Text = Annotated[str, Field(max_length=MAX_TEXT_LEN)]


JsonInteger = BeforeValidator(_json_integer)
"""With `Strict()`, an integer field takes what JSON Schema calls an integer: 5 or 5.0,
never "5", 5.5 or true. A number field is `Strict()` alone: "5" and true are refused, as
JSON Schema refuses them, and an integer is a number."""


Money = Annotated[float, Strict(), Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]
"""true or false, not 1 or "true" (which JSON Schema's boolean refuses)."""
UtcTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
WireTime = Annotated[
    AwareDatetime,
    BeforeValidator(_wire_time),
    AfterValidator(_event_time),
    Field(
        description=(
            "RFC 3339 with seconds and an offset, from 1970-01-01T00:00:00Z up to (not "
            "including) 2100-01-01T00:00:00Z"
        ),
        json_schema_extra={"pattern": WIRE_TIME_PATTERN},
    ),
]
"""A time in an event: `WIRE_TIME_PATTERN` on the wire, converted to UTC."""
EventTime = WireTime


class Family(StrEnum):
    """The four input families; each has its own Kafka topic."""

    USAGE = "usage"
    SUPPORT = "support"
    BILLING = "billing"
    SUCCESS = "success"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Fit(StrEnum):
    """The six fits of success potential (seed 004)."""

    TECHNICAL = "technical"
    FUNCTIONAL = "functional"
    RESOURCE = "resource"
    COMPETENCE = "competence"
    EXPERIENCE = "experience"
    CULTURAL = "cultural"


class Tier(StrEnum):
    """Importance tiers (seed 003)."""

    MUST_HAVE = "must_have"
    WANT_TO_HAVE = "want_to_have"
    NICE_TO_HAVE = "nice_to_have"


def _wire_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of an event says what the decoder requires: `type` (the model's
    default is for events built in Python; `schemas.decode` refuses a document without
    it)."""
    schema["properties"]["type"].pop("default", None)
    if "type" not in schema.get("required", []):
        schema["required"] = [*schema.get("required", []), "type"]


VERSION_PATTERN = rf"^0{{0,2}}{SCHEMA_MAJOR}\.[0-9]{{1,3}}(?![\s\S])"
"""`schema_version` as the decoder takes it: the supported major version (`schemas.decode`
refuses the others) and a minor of up to three digits."""


class EventBase(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=_wire_schema)

    event_id: Id
    account_id: AccountId
    ts: EventTime
    schema_version: Annotated[
        str,
        Field(pattern=r"^[0-9]{1,3}\.[0-9]{1,3}$", json_schema_extra={"pattern": VERSION_PATTERN}),
    ] = SCHEMA_VERSION


# --- usage -------------------------------------------------------------------


class FeatureUsed(EventBase):
    type: Literal["feature_used"] = "feature_used"
    user_id: Id
    feature: Name
    quantity: Annotated[float, Strict(), Field(ge=0, le=1e9, allow_inf_nan=False)] = 1.0


# --- support -----------------------------------------------------------------


class TicketOpened(EventBase):
    type: Literal["ticket_opened"] = "ticket_opened"
    ticket_id: Id
    priority: Priority = Priority.NORMAL


class TicketEscalated(EventBase):
    type: Literal["ticket_escalated"] = "ticket_escalated"
    ticket_id: Id
    priority: Priority | None = None


class TicketResolved(EventBase):
    type: Literal["ticket_resolved"] = "ticket_resolved"
    ticket_id: Id
    handling_minutes: Annotated[float, Strict(), Field(ge=0, le=1e6, allow_inf_nan=False)] = 0.0


class TicketReopened(EventBase):
    type: Literal["ticket_reopened"] = "ticket_reopened"
    ticket_id: Id


class CsatResponse(EventBase):
    type: Literal["csat_response"] = "csat_response"
    score: Annotated[int, Strict(), Field(ge=1, le=5), JsonInteger]


class NpsResponse(EventBase):
    type: Literal["nps_response"] = "nps_response"
    score: Annotated[int, Strict(), Field(ge=0, le=10), JsonInteger]
    user_id: Id | None = None


class FeedbackSubmitted(EventBase):
    type: Literal["feedback_submitted"] = "feedback_submitted"
    sentiment: Literal["positive", "neutral", "negative"] = "neutral"
    text: Text | None = None


# --- billing -----------------------------------------------------------------


class SubscriptionTerms(EventBase):
    """Fields shared by subscription_started and subscription_changed."""

    plan: Name
    mrr: Money
    seats: Annotated[int, Strict(), Field(ge=0, le=10_000_000), JsonInteger]
    term_end: WireTime | None = None
    segment: Name | None = None


class SubscriptionStarted(SubscriptionTerms):
    type: Literal["subscription_started"] = "subscription_started"


class SubscriptionChanged(SubscriptionTerms):
    type: Literal["subscription_changed"] = "subscription_changed"


class SubscriptionCancelled(EventBase):
    type: Literal["subscription_cancelled"] = "subscription_cancelled"
    reason: Annotated[str, Field(max_length=256)] | None = None


class InvoicePaid(EventBase):
    type: Literal["invoice_paid"] = "invoice_paid"
    invoice_id: Id
    amount: Money


class InvoiceFailed(EventBase):
    type: Literal["invoice_failed"] = "invoice_failed"
    invoice_id: Id
    amount: Money


class CreditIssued(EventBase):
    type: Literal["credit_issued"] = "credit_issued"
    amount: Money
    reason: Annotated[str, Field(max_length=256)] | None = None


class DiscountApplied(EventBase):
    """A recurring discount: `amount` off the MRR for `months` months."""

    type: Literal["discount_applied"] = "discount_applied"
    amount: Money
    months: Annotated[int, Strict(), Field(ge=1, le=120), JsonInteger] = 1


# --- success -----------------------------------------------------------------


class GoalDefined(EventBase):
    type: Literal["goal_defined"] = "goal_defined"
    goal_id: Id
    desired_outcome: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LEN)]


class MilestonePlanned(EventBase):
    type: Literal["milestone_planned"] = "milestone_planned"
    milestone_id: Id
    due: WireTime
    expansion: Flag = False
    title: Annotated[str, Field(max_length=256)] | None = None


class MilestoneCompleted(EventBase):
    type: Literal["milestone_completed"] = "milestone_completed"
    milestone_id: Id


class FitAssessed(EventBase):
    type: Literal["fit_assessed"] = "fit_assessed"
    fit: Fit
    holds: Flag
    note: Annotated[str, Field(max_length=512)] | None = None


class SponsorEngaged(EventBase):
    type: Literal["sponsor_engaged"] = "sponsor_engaged"
    sponsor: Name | None = None
    seniority: Literal["executive", "manager", "individual"] = "executive"


class MeetingHeld(EventBase):
    """A customer meeting; its duration counts as CSM time in cost to serve."""

    type: Literal["meeting_held"] = "meeting_held"
    kind: Literal["kickoff", "onboarding", "check_in", "qbr", "training", "escalation"] = "check_in"
    duration_minutes: Annotated[float, Strict(), Field(ge=0, le=24 * 60, allow_inf_nan=False)] = (
        30.0
    )


class ImportanceSet(EventBase):
    """An explicit importance tier; `tier: null` removes the override."""

    type: Literal["importance_set"] = "importance_set"
    tier: Tier | None


UsageEvent = FeatureUsed
SupportEvent = (
    TicketOpened
    | TicketEscalated
    | TicketResolved
    | TicketReopened
    | CsatResponse
    | NpsResponse
    | FeedbackSubmitted
)
BillingEvent = (
    SubscriptionStarted
    | SubscriptionChanged
    | SubscriptionCancelled
    | InvoicePaid
    | InvoiceFailed
    | CreditIssued
    | DiscountApplied
)
SuccessEvent = (
    GoalDefined
    | MilestonePlanned
    | MilestoneCompleted
    | FitAssessed
    | SponsorEngaged
    | MeetingHeld
    | ImportanceSet
)
Event = UsageEvent | SupportEvent | BillingEvent | SuccessEvent

EVENT_MODELS: dict[Family, tuple[type[EventBase], ...]] = {
    Family.USAGE: (FeatureUsed,),
    Family.SUPPORT: (
        TicketOpened,
        TicketEscalated,
        TicketResolved,
        TicketReopened,
        CsatResponse,
        NpsResponse,
        FeedbackSubmitted,
    ),
    Family.BILLING: (
        SubscriptionStarted,
        SubscriptionChanged,
        SubscriptionCancelled,
        InvoicePaid,
        InvoiceFailed,
        CreditIssued,
        DiscountApplied,
    ),
    Family.SUCCESS: (
        GoalDefined,
        MilestonePlanned,
        MilestoneCompleted,
        FitAssessed,
        SponsorEngaged,
        MeetingHeld,
        ImportanceSet,
    ),
}


def type_name(model: type[EventBase]) -> str:
    """The `type` string of an event model."""
    default = model.model_fields["type"].default
    assert isinstance(default, str)
    return default


MODEL_BY_TYPE: dict[str, type[EventBase]] = {
    type_name(m): m for models in EVENT_MODELS.values() for m in models
}
FAMILY_BY_TYPE: dict[str, Family] = {
    type_name(m): fam for fam, models in EVENT_MODELS.items() for m in models
}
