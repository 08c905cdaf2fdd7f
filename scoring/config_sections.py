"""The sections of the scoring config: one validated model per YAML mapping.

No defaults here on purpose: `default_config.yaml` is the one place default
values live. Cross-field rules (ordered thresholds, non-zero weights) are
checked where the fields are, so errors name the section.

Every number has a range that keeps the arithmetic finite and the state
bounded: a weight of 1e308 would overflow a sum into NaN, a lateness of
1e308 hours overflows `timedelta`, and a snapshot every 1e-9 days grows the
state without end. The ranges are wide (ten years of days, weights up to
1000) so that no sensible config is refused.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import Tier
from schemas.outputs import Severity
from scoring.names import CHURN_FEATURES, SIGNALS

MAX_DAYS = 3660.0
"""Ten years: the longest window, half-life, horizon or cool-down accepted."""

Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Signed = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1, le=100_000)]
Days = Annotated[float, Field(gt=0, le=MAX_DAYS, allow_inf_nan=False)]
HalfLife = Annotated[float, Field(ge=0.01, le=MAX_DAYS, allow_inf_nan=False)]
"""Days; below ~15 minutes a decayed counter is zero by the next event."""
Weight = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
"""A relative weight (weights are normalised by their sum)."""
Penalty = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
"""A penalty per unit on a 0..1 (or -1..1) scale."""
Rate = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
"""A positive norm or target (per user per day, per month ...)."""
Cost = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
"""Money per hour."""
Coefficient = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
"""Log-odds per unit of signal."""


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_weights(weights: dict[str, float], where: str) -> None:
    if sum(weights.values()) <= 0:
        raise ValueError(f"{where}: weights must not all be zero")


class Windows(Section):
    breadth_days: Days
    active_user_days: Days
    recent_milestone_days: Days
    strong_nps_days: Days
    commitment_days: Days


class HalfLives(Section):
    usage_short: HalfLife
    usage_long: HalfLife
    tickets_short: HalfLife
    tickets_baseline: HalfLife
    escalations: HalfLife
    reopenings: HalfLife
    nps: HalfLife
    csat: HalfLife
    feedback: HalfLife
    cost: HalfLife
    sponsor: HalfLife
    meetings: HalfLife


class Usage(Section):
    catalog_features: Count
    plan_features: dict[str, Count]
    depth_norm_per_user_per_day: Rate
    velocity_warmup_days: Annotated[int, Field(ge=1, le=3650)]
    user_registers: Annotated[int, Field(ge=8, le=4096)]
    max_features: Annotated[int, Field(ge=1, le=1024)]


class HappinessWeights(Section):
    nps: Weight
    csat: Weight
    support: Weight
    feedback: Weight


class PriorityWeights(Section):
    low: Weight
    normal: Weight
    high: Weight
    urgent: Weight


class Happiness(Section):
    weights: HappinessWeights
    ticket_priority_weights: PriorityWeights
    ticket_prior_per_month: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    escalation_penalty: Penalty
    reopening_penalty: Penalty
    open_ticket_penalty: Penalty
    open_ticket_cap: Annotated[int, Field(ge=0, le=1000)]
    band_thresholds: tuple[Signed, Signed, Signed, Signed]

    @model_validator(mode="after")
    def _ascending(self) -> Happiness:
        _check_weights(self.weights.model_dump(), "weights")
        if list(self.band_thresholds) != sorted(set(self.band_thresholds)):
            raise ValueError("band_thresholds must be strictly ascending")
        return self


class CompanyWeights(Section):
    margin: Weight
    payment: Weight


class Company(Section):
    weights: CompanyWeights
    support_cost_per_hour: Cost
    csm_cost_per_hour: Cost
    base_cost_share: Share
    failed_invoice_penalty: Penalty


class ClarityWeights(Section):
    goals: Weight
    milestones: Weight


class PriorityParts(Section):
    sponsor: Weight
    meetings: Weight
    onboarding: Weight
    velocity: Weight


class Seniority(Section):
    executive: Weight
    manager: Weight
    individual: Weight


class Success(Section):
    goal_target: Count
    milestone_target: Count
    clarity_weights: ClarityWeights
    overdue_penalty: Penalty
    ttfv_target_days: Days
    ttfv_weight: Share
    priority_weights: PriorityParts
    sponsor_seniority: Seniority
    sponsor_norm: Rate
    meetings_per_month_target: Rate


class Scorecard(Section):
    """Health weights of one segment; they need not sum to 1 (they are normalised)."""

    feature_breadth: Weight
    feature_depth: Weight
    velocity: Weight
    adoption: Weight
    milestone_completion: Weight
    customer_happiness: Weight
    company_happiness: Weight
    goal_clarity: Weight
    priority: Weight
    commitment: Weight

    @model_validator(mode="after")
    def _not_all_zero(self) -> Scorecard:
        _check_weights(self.model_dump(), "scorecard")
        return self

    @cached_property
    def weights(self) -> tuple[float, ...]:
        """The weights in `scoring.names.SIGNALS` order."""
        return tuple(float(getattr(self, s)) for s in SIGNALS)


class Health(Section):
    green_at: Annotated[float, Field(gt=0, le=100)]
    red_below: Annotated[float, Field(ge=0, lt=100)]
    hysteresis: Annotated[float, Field(ge=0, le=50)]
    history_days: Annotated[int, Field(ge=31, le=400)]
    max_drivers: Annotated[int, Field(ge=1, le=20)]

    @model_validator(mode="after")
    def _ordered(self) -> Health:
        if self.red_below >= self.green_at:
            raise ValueError(
                f"red_below ({self.red_below}) must be below green_at ({self.green_at})"
            )
        return self


class Readiness(Section):
    clarity_threshold: Share
    priority_threshold: Share
    hysteresis: Share
    observation_days: Days
    """Event time since the account's first event after which an axis without evidence
    (goals or milestones; a sponsor or meeting) is known low, not unknown."""


class SuccessQuadrantConfig(Section):
    customer_threshold: Signed
    company_threshold: Signed
    hysteresis: Share


Arr = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)]
"""Annual recurring revenue (12 x MRR), in the currency of the billing events."""


class Tiers(Section):
    """Seed 003: the tier from the value at stake, ARR x expansion potential."""

    must_have_arr: Arr
    want_to_have_arr: Arr
    hysteresis_ratio: Annotated[float, Field(ge=0, lt=1)]
    expansion_milestone_uplift: Penalty

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.want_to_have_arr >= self.must_have_arr:
            raise ValueError("want_to_have_arr must be below must_have_arr")
        return self


class Opportunities(Section):
    seat_utilization: Share
    advocacy_nps: Annotated[int, Field(ge=0, le=10)]


MAX_WAITING_SNAPSHOTS = 366


class PriorFeature(Section):
    """The prior belief about one churn feature, before any outcome is observed."""

    weight: Annotated[float, Field(ge=-10, le=10)]
    """Log-odds per unit of the (log-scaled) feature; the sign is the domain's direction."""
    typical: Annotated[float, Field(ge=-1e3, le=1e3)]
    """A typical value, the centre until centres are learned from data."""


class Churn(Section):
    horizon_days: Annotated[float, Field(ge=1, le=MAX_DAYS, allow_inf_nan=False)]
    snapshot_interval_days: Annotated[float, Field(ge=1, le=365)]
    prior_risk: Annotated[float, Field(gt=0, lt=1)]
    """P(cancel within horizon) of a typical account before anything is learned."""
    prior_strength: Annotated[float, Field(ge=0, le=1e6)]
    """Precision of the prior on each standardised coefficient, in examples' worth."""
    refit_every: Annotated[int, Field(ge=1, le=100_000)]
    """A refit (and a new model version) after this many new learnable examples."""
    min_per_class: Annotated[int, Field(ge=1, le=100_000)]
    """No refit before this many examples of each outcome."""
    buffer_examples: Annotated[int, Field(ge=10, le=200_000)]
    """The newest learnable examples a refit uses (bounded memory)."""
    max_step: Annotated[float, Field(gt=0, le=10)]
    """The most one refit may move any standardised coefficient (log-odds per sd)."""
    max_example_lag_days: Annotated[float, Field(gt=0, le=3650)]
    """Examples whose snapshot is older than the learner's clock minus horizon minus this
    are backdated and not learned from."""
    track_record_bins: Annotated[int, Field(ge=2, le=100)]
    track_record_versions: Annotated[int, Field(ge=1, le=1000)]
    prior: dict[str, PriorFeature]
    """Per churn feature (`scoring.names.CHURN_FEATURES`); a feature not named has
    weight 0 and typical 0 (the data decide)."""

    @model_validator(mode="after")
    def _interval_fits(self) -> Churn:
        if self.snapshot_interval_days > self.horizon_days:
            raise ValueError("snapshot_interval_days must not exceed horizon_days")
        if self.horizon_days / self.snapshot_interval_days > MAX_WAITING_SNAPSHOTS:
            raise ValueError(
                f"horizon_days / snapshot_interval_days must be at most {MAX_WAITING_SNAPSHOTS} "
                f"(the snapshots of an account waiting for their outcome)"
            )
        unknown = sorted(set(self.prior) - set(CHURN_FEATURES))
        if unknown:
            raise ValueError(f"churn.prior names unknown features: {unknown}")
        return self


class Limits(Section):
    recent_event_ids: Annotated[int, Field(ge=1, le=4096)]
    driver_event_ids: Annotated[int, Field(ge=0, le=16)]
    max_goals: Count
    max_milestones: Count
    max_invoices: Count
    max_discounts: Count
    pending_events: Annotated[int, Field(ge=1, le=4096)] = 128
    """Events waiting to be settled (`settle_hours`) per account; past it the oldest settle."""


Urgency = Literal["normal", "elevated", "high"]
"""How soon a team must act on an alert (`scoring.alerts.urgency`), lowest first."""
URGENCIES: tuple[Urgency, ...] = ("normal", "elevated", "high")

Ascending = tuple[float, float]


def _ascending(pair: tuple[float, float], where: str) -> None:
    if pair[0] > pair[1]:
        raise ValueError(f"{where}: the elevated threshold must not exceed the high one")


class AlertKind(Section):
    """One alert kind: its urgency floor, whether the account's risk raises it, cool-down, scope."""

    enabled: bool
    urgency: Urgency
    """The least urgency of an alert of this kind."""
    raised_by_risk: bool
    """The account's urgency (churn risk, speed of the health drop, ARR at risk) raises it."""
    cooldown_days: Annotated[float, Field(ge=0, le=MAX_DAYS, allow_inf_nan=False)]
    min_tier: Tier


class AlertKinds(Section):
    entered_work_to_keep: AlertKind
    churn_risk_high: AlertKind
    health_drop: AlertKind
    gone_quiet: AlertKind
    milestone_overdue: AlertKind
    payment_failed: AlertKind
    success_potential_lost: AlertKind
    expansion_opportunity: AlertKind
    advocacy_opportunity: AlertKind


class UrgencyThresholds(Section):
    """The account's urgency: elevated at the first value of a pair, high at the second."""

    churn_risk: tuple[Share, Share]
    health_drop_points: tuple[
        Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)],
        Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)],
    ]
    """Health points below the peak of the last `health_drop_days` days: the speed of the drop."""
    arr_at_risk: tuple[
        Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)],
        Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)],
    ]
    """Churn risk x value at stake (`tiers`): the annual revenue expected to be lost."""

    @model_validator(mode="after")
    def _ordered(self) -> UrgencyThresholds:
        _ascending(self.churn_risk, "churn_risk")
        _ascending(self.health_drop_points, "health_drop_points")
        _ascending(self.arr_at_risk, "arr_at_risk")
        return self


SeverityRow = tuple[Severity, Severity, Severity]
"""The severity of an alert at normal, elevated and high urgency."""


class SeverityMatrix(Section):
    """Severity = tier x urgency: one row per importance tier."""

    must_have: SeverityRow
    want_to_have: SeverityRow
    nice_to_have: SeverityRow


class Alerts(Section):
    churn_risk_threshold: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    churn_risk_hysteresis: Share
    health_drop_points: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
    health_drop_days: Annotated[int, Field(ge=1, le=30)]
    health_drop_hysteresis: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    health_drop_min_coverage: Share
    urgency: UrgencyThresholds
    severity: SeverityMatrix
    max_tracked: Annotated[int, Field(ge=1, le=256)]
    kinds: AlertKinds

    @model_validator(mode="after")
    def _bands_fit(self) -> Alerts:
        if self.health_drop_hysteresis >= self.health_drop_points:
            raise ValueError("health_drop_hysteresis must be below health_drop_points")
        if self.churn_risk_hysteresis >= self.churn_risk_threshold:
            raise ValueError("churn_risk_hysteresis must be below churn_risk_threshold")
        return self


class GoneQuiet(Section):
    """The `gone_quiet` alert (`scoring.alerts`): see docs/scoring.md, "The clock"."""

    days: Annotated[int, Field(ge=1, le=366)]
    """Full days of event time without product usage before the account has gone quiet."""
    baseline_days: Annotated[int, Field(ge=0, le=3660)]
    """Days the account was observed before its last usage: a habit to fall from."""
    min_baseline_per_day: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
    """Usage quantity per day (long half-life rate at the last active day) below which the
    account had no habit to fall from."""


class Emit(Section):
    """When a score is published (StepResult.emit): see docs/scoring.md, "Emission"."""

    health_change: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    churn_risk_change: Share
    heartbeat_hours: Annotated[float, Field(ge=1 / 60, le=24 * MAX_DAYS, allow_inf_nan=False)]


class Ingest(Section):
    """Time sanity at ingest (`streams.pipeline`): see docs/operations.md, "Trust boundary"."""

    max_future_skew_hours: Annotated[float, Field(ge=0, le=24 * 366, allow_inf_nan=False)]
    """An event more than this ahead of its Kafka record's timestamp is `from_future`."""
    new_account_max_age_days: (
        Annotated[float, Field(gt=0, le=10 * MAX_DAYS, allow_inf_nan=False)] | None
    )
    """An event of an account without state older than its record's timestamp minus this is
    `backdated`; None (the default) lets a new account start at any time: backfills."""
