"""The parts of an AccountState (`scoring.state`): its clock, the four facts families, the
evidence and the memory, and which family owns each decayed counter.

Facts are merged from events with order-independent operations only (`scoring.reducers`);
the memory records what was published. Every part is immutable and bounded by the config
`limits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from scoring.decay import Series
from scoring.names import CHURN_MIX_SERIES

SERIES_FAMILY: dict[str, str] = {
    "usage": "usage",
    **{name: "usage" for name in CHURN_MIX_SERIES},
    "tickets": "support",
    "escalations": "support",
    "reopenings": "support",
    "nps_promoters": "support",
    "nps_detractors": "support",
    "nps_responses": "support",
    "csat_sum": "support",
    "csat_count": "support",
    "feedback_sum": "support",
    "feedback_count": "support",
    "handling_minutes": "billing",
    "meeting_minutes": "billing",
    "credits": "billing",
    "sponsor": "success",
    "meetings": "success",
}
"""The facts family owning each decayed counter: the family whose signal reads it
(cost to serve lives with billing, as company happiness reads it)."""

EVENT_FAMILIES = ("usage", "support", "billing", "success")
"""The input event families, in the order of `Clock.family_max`."""

SERIES_SOURCE: dict[str, str] = {
    **{name: family for name, family in SERIES_FAMILY.items()},
    "handling_minutes": "support",
    "meeting_minutes": "success",
    "credits": "billing",
}
"""The event family feeding each decayed counter: its days are sealed against that
family's watermark, so no interleaving of the families changes a counter."""


Evidence = Mapping[str, tuple[tuple[int, str], ...]]
"""Source -> its newest (ts second, event id) pairs, ascending: freshness and driver event ids."""


class Terms(NamedTuple):
    """Subscription terms, last writer wins (subscription_started / _changed)."""

    ts: float
    stamp: int
    plan: str
    mrr: float
    seats: int
    term_end: float | None


class Status(NamedTuple):
    """Subscription status, last writer wins (started / changed / cancelled)."""

    ts: float
    stamp: int
    active: bool


class Stamped(NamedTuple):
    """A last-writer-wins value: segment, fit verdict, importance override, last NPS."""

    ts: float
    stamp: int
    value: str | bool | int | None


class Planned(NamedTuple):
    ts: float
    stamp: int
    due: float
    expansion: bool


class Money(NamedTuple):
    """A failed invoice (months = 0) or a recurring discount."""

    ts: float
    stamp: int
    amount: float
    months: int


class Ticket(NamedTuple):
    """A ticket's status, last writer wins by ts (a resolution wins a tie): open (opened /
    reopened) or resolved. No id-hash stamp: ties need no more than the status to break."""

    ts: float
    open: bool


class Snapshot(NamedTuple):
    """Churn features and prediction at one moment, waiting for its outcome."""

    ts: float
    features: tuple[float, ...]
    predicted: float
    model_version: str


@dataclass(frozen=True, slots=True)
class Clock:
    max_ts: float | None = None
    """The account's watermark, the time it is evaluated at: the newest event time seen,
    or the newest tick (`scoring.tick`) when that is later."""
    first_ts: float | None = None
    events_applied: int = 0
    recent_ids: bytes = b""
    """(ts second, id key, content fingerprint) of the most recent events, ascending, packed
    12 bytes each (`scoring.bounded.id_record`): exactly-once memory, keyed on the id."""
    family_max: tuple[float | None, ...] = (None, None, None, None)
    """The newest event time seen per event family (`EVENT_FAMILIES` order). Kafka orders
    events only within a partition, and each family has its own topic, so lateness and
    the sealing of decayed counters are measured against the event's own family."""


@dataclass(frozen=True, slots=True)
class UsageFacts:
    features: Mapping[str, int] = field(default_factory=dict)
    """Feature key -> last day used (the most recently used `max_features`)."""
    users: Mapping[int, int] = field(default_factory=dict)
    """Sketch register -> last day any user hashed there was seen."""
    series: Mapping[str, Series] = field(default_factory=dict)
    """This family's decayed counters by name (`SERIES_FAMILY`); absent = empty."""
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Derived values cached by `scoring.memo` (never serialized, not part of equality)."""


@dataclass(frozen=True, slots=True)
class SupportFacts:
    opened: int = 0
    """ticket_opened events (as resolved and reopened: events, not tickets)."""
    resolved: int = 0
    reopened: int = 0
    last_nps: Stamped | None = None
    tickets: Mapping[str, Ticket] = field(default_factory=dict)
    """Ticket key (`scoring.reducers.support.ticket_key`) -> status: the open tickets (at most
    `MAX_OPEN_TICKETS`, the oldest goes first) and those resolved within the allowed lateness."""
    series: Mapping[str, Series] = field(default_factory=dict)
    """This family's decayed counters by name (`SERIES_FAMILY`); absent = empty."""
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Derived values cached by `scoring.memo` (never serialized, not part of equality)."""


@dataclass(frozen=True, slots=True)
class BillingFacts:
    terms: Terms | None = None
    status: Status | None = None
    segment: Stamped | None = None
    started_ts: float | None = None
    failed: Mapping[str, Money] = field(default_factory=dict)
    """Outstanding invoices: id -> latest failure, newer than any payment of it."""
    paid: Mapping[str, float] = field(default_factory=dict)
    """Settled invoices: id -> latest paid ts, kept while a failure older than the payment
    may still arrive (`scoring.reducers.billing`). An id is in `failed` or `paid`, not both."""
    invoices_seen: int = 0
    discounts: Mapping[str, Money] = field(default_factory=dict)
    series: Mapping[str, Series] = field(default_factory=dict)
    """This family's decayed counters by name (`SERIES_FAMILY`); absent = empty."""
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Derived values cached by `scoring.memo` (never serialized, not part of equality)."""

    @property
    def cancelled(self) -> bool:
        return self.status is not None and not self.status.active


@dataclass(frozen=True, slots=True)
class SuccessFacts:
    goals: Mapping[str, float] = field(default_factory=dict)
    planned: Mapping[str, Planned] = field(default_factory=dict)
    completed: Mapping[str, float] = field(default_factory=dict)
    """Milestone id -> latest completion, when not older than its latest plan. Planned and
    completed milestones together are at most `limits.max_milestones`, forgotten whole
    (`scoring.reducers.success`)."""
    first_value_ts: float | None = None
    """Earliest milestone completion: the end of time to first value."""
    fits: Mapping[str, Stamped] = field(default_factory=dict)
    importance: Stamped | None = None
    series: Mapping[str, Series] = field(default_factory=dict)
    """This family's decayed counters by name (`SERIES_FAMILY`); absent = empty."""
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Derived values cached by `scoring.memo` (never serialized, not part of equality)."""


class Memory(NamedTuple):
    """What was published: the path of the account (see the module docstring). A NamedTuple
    rather than a dataclass: one is built per event, and a tuple builds five times faster."""

    readiness: str | None = None
    success: str | None = None
    band: str | None = None
    tier: str | None = None
    potential: bool | None = None
    health_start: int = 0
    """Day of `health_points[0]`."""
    health_points: tuple[float | None, ...] = ()
    """Latest health of each day (None: no event that day)."""
    snapshots: tuple[Snapshot, ...] = ()
    last_snapshot_ts: float | None = None
    happiness: str | None = None
    """The last happiness band (a change makes the score worth emitting)."""
    conditions: tuple[str, ...] = ()
    """The alert conditions holding at the last event (`scoring.alerts`): an alert is
    the rising edge of one."""
    fired: tuple[tuple[str, float], ...] = ()
    """(condition key, event time) of the alerts fired within their cool-down, by key."""
    emitted: tuple[float, float, float] | None = None
    """(event time, health, churn risk) of the last emitted score (`scoring.emission`)."""
    covered_since: int | None = None
    """The first day the score's coverage reached `alerts.health_drop_min_coverage`: daily
    health points before it are no reference for a health drop."""
    emitted_effects: tuple[float, ...] = ()
    """Each signal's health effect (SIGNALS order, points vs the neutral 50, 0 when unknown)
    in the last emitted score: the base of the drivers of change (`scoring.outputs`)."""

    def with_outputs(
        self,
        conditions: tuple[str, ...],
        fired: tuple[tuple[str, float], ...],
        emitted: tuple[float, float, float] | None,
    ) -> Memory:
        """This memory with the alert conditions, cool-downs and last emitted score replaced."""
        return self._replace(conditions=conditions, fired=fired, emitted=emitted)


NO_MEMORY = Memory()
