"""The scoring config: one frozen, validated object holding every tunable.

The models have no defaults on purpose: the packaged `default_config.yaml`
is the single place where default values live (see `scoring.config_load`);
the sections are in `scoring.config_sections`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Annotated

from pydantic import Field, model_validator

from scoring.config_sections import (
    MAX_DAYS,
    Alerts,
    Churn,
    Company,
    Emit,
    GoneQuiet,
    HalfLives,
    Happiness,
    Health,
    Ingest,
    Limits,
    Opportunities,
    Readiness,
    Scorecard,
    Section,
    Success,
    SuccessQuadrantConfig,
    Tiers,
    Usage,
    Windows,
)
from scoring.names import CHURN_MIX_SERIES

SERIES_HALF_LIVES: dict[str, tuple[str, ...]] = {
    "usage": ("usage_short", "usage_long"),
    **{name: ("usage_long",) for name in CHURN_MIX_SERIES},
    "tickets": ("tickets_short", "tickets_baseline"),
    "escalations": ("escalations",),
    "reopenings": ("reopenings",),
    "handling_minutes": ("cost",),
    "meeting_minutes": ("cost",),
    "credits": ("cost",),
    "meetings": ("meetings",),
    "sponsor": ("sponsor",),
    "nps_promoters": ("nps",),
    "nps_detractors": ("nps",),
    "nps_responses": ("nps",),
    "csat_sum": ("csat",),
    "csat_count": ("csat",),
    "feedback_sum": ("feedback",),
    "feedback_count": ("feedback",),
}
"""Each decayed counter of AccountState and the `half_lives_days` entries it is read at."""


class ScoringConfig(Section):
    """Every tunable of the model; `version` is stamped on every output."""

    version: Annotated[str, Field(min_length=1, max_length=64)]
    default_segment: Annotated[str, Field(min_length=1)]
    allowed_lateness_hours: Annotated[float, Field(ge=0, le=24 * MAX_DAYS, allow_inf_nan=False)]
    settle_hours: Annotated[float, Field(ge=0, le=24 * MAX_DAYS, allow_inf_nan=False)] = 0.0
    """How far behind the account's newest event time the classes, transitions and alerts
    are decided (`scoring.engine`, docs/scoring.md "Order independence"); 0: at arrival."""
    shadow_scorecard: str | None
    windows: Windows
    half_lives_days: HalfLives
    usage: Usage
    happiness: Happiness
    company: Company
    success: Success
    scorecards: dict[str, Scorecard]
    health: Health
    readiness: Readiness
    success_quadrant: SuccessQuadrantConfig
    tiers: Tiers
    opportunities: Opportunities
    churn: Churn
    alerts: Alerts
    gone_quiet: GoneQuiet
    emit: Emit
    limits: Limits
    ingest: Ingest

    @model_validator(mode="after")
    def _scorecards_known(self) -> ScoringConfig:
        if "default" not in self.scorecards:
            raise ValueError("scorecards must define a `default` scorecard")
        if self.shadow_scorecard is not None and self.shadow_scorecard not in self.scorecards:
            raise ValueError(f"shadow_scorecard {self.shadow_scorecard!r} is not in scorecards")
        return self

    @property
    def allowed_lateness(self) -> timedelta:
        return timedelta(hours=self.allowed_lateness_hours)

    @cached_property
    def lateness_seconds(self) -> float:
        return self.allowed_lateness_hours * 3600.0

    @cached_property
    def settle_seconds(self) -> float:
        return self.settle_hours * 3600.0

    def scorecard_for(self, segment: str) -> Scorecard:
        """The scorecard of a segment; segments without their own use `default`."""
        return self.scorecards.get(segment) or self.scorecards["default"]

    @cached_property
    def series_half_lives(self) -> dict[str, tuple[float, ...]]:
        """Half-lives (days) of every decayed counter, in `SERIES_HALF_LIVES` order."""
        hl = self.half_lives_days
        return {
            name: tuple(float(getattr(hl, key)) for key in keys)
            for name, keys in SERIES_HALF_LIVES.items()
        }

    @cached_property
    def heartbeat_seconds(self) -> float:
        return self.emit.heartbeat_hours * 3600.0
