"""The sections of the scoring config: one validated model per YAML mapping.

No defaults here on purpose: `default_config.yaml` is the one place default
values live. Cross-field rules (ordered thresholds, non-zero weights) are
checked where the fields are, so errors name the section.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import Tier
from schemas.outputs import Severity
from scoring.names import SIGNALS

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Signed = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1, le=100_000)]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_weights(weights: dict[str, float], where: str) -> None:
    if sum(weights.values()) <= 0:
        raise ValueError(f"{where}: weights must not all be zero")


class Windows(Section):
    breadth_days: Positive
    active_user_days: Positive
    recent_milestone_days: Positive
    strong_nps_days: Positive
    commitment_days: Positive


class HalfLives(Section):
    usage_short: Positive
    usage_long: Positive
    tickets_short: Positive
    tickets_baseline: Positive
    escalations: Positive
    reopenings: Positive
    nps: Positive
    csat: Positive
    feedback: Positive
    cost: Positive
    sponsor: Positive
    meetings: Positive


class Usage(Section):
    catalog_features: Count
    plan_features: dict[str, Count]
    depth_norm_per_user_per_day: Positive
    velocity_warmup_days: Annotated[int, Field(ge=1, le=3650)]
    user_registers: Annotated[int, Field(ge=8, le=4096)]
    max_features: Annotated[int, Field(ge=1, le=1024)]


class HappinessWeights(Section):
    nps: NonNegative
    csat: NonNegative
    support: NonNegative
    feedback: NonNegative


class PriorityWeights(Section):
    low: NonNegative
    normal: NonNegative
    high: NonNegative
    urgent: NonNegative


class Happiness(Section):
    weights: HappinessWeights
    ticket_priority_weights: PriorityWeights
    ticket_prior_per_month: NonNegative
    escalation_penalty: NonNegative
    reopening_penalty: NonNegative
    open_ticket_penalty: NonNegative
    open_ticket_cap: Annotated[int, Field(ge=0, le=1000)]
    band_thresholds: tuple[Signed, Signed, Signed, Signed]

    @model_validator(mode="after")
    def _ascending(self) -> Happiness:
        _check_weights(self.weights.model_dump(), "weights")
        if list(self.band_thresholds) != sorted(set(self.band_thresholds)):
            raise ValueError("band_thresholds must be strictly ascending")
        return self


class CompanyWeights(Section):
    margin: NonNegative
    payment: NonNegative


class Company(Section):
    weights: CompanyWeights
    support_cost_per_hour: NonNegative
    csm_cost_per_hour: NonNegative
    base_cost_share: Share
    failed_invoice_penalty: NonNegative


class ClarityWeights(Section):
    goals: NonNegative
    milestones: NonNegative


class PriorityParts(Section):
    sponsor: NonNegative
    meetings: NonNegative
    onboarding: NonNegative
    velocity: NonNegative


class Seniority(Section):
    executive: NonNegative
    manager: NonNegative
    individual: NonNegative


class Success(Section):
    goal_target: Count
    milestone_target: Count
    clarity_weights: ClarityWeights
    overdue_penalty: NonNegative
    ttfv_target_days: Positive
    ttfv_weight: Share
    priority_weights: PriorityParts
    sponsor_seniority: Seniority
    sponsor_norm: Positive
    meetings_per_month_target: Positive


class Scorecard(Section):
    """Health weights of one segment; they need not sum to 1 (they are normalised)."""

    feature_breadth: NonNegative
    feature_depth: NonNegative
    velocity: NonNegative
    adoption: NonNegative
    milestone_completion: NonNegative
    customer_happiness: NonNegative
    company_happiness: NonNegative
    goal_clarity: NonNegative
    priority: NonNegative
    commitment: NonNegative

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


class SuccessQuadrantConfig(Section):
    customer_threshold: Signed
    company_threshold: Signed
    hysteresis: Share


class Tiers(Section):
    must_have_ltv: Positive
    want_to_have_ltv: Positive
    hysteresis_ratio: Annotated[float, Field(ge=0, lt=1)]
    max_lifetime_months: Positive
    seat_uplift: NonNegative
    expansion_milestone_uplift: NonNegative

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.want_to_have_ltv >= self.must_have_ltv:
            raise ValueError("want_to_have_ltv must be below must_have_ltv")
        return self


class Opportunities(Section):
    seat_utilization: Share
    advocacy_nps: Annotated[int, Field(ge=0, le=10)]


class Coefficients(Section):
    intercept: Finite
    feature_breadth: Finite
    feature_depth: Finite
    velocity: Finite
    adoption: Finite
    milestone_completion: Finite
    customer_happiness: Finite
    company_happiness: Finite
    goal_clarity: Finite
    priority: Finite


class Churn(Section):
    horizon_days: Positive
    snapshot_interval_days: Positive
    learning_rate: Annotated[float, Field(gt=0, le=10)]
    l2: Annotated[float, Field(ge=0, le=1)]
    version_every: Count
    track_record_bins: Annotated[int, Field(ge=2, le=100)]
    track_record_versions: Annotated[int, Field(ge=1, le=1000)]
    coefficients: Coefficients

    @model_validator(mode="after")
    def _interval_fits(self) -> Churn:
        if self.snapshot_interval_days > self.horizon_days:
            raise ValueError("snapshot_interval_days must not exceed horizon_days")
        return self


class Limits(Section):
    recent_event_ids: Annotated[int, Field(ge=1, le=4096)]
    driver_event_ids: Annotated[int, Field(ge=0, le=16)]
    max_goals: Count
    max_milestones: Count
    max_invoices: Count
    max_discounts: Count


class AlertKind(Section):
    """One alert kind: its base severity (for a must-have account), cool-down and scope."""

    enabled: bool
    severity: Severity
    cooldown_days: NonNegative
    min_tier: Tier


class AlertKinds(Section):
    entered_work_to_keep: AlertKind
    churn_risk_high: AlertKind
    health_drop: AlertKind
    milestone_overdue: AlertKind
    payment_failed: AlertKind
    success_potential_lost: AlertKind
    expansion_opportunity: AlertKind
    advocacy_opportunity: AlertKind


class TierSteps(Section):
    """Severity levels below the kind's base severity, per importance tier."""

    must_have: Annotated[int, Field(ge=0, le=3)]
    want_to_have: Annotated[int, Field(ge=0, le=3)]
    nice_to_have: Annotated[int, Field(ge=0, le=3)]


class Alerts(Section):
    churn_risk_threshold: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    churn_risk_hysteresis: Share
    health_drop_points: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
    health_drop_days: Annotated[int, Field(ge=1, le=30)]
    health_drop_hysteresis: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    health_drop_min_coverage: Share
    tier_steps: TierSteps
    max_tracked: Annotated[int, Field(ge=1, le=256)]
    kinds: AlertKinds

    @model_validator(mode="after")
    def _bands_fit(self) -> Alerts:
        if self.health_drop_hysteresis >= self.health_drop_points:
            raise ValueError("health_drop_hysteresis must be below health_drop_points")
        if self.churn_risk_hysteresis >= self.churn_risk_threshold:
            raise ValueError("churn_risk_hysteresis must be below churn_risk_threshold")
        return self


class Emit(Section):
    """When a score is published (StepResult.emit): see docs/scoring.md, "Emission"."""

    health_change: NonNegative
    churn_risk_change: Share
    heartbeat_hours: Positive
