"""Input event models: the four families of the domain, version 1.

Every event shares the envelope (`event_id`, `account_id`, `ts`, `type`,
`schema_version`) and adds the fields of its type. Models are frozen;
unknown extra fields are ignored so that a producer on a newer minor
version of the schema is still accepted (see `schemas.decode`).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

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

_FORBIDDEN_BMP = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2"
    r"\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ue000-\uf8ff\ufeff\ufff9-\ufffb"
)
ACCOUNT_ID_PATTERN = (
    rf"^[^\s{_FORBIDDEN_BMP}](?:[^{_FORBIDDEN_BMP}]*[^\s{_FORBIDDEN_BMP}])?(?![\s\S])"
)
"""The account id rule as a JSON Schema pattern, in the syntax common to ECMA-262 and
Python's `re`: the characters of `ACCOUNT_ID_FORBIDDEN` in the Basic Multilingual Plane, as
ranges, and no whitespace first or last; it ends in `(?![\s\S])`, not `$`, which in
Python also matches before a final newline. Surrogates are left out (a JavaScript validator
without the `u` flag sees every character beyond the BMP as two of them), and so are
unassigned code points and the few format and private-use characters beyond the BMP: the
decoder refuses those too, and is authoritative (a test checks that both agree on every
other BMP character)."""


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


def _check_account_id(value: str) -> str:
    """Refuse ids that look like another account's: see `ACCOUNT_ID_FORBIDDEN`."""
    if value.isascii():
        if not value.isprintable():
            bad = next(c for c in value if not c.isprintable())
            raise ValueError(f"must not contain control characters (found U+{ord(bad):04X})")
    else:
        for c in value:
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
Money = Annotated[float, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
UtcTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
EventTime = Annotated[
    AwareDatetime,
    AfterValidator(_event_time),
    Field(description="UTC (or with an offset), from 1970-01-01 up to 2100-01-01"),
]


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


class EventBase(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: Id
    account_id: AccountId
    ts: EventTime
    schema_version: Annotated[str, Field(pattern=r"^[0-9]{1,3}\.[0-9]{1,3}$")] = SCHEMA_VERSION


# --- usage -------------------------------------------------------------------


class FeatureUsed(EventBase):
    type: Literal["feature_used"] = "feature_used"
    user_id: Id
    feature: Name
    quantity: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = 1.0


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
    handling_minutes: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] = 0.0


class TicketReopened(EventBase):
    type: Literal["ticket_reopened"] = "ticket_reopened"
    ticket_id: Id


class CsatResponse(EventBase):
    type: Literal["csat_response"] = "csat_response"
    score: Annotated[int, Field(ge=1, le=5)]


class NpsResponse(EventBase):
    type: Literal["nps_response"] = "nps_response"
    score: Annotated[int, Field(ge=0, le=10)]
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
    seats: Annotated[int, Field(ge=0, le=10_000_000)]
    term_end: UtcTime | None = None
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
    months: Annotated[int, Field(ge=1, le=120)] = 1


# --- success -----------------------------------------------------------------


class GoalDefined(EventBase):
    type: Literal["goal_defined"] = "goal_defined"
    goal_id: Id
    desired_outcome: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LEN)]


class MilestonePlanned(EventBase):
    type: Literal["milestone_planned"] = "milestone_planned"
    milestone_id: Id
    due: UtcTime
    expansion: bool = False
    title: Annotated[str, Field(max_length=256)] | None = None


class MilestoneCompleted(EventBase):
    type: Literal["milestone_completed"] = "milestone_completed"
    milestone_id: Id


class FitAssessed(EventBase):
    type: Literal["fit_assessed"] = "fit_assessed"
    fit: Fit
    holds: bool
    note: Annotated[str, Field(max_length=512)] | None = None


class SponsorEngaged(EventBase):
    type: Literal["sponsor_engaged"] = "sponsor_engaged"
    sponsor: Name | None = None
    seniority: Literal["executive", "manager", "individual"] = "executive"


class MeetingHeld(EventBase):
    """A customer meeting; its duration counts as CSM time in cost to serve."""

    type: Literal["meeting_held"] = "meeting_held"
    kind: Literal["kickoff", "onboarding", "check_in", "qbr", "training", "escalation"] = "check_in"
    duration_minutes: Annotated[float, Field(ge=0, le=24 * 60, allow_inf_nan=False)] = 30.0


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
