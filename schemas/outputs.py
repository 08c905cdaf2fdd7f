"""Output models: what healthscore publishes to Kafka and writes to ClickHouse.

Each model is the wire format of one output topic and the row shape of one
ClickHouse table (see `streams/clickhouse/migrations`). Field names are the
column names.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import DeadLetterReason
from schemas.events import SCHEMA_VERSION, Tier, UtcTime

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Signed = Annotated[float, Field(ge=-1.0, le=1.0)]


class Band(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class ReadinessQuadrant(StrEnum):
    """Seed 000: goal clarity (x) by priority (y)."""

    ACHIEVER = "achiever"
    SOLDIER = "soldier"
    DREAMER = "dreamer"
    WANDERER = "wanderer"


class SuccessQuadrant(StrEnum):
    """Seed 002: customer happiness (x) by company happiness (y)."""

    CUSTOMER_SUCCESS = "customer_success"
    FLIGHT_RISK = "work_to_keep:flight_risk"
    UNPROFITABLE = "work_to_keep:unprofitable"
    REASSESS = "reassess"


class HappinessBand(StrEnum):
    WALKAWAY_ANGRY = "walkaway_angry"
    UNHAPPY = "unhappy"
    NEUTRAL = "neutral"
    SATISFIED = "satisfied"
    GUSHING_PROMOTER = "gushing_promoter"


class Engagement(StrEnum):
    """Seed 003: how the team engages an account of each tier."""

    ONE_TO_ONE = "one_to_one"
    ONE_TO_SOME = "one_to_some"
    ONE_TO_MANY = "one_to_many"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class OutputModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Driver(OutputModel):
    """One contribution to a score: why it is where it is."""

    signal: str
    value: float | None
    weight: float
    effect: float = Field(description="points of health (or log-odds of churn) it contributes")
    event_ids: tuple[str, ...] = ()


class ScoreRecord(OutputModel):
    """The health of one account after one (batch of) event(s); topic `scores`."""

    account_id: str
    ts: UtcTime = Field(description="event time of the latest event applied")
    event_id: str = Field(description="the latest event applied")
    health: Annotated[float, Field(ge=0.0, le=100.0)]
    band: Band
    trend_7d: float | None = None
    trend_30d: float | None = None
    coverage: Unit = Field(description="share of the scorecard's weight resting on known signals")
    freshness_days: float | None = Field(
        default=None, description="age in days of the newest data behind the score"
    )
    signals: dict[str, float | None]
    readiness_quadrant: ReadinessQuadrant | None = None
    success_quadrant: SuccessQuadrant | None = None
    happiness_band: HappinessBand | None = None
    churn_risk: Unit | None = None
    churn_drivers: tuple[Driver, ...] = ()
    tier: Tier
    engagement: Engagement
    success_potential: bool | None = None
    fits: dict[str, bool | None] = Field(default_factory=dict)
    opportunities: tuple[str, ...] = ()
    drivers: tuple[Driver, ...] = Field(
        default=(),
        description="level drivers: the largest contributions to health against the neutral 50",
    )
    change_drivers: tuple[Driver, ...] = Field(
        default=(),
        description="drivers of change: each signal that moved health since the previous "
        "published score, `effect` the points it moved, `event_ids` the events of that "
        "signal's own evidence newer than that score; they add up to `health_change`",
    )
    health_change: float | None = Field(
        default=None,
        description="health minus that of the previous published score (None: the first)",
    )
    segment: str = "default"
    mrr: float = 0.0
    cancelled: bool = False
    events_applied: int = 0
    config_version: str
    model_version: str = ""
    schema_version: str = SCHEMA_VERSION


TransitionKind = Literal[
    "readiness_quadrant", "success_quadrant", "health_band", "tier", "success_potential"
]


class Transition(OutputModel):
    """An account moved from one class to another; topic `transitions`."""

    account_id: str
    ts: UtcTime
    kind: TransitionKind
    from_value: str | None
    to_value: str | None
    event_id: str
    drivers: tuple[Driver, ...] = ()
    config_version: str
    schema_version: str = SCHEMA_VERSION


class Alert(OutputModel):
    """Something a customer success manager should act on; topic `alerts`."""

    alert_id: str
    account_id: str
    ts: UtcTime
    kind: str
    severity: Severity
    dedupe_key: str
    message: str
    tier: Tier
    engagement: Engagement
    event_id: str
    drivers: tuple[Driver, ...] = ()
    config_version: str
    schema_version: str = SCHEMA_VERSION


class DeadLetter(OutputModel):
    """A message that was not accepted, with why; topic `dead-letters`."""

    received_at: datetime
    source_topic: str
    partition: int
    offset: int
    key: str | None
    reason: DeadLetterReason
    field: str | None = None
    detail: str
    payload: str = Field(description="the raw payload, cut to a bounded size")
    payload_bytes: int
    event_id: str | None = None
    account_id: str | None = None
    schema_version: str = SCHEMA_VERSION
